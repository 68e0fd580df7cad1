//! How parameters become bytes of the request target, as the official clients send them.
//!
//! The generated client calls the two path encoders here (build.rs routes each path parameter
//! to one of them); the request hook calls `rewrite_query`. The input checks refuse what the
//! gateway would misread before anything is sent.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

use crate::Error;

/// Everything but RFC 3986 unreserved characters: Python's `quote(value, safe='')`, which the
/// official SDK applies to `contentPath`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// For `x-ms-skip-url-encoding` path parameters (`nameId`): what the official SDK leaves raw
/// (`/` and the sub-delimiters), while `%`, `#`, `?`, `\`, space and non-ASCII are escaped so
/// that the gateway's single unescape gives the name back.
const KEEP_SLASH: &AsciiSet = &SEGMENT
    .remove(b'/')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'[')
    .remove(b']');

/// Encodes a path parameter as one segment: `SwaggerTest\Common.dll` -> `SwaggerTest%5CCommon.dll`,
/// `Store/MyApp/Code.zip` -> `Store%2FMyApp%2FCode.zip`.
pub(crate) fn encode_path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Encodes a path parameter that keeps its `/`: `samples/apps` stays `samples/apps`.
pub(crate) fn encode_path_keep_slash(value: &str) -> String {
    utf8_percent_encode(value, KEEP_SLASH).to_string()
}

/// Puts the query in spec order and writes `x-ms-skip-url-encoding` parameters verbatim,
/// using the table build.rs derives from the spec. Unknown operations are left as they are.
pub(crate) fn rewrite_query(url: &mut Url, operation_id: &str) {
    let Some((_, order)) = crate::generated::WIRE_QUERY
        .iter()
        .find(|(op, _)| *op == operation_id)
    else {
        return;
    };
    let rank = |name: &str| {
        order
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or(order.len())
    };
    let verbatim = |name: &str| order.iter().any(|(n, raw)| *raw && *n == name);
    // Fast path, no decoding or allocation: the names are in spec order and none is to be
    // written verbatim (the table's names are plain ASCII, so raw names compare as decoded).
    let mut last = 0;
    let in_order = url.query().unwrap_or_default().split('&').all(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let r = rank(name);
        let ok = r >= last && !verbatim(name);
        last = r;
        ok
    });
    if in_order {
        return;
    }
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.sort_by_key(|(name, _)| rank(name)); // stable: unknown ones keep their order, last
    let mut query = String::with_capacity(url.query().map_or(0, str::len));
    for (name, value) in &pairs {
        if !query.is_empty() {
            query.push('&');
        }
        query.extend(url::form_urlencoded::byte_serialize(name.as_bytes()));
        query.push('=');
        if verbatim(name) {
            query.push_str(value);
        } else {
            query.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        }
    }
    url.set_query((!query.is_empty()).then_some(query.as_str()));
}

/// Longest full name Naming accepts.
const MAX_NAME_CHARS: usize = 512;

/// Turns `fabric:/samples/apps` or `samples/apps` into the wire `nameId` (`samples/apps`),
/// refusing what Naming refuses and what the URL would mangle.
pub(crate) fn name_id(name: &str) -> Result<&str, Error> {
    let bad = |expected: &str| Error::invalid("name", name, expected);
    let id = match name.strip_prefix("fabric:") {
        Some(rest) => rest
            .strip_prefix('/')
            .ok_or_else(|| bad("a name of the form fabric:/a/b or a/b"))?,
        None => name,
    };
    if id.is_empty() {
        return Err(bad(
            "a name below the root, such as fabric:/samples or samples",
        ));
    }
    if id.starts_with('/') || id.contains("//") {
        return Err(bad("no empty segment (`//`)"));
    }
    if id.ends_with('/') {
        return Err(bad("no trailing `/`"));
    }
    if let Some(c) = id.chars().find(|c| matches!(c, '$' | '+' | '|' | '~')) {
        return Err(bad(&format!(
            "no `{c}` (Naming refuses `$ + | ~`; `~` is a separator on the wire)"
        )));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(bad(&format!("no control character ({:?})", c)));
    }
    if id.split('/').any(|s| s == "." || s == "..") {
        return Err(bad("no `.` or `..` segment (URLs drop them)"));
    }
    if "fabric:/".len() + id.chars().count() > MAX_NAME_CHARS {
        return Err(bad(&format!("at most {MAX_NAME_CHARS} characters")));
    }
    Ok(id)
}

/// Checks an image-store content path before it is sent.
pub(crate) fn content_path(path: &str) -> Result<&str, Error> {
    let bad = |expected: &str| Error::invalid("content path", path, expected);
    if path.is_empty() {
        return Err(bad(
            "a path relative to the image store root, such as Store\\App\\Code.zip",
        ));
    }
    if path.split(['/', '\\']).any(|s| s == "." || s == "..") {
        return Err(bad("no `.` or `..` segment"));
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(bad(&format!(
            "no control character ({c:?}): the gateway cannot take it"
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_encoding_matches_python_quote_safe_empty() {
        assert_eq!(
            encode_path_segment("SwaggerTest\\Common.dll"),
            "SwaggerTest%5CCommon.dll"
        );
        assert_eq!(
            encode_path_segment("Store/MyApp/Code.zip"),
            "Store%2FMyApp%2FCode.zip"
        );
        assert_eq!(encode_path_segment("a b$+&=~é"), "a%20b%24%2B%26%3D~%C3%A9");
    }

    #[test]
    fn name_encoding_keeps_slash_and_escapes_url_breakers() {
        assert_eq!(encode_path_keep_slash("samples/apps"), "samples/apps");
        assert_eq!(encode_path_keep_slash("a b/c#d?e%f"), "a%20b/c%23d%3Fe%25f");
        assert_eq!(encode_path_keep_slash("a&b=c"), "a&b=c");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(name_id("fabric:/samples/apps").ok(), Some("samples/apps"));
        assert_eq!(name_id("samples/apps").ok(), Some("samples/apps"));
        for bad in [
            "", "fabric:/", "fabric:x", "a//b", "a/", "/a", "a$b", "a~b", "a/../b", "a+b",
        ] {
            let err = name_id(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert!(name_id(&"a".repeat(505)).is_err());
        assert!(name_id(&"a".repeat(504)).is_ok());
    }

    proptest::proptest! {
        /// What the checks accept encodes into a path the URL parser keeps as it is: no raw
        /// `#`, `?`, `\` or space, and no empty or dot segment that it would rewrite.
        #[test]
        fn accepted_input_encodes_safely(input in "\\PC{0,60}") {
            if let Ok(id) = name_id(&input) {
                let encoded = encode_path_keep_slash(id);
                proptest::prop_assert!(!encoded.contains(['#', '?', '\\', ' ']));
                proptest::prop_assert!(encoded.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
                let url = format!("http://h/Names/{encoded}/$/GetSubNames");
                let parsed = reqwest::Url::parse(&url).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                proptest::prop_assert_eq!(parsed.path(), &url["http://h".len()..]);
            }
            if let Ok(path) = content_path(&input) {
                let encoded = encode_path_segment(path);
                proptest::prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            }
        }
    }

    #[test]
    fn content_paths_are_checked() {
        for bad in ["", ".", "..", "a\\..\\b", "a\nb"] {
            assert!(content_path(bad).is_err(), "{bad:?}");
        }
        assert!(content_path("a.b/..c").is_ok());
    }
}
