//! Reads an application package folder and refuses what provisioning would refuse, before
//! anything is sent: no `ApplicationManifest.xml`, an imported service without its
//! `ServiceManifest.xml`, a Code/Config/Data package that is neither a folder nor a `.zip`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use servicefabric_rest::{Error, Result};

/// The folder marker: a folder of the image store exists only while it holds one.
pub(crate) const MARKER: &str = "_.dir";

/// A file of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageFile {
    /// Path inside the package, with backslashes (`Svc\Code\app.dll`).
    pub relative: String,
    pub local: PathBuf,
    pub size: u64,
}

/// What a package folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub root: PathBuf,
    /// Files, sorted by path.
    pub files: Vec<PackageFile>,
    /// Folders below the root, with backslashes, sorted; the root itself is `""`.
    pub folders: Vec<String>,
    pub type_name: String,
    pub type_version: String,
    /// Per imported service: its folder and its Code/Config/Data package names.
    pub services: Vec<(String, Vec<String>)>,
}

fn bad(path: &Path, expected: &str) -> Error {
    Error::invalid("application package", path.display(), expected)
}

/// Walks `root` (following no symbolic links to folders) and checks the manifests. A diff
/// package (`diff`) may leave out a service's folder or packages: provisioning takes them
/// from the version of the type already provisioned.
pub(crate) fn read(root: &Path, diff: bool) -> Result<Layout> {
    let meta = fs::metadata(root).map_err(|e| bad(root, &format!("a readable folder ({e})")))?;
    if !meta.is_dir() {
        return Err(bad(root, "a folder holding ApplicationManifest.xml"));
    }
    let mut layout = Layout {
        root: root.to_path_buf(),
        files: Vec::new(),
        folders: vec![String::new()],
        type_name: String::new(),
        type_version: String::new(),
        services: Vec::new(),
    };
    walk(root, "", &mut layout)?;
    layout.files.sort_by(|a, b| a.relative.cmp(&b.relative));
    layout.folders.sort();
    check_manifests(&mut layout, diff)?;
    Ok(layout)
}

fn walk(dir: &Path, relative: &str, layout: &mut Layout) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| bad(dir, &format!("a readable folder ({e})")))?;
    for entry in entries {
        let entry = entry.map_err(|e| bad(dir, &format!("a readable folder ({e})")))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| {
            bad(
                &path,
                "file names in UTF-8 (the image store takes no other)",
            )
        })?;
        if name.contains('\\') {
            return Err(bad(
                &path,
                "file names without `\\` (the store's separator)",
            ));
        }
        let child = if relative.is_empty() {
            name.to_string()
        } else {
            format!("{relative}\\{name}")
        };
        let meta =
            fs::metadata(&path).map_err(|e| bad(&path, &format!("a readable file ({e})")))?;
        if meta.is_dir() {
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                return Err(bad(
                    &path,
                    "no symbolic link to a folder inside the package",
                ));
            }
            layout.folders.push(child.clone());
            walk(&path, &child, layout)?;
        } else if meta.is_file() {
            // Markers are written by the upload itself, once each folder is complete.
            if name != MARKER {
                layout.files.push(PackageFile {
                    relative: child,
                    local: path,
                    size: meta.len(),
                });
            }
        } else {
            return Err(bad(&path, "regular files and folders only"));
        }
    }
    Ok(())
}

/// The XML element's local name, whatever its namespace.
fn named<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name
}

fn parse_xml<'t>(path: &Path, text: &'t str, root: &str) -> Result<roxmltree::Document<'t>> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| bad(path, &format!("well-formed XML ({e})")))?;
    if !named(doc.root_element(), root) {
        return Err(bad(
            path,
            &format!(
                "a <{root}> document, not <{}>",
                doc.root_element().tag_name().name()
            ),
        ));
    }
    Ok(doc)
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = fs::read(path).map_err(|_| bad(path, &format!("{what} (it is missing)")))?;
    // Visual Studio writes manifests in UTF-8, sometimes with a byte-order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec()).map_err(|_| bad(path, &format!("{what} in UTF-8")))
}

fn check_manifests(layout: &mut Layout, diff: bool) -> Result<()> {
    let app_path = layout.root.join("ApplicationManifest.xml");
    let text = read_text(&app_path, "an ApplicationManifest.xml at the package root")?;
    let doc = parse_xml(&app_path, &text, "ApplicationManifest")?;
    let app = doc.root_element();
    for (attr, out) in [
        ("ApplicationTypeName", &mut layout.type_name),
        ("ApplicationTypeVersion", &mut layout.type_version),
    ] {
        *out = app
            .attribute(attr)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad(&app_path, &format!("an ApplicationManifest with {attr}")))?
            .to_string();
    }
    let imports = app
        .children()
        .filter(|n| named(*n, "ServiceManifestImport"))
        .flat_map(|n| n.children().filter(|c| named(*c, "ServiceManifestRef")));
    for import in imports {
        let service = import
            .attribute("ServiceManifestName")
            .filter(|s| !s.is_empty() && !s.contains(['/', '\\']) && *s != "..")
            .ok_or_else(|| {
                bad(
                    &app_path,
                    "a ServiceManifestRef with a ServiceManifestName that is a folder name",
                )
            })?;
        let service_path = layout.root.join(service).join("ServiceManifest.xml");
        if diff && !service_path.exists() {
            continue;
        }
        let text = read_text(
            &service_path,
            &format!(
                "the ServiceManifest.xml of service {service}, imported by ApplicationManifest.xml"
            ),
        )?;
        let doc = parse_xml(&service_path, &text, "ServiceManifest")?;
        let mut packages = Vec::new();
        for kind in ["CodePackage", "ConfigPackage", "DataPackage"] {
            for node in doc.root_element().children().filter(|n| named(*n, kind)) {
                let name = node
                    .attribute("Name")
                    .filter(|s| !s.is_empty() && !s.contains(['/', '\\']) && *s != "..")
                    .ok_or_else(|| bad(&service_path, &format!("a {kind} with a Name")))?;
                let folder = format!("{service}\\{name}");
                let zip = format!("{folder}.zip");
                let present = layout.folders.contains(&folder)
                    || layout.files.iter().any(|f| f.relative == zip);
                if !present && diff {
                    continue;
                }
                if !present {
                    return Err(bad(
                        &layout.root.join(service).join(name),
                        &format!(
                            "the {kind} {name} of service {service}, as a folder or {name}.zip"
                        ),
                    ));
                }
                packages.push(name.to_string());
            }
        }
        layout.services.push((service.to_string(), packages));
    }
    Ok(())
}
