//! How parameters become bytes of the request target, as the official clients send them.
//!
//! The generated client calls the two path encoders here (build.rs routes each path parameter
//! to one of them) and writes its query with [`Query`]. The input checks refuse what the
//! gateway would misread before anything is sent.

use std::fmt::{self, Write as _};

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use url::form_urlencoded::byte_serialize;

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

/// What the URL parser escapes in the query of an `http(s)` URL (the WHATWG special-query set).
/// A verbatim value is escaped with it beforehand, so that parsing leaves it unchanged and a
/// `#` in a token cannot start a fragment.
const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\'');

/// A request target's query, written as the official clients write it. The generated client
/// calls `push` in spec order (build.rs emits the calls from the spec) while the URL is still
/// a string, so each request's URL is parsed once and never rewritten.
pub(crate) struct Query {
    url: String,
    first: bool,
}

impl Query {
    pub(crate) fn new(mut url: String) -> Self {
        // Room for the usual query (api-version, an id, timeout) without growing twice.
        url.reserve(96);
        Self { url, first: true }
    }

    /// Appends `name=value`: the value form-encoded, or as it is (`x-ms-skip-url-encoding`:
    /// continuation tokens, which the gateway escapes itself and unescapes once).
    pub(crate) fn push<T: fmt::Display + ?Sized>(&mut self, name: &str, value: &T, verbatim: bool) {
        self.url.push(if self.first { '?' } else { '&' });
        self.first = false;
        // Names come from the spec, checked by build.rs to be ASCII letters, digits and `-`.
        self.url.push_str(name);
        self.url.push('=');
        // Writing into a String cannot fail.
        let _ = if verbatim {
            write!(Escaped(&mut self.url), "{value}")
        } else {
            write!(FormEncoded(&mut self.url), "{value}")
        };
    }

    pub(crate) fn finish(self) -> String {
        self.url
    }
}

/// Form-encodes what is written through it (`application/x-www-form-urlencoded`, as
/// `serde_urlencoded` and the official clients do), without an intermediate string.
struct FormEncoded<'a>(&'a mut String);

impl fmt::Write for FormEncoded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Versions, ids, numbers and booleans need no escape: copy them in one go.
        if s.bytes().all(
            |b| matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*'),
        ) {
            self.0.push_str(s);
        } else {
            self.0.extend(byte_serialize(s.as_bytes()));
        }
        Ok(())
    }
}

/// Escapes only what the URL parser would (see [`QUERY`]).
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend(utf8_percent_encode(s, QUERY));
        Ok(())
    }
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

    fn query(params: &[(&str, &str, bool)]) -> String {
        let mut query = Query::new("http://h/p".into());
        for (name, value, verbatim) in params {
            query.push(name, value, *verbatim);
        }
        query.finish()
    }

    #[test]
    fn query_values_are_form_encoded_and_tokens_kept() {
        assert_eq!(query(&[]), "http://h/p");
        assert_eq!(
            query(&[("api-version", "6.0", false), ("Recursive", "true", false)]),
            "http://h/p?api-version=6.0&Recursive=true"
        );
        assert_eq!(
            query(&[("a", "x y&z=é+", false)]),
            "http://h/p?a=x+y%26z%3D%C3%A9%2B"
        );
        // A token goes as the gateway wrote it; only what the URL parser would escape is.
        let token = "fabric:/a/b%20c$7&x=+";
        let url = query(&[("ContinuationToken", token, true), ("timeout", "60", false)]);
        assert_eq!(
            url,
            format!("http://h/p?ContinuationToken={token}&timeout=60")
        );
        let odd = query(&[("ContinuationToken", "a b#c<é", true)]);
        assert_eq!(odd, "http://h/p?ContinuationToken=a%20b%23c%3C%C3%A9");
        for url in [url, odd] {
            let parsed = reqwest::Url::parse(&url).map_err(|e| e.to_string());
            assert_eq!(parsed.map(String::from), Ok(url.clone()));
        }
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
