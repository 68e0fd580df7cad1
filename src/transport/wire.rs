//! How parameters become bytes of the request target, as the official clients send them.
//!
//! The generated client calls the two path encoders here (build.rs routes each path parameter
//! to one of them) and writes its query with [`Query`]. The input checks refuse what the
//! gateway would misread before anything is sent (see `crate::paths`).

use std::fmt::{self, Write as _};

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

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

    /// Appends `name=value`: the value percent-encoded as the official SDK does, or as it is
    /// (`x-ms-skip-url-encoding`:
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
            write!(PythonQuoted(&mut self.url), "{value}")
        };
    }

    pub(crate) fn finish(self) -> String {
        self.url
    }
}

/// Percent-encodes what is written through it as the official SDK writes query values
/// (msrest's `quote(value, safe='')`: everything but `A-Z a-z 0-9 - . _ ~`, space as `%20`,
/// not form encoding's `+`), without an intermediate string.
struct PythonQuoted<'a>(&'a mut String);

impl fmt::Write for PythonQuoted<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Versions, ids, numbers and booleans need no escape: copy them in one go.
        if s.bytes().all(
            |b| matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~'),
        ) {
            self.0.push_str(s);
        } else {
            self.0.extend(utf8_percent_encode(s, SEGMENT));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::{content_path, name_id};

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
    fn query_values_are_quoted_as_the_sdk_does_and_tokens_kept() {
        assert_eq!(query(&[]), "http://h/p");
        assert_eq!(
            query(&[("api-version", "6.0", false), ("Recursive", "true", false)]),
            "http://h/p?api-version=6.0&Recursive=true"
        );
        // msrest's Serializer.query gives these, checked with the SDK itself:
        // 'Back End Pkg' -> Back%20End%20Pkg, 'a*b~c+d' -> a%2Ab~c%2Bd.
        assert_eq!(
            query(&[("a", "x y&z=é+", false)]),
            "http://h/p?a=x%20y%26z%3D%C3%A9%2B"
        );
        assert_eq!(
            query(&[
                ("ServiceManifestName", "Back End Pkg", false),
                ("n", "a*b~c+d", false)
            ]),
            "http://h/p?ServiceManifestName=Back%20End%20Pkg&n=a%2Ab~c%2Bd"
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
}
