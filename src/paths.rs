//! Names and image-store paths as the gateway takes them: `fabric:/a/b` names become the
//! wire's `nameId`, and paths are refused, naming the value, before anything is sent.

use crate::{Error, Result};

/// Longest full name Naming accepts.
const MAX_NAME_CHARS: usize = 512;

/// Turns `fabric:/samples/apps` or `samples/apps` into the wire `nameId` (`samples/apps`),
/// refusing what Naming refuses and what the URL would mangle.
///
/// ```
/// use servicefabric_rest::paths::name_id;
///
/// assert_eq!(name_id("fabric:/samples/apps")?, "samples/apps");
/// assert!(name_id("fabric:/a//b").is_err());
/// # Ok::<(), servicefabric_rest::Error>(())
/// ```
pub fn name_id(name: &str) -> Result<&str> {
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

/// Turns an application name (`fabric:/shop/orders` or `shop/orders`) into its id on the wire
/// (`shop~orders`), refusing what Naming refuses.
///
/// ```
/// use servicefabric_rest::paths::application_id;
///
/// assert_eq!(application_id("fabric:/shop/orders")?, "shop~orders");
/// assert!(application_id("fabric:/shop~orders").is_err());
/// # Ok::<(), servicefabric_rest::Error>(())
/// ```
pub fn application_id(name: &str) -> Result<String> {
    Ok(name_id(name)?.replace('/', "~"))
}

/// Checks an image-store content path before it is sent.
///
/// ```
/// use servicefabric_rest::paths::content_path;
///
/// assert!(content_path("Store\\MyApp\\Code.zip").is_ok());
/// assert!(content_path("a\\..\\b").is_err());
/// ```
pub fn content_path(path: &str) -> Result<&str> {
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

/// The first path segments the image store keeps for itself.
const RESERVED_ROOTS: [&str; 2] = ["Store", "WindowsFabricStore"];

/// Checks a package path in the store: relative, no `.`/`..`, not under a reserved root.
///
/// ```
/// use servicefabric_rest::paths::package_path;
///
/// assert!(package_path("MyAppPkg").is_ok());
/// assert!(package_path("Store\\MyAppPkg").is_err()); // the store keeps `Store` for itself
/// ```
pub fn package_path(path: &str) -> Result<&str> {
    let checked = content_path(path)?;
    let first = checked.split(['/', '\\']).find(|s| !s.is_empty());
    if checked.starts_with(['/', '\\']) || first.is_none() {
        return Err(Error::invalid(
            "path in store",
            path,
            "a relative path such as MyAppPkg",
        ));
    }
    if let Some(reserved) = RESERVED_ROOTS
        .iter()
        .find(|r| first.is_some_and(|f| f.eq_ignore_ascii_case(r)))
    {
        return Err(Error::invalid(
            "path in store",
            path,
            &format!(
                "a path whose first segment is not `{reserved}` (the store keeps it for itself)"
            ),
        ));
    }
    Ok(checked)
}

/// A store path as the gateway reports it: backslashes, no leading or trailing separator.
///
/// ```
/// assert_eq!(servicefabric_rest::paths::store_form("/MyApp/Code/"), "MyApp\\Code");
/// ```
pub fn store_form(path: &str) -> String {
    path.replace('/', "\\").trim_matches('\\').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn content_paths_are_checked() {
        for bad in ["", ".", "..", "a\\..\\b", "a\nb"] {
            assert!(content_path(bad).is_err(), "{bad:?}");
        }
        assert!(content_path("a.b/..c").is_ok());
    }

    #[test]
    fn package_paths() {
        assert!(package_path("MyAppPkg").is_ok());
        assert!(package_path("apps/MyAppPkg").is_ok());
        for bad in [
            "",
            "Store/App1",
            "store\\x",
            "WindowsFabricStore",
            "a/../b",
            "/abs",
        ] {
            let e = package_path(bad).expect_err(bad);
            assert!(e.to_string().contains("path"), "{bad}: {e}");
        }
    }
}
