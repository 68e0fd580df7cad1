//! The gateway's reading of a request target: its query rules, the api-version check, and
//! names and paths unescaped once, as the runtime's gateway does.

use uuid::Uuid;

use crate::fabric_error::{Code, FabricError};

/// The gateway's query parser: split on `&` then `=`, only pairs with exactly one `=`, empty
/// values absent, first of a repeated name wins, names case-sensitive, values not decoded.
pub(crate) struct Query<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Query<'a> {
    pub fn parse(query: &'a str) -> Self {
        Self(
            query
                .split('&')
                .filter_map(|pair| {
                    let mut parts = pair.split('=');
                    let (name, value) = (parts.next()?, parts.next()?);
                    (parts.next().is_none() && !value.is_empty()).then_some((name, value))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

pub(crate) fn check_api_version(query: &Query<'_>, runtime: (u32, u32)) -> Result<(), FabricError> {
    let value = query
        .get("api-version")
        .ok_or_else(FabricError::invalid_arg)?;
    let (major, minor) = value.split_once('.').ok_or_else(FabricError::invalid_arg)?;
    let parse = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .ok_or_else(FabricError::invalid_arg)
    };
    if (parse(major)?, parse(minor)?) > runtime {
        return Err(FabricError::invalid_arg());
    }
    Ok(())
}

pub(crate) fn session_id(query: &Query<'_>) -> Result<Uuid, FabricError> {
    query
        .get("session-id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| FabricError::of(Code::InvalidUploadSessionId))
}

pub(crate) fn decode_once(raw: &str) -> Result<String, FabricError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| FabricError::invalid_arg())
}

/// `nameId` as the gateway reads it: unescaped once, `~` read as `/`, `fabric:/` prefixed.
pub(crate) fn full_name(key: &str) -> Result<String, FabricError> {
    Ok(format!("fabric:/{}", decode_once(key)?.replace('~', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rules() {
        let q = Query::parse("a=1&a=2&b=x=y&c=&d&E=5");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get("b"), None);
        assert_eq!(q.get("c"), None);
        assert_eq!(q.get("d"), None);
        assert_eq!(q.get("e"), None);
        assert_eq!(q.get("E"), Some("5"));
    }

    #[test]
    fn api_versions() {
        let ok =
            |v: &str| check_api_version(&Query::parse(&format!("api-version={v}")), (9, 1)).is_ok();
        assert!(ok("6.0") && ok("9.1") && ok("1.0"));
        assert!(!ok("9.2") && !ok("10.0") && !ok("6") && !ok("six") && !ok("6.0a"));
        assert!(check_api_version(&Query::parse(""), (9, 1)).is_err());
    }
}
