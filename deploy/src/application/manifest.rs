//! The manifests a deploy reads, from the package folder or from the cluster: an
//! application manifest's type, version, parameters and imports; a service manifest's
//! version and Code/Config/Data packages.

use servicefabric_rest::{Error, Result};

/// What a deploy needs of an `ApplicationManifest.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApplicationManifest {
    pub type_name: String,
    pub type_version: String,
    /// Declared parameters and their defaults, in the manifest's order.
    pub parameters: Vec<(String, String)>,
    /// Imported service manifests: (name, version).
    pub imports: Vec<(String, String)>,
}

/// What a diff needs of a `ServiceManifest.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceManifest {
    pub version: String,
    /// (name, version) of each Code, Config and Data package.
    pub packages: Vec<(String, String)>,
}

/// A service or package name, which becomes a folder name: nothing that leaves the folder.
fn folder_name(name: &str, what: &str, source: &str) -> Result<String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', ':']) {
        return Err(Error::invalid(
            "manifest",
            source,
            &format!("{what} that is a plain folder name, not {name:?}"),
        ));
    }
    Ok(name.to_string())
}

fn named(node: roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name
}

fn document<'t>(text: &'t str, root: &str, source: &str) -> Result<roxmltree::Document<'t>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        Error::invalid("manifest", source, &format!("a well-formed <{root}> ({e})"))
    })?;
    if !named(doc.root_element(), root) {
        return Err(Error::invalid(
            "manifest",
            source,
            &format!("a <{root}> document"),
        ));
    }
    Ok(doc)
}

impl ApplicationManifest {
    /// Reads the manifest text; `source` names it in errors (a file, or "the cluster's …").
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let doc = document(text, "ApplicationManifest", source)?;
        let root = doc.root_element();
        let attr = |name: &str| {
            root.attribute(name)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    Error::invalid(
                        "manifest",
                        source,
                        &format!("an ApplicationManifest with {name}"),
                    )
                })
        };
        let parameters = root
            .children()
            .filter(|n| named(*n, "Parameters"))
            .flat_map(|p| p.children().filter(|n| named(*n, "Parameter")))
            .filter_map(|p| {
                Some((
                    p.attribute("Name")?.to_string(),
                    p.attribute("DefaultValue").unwrap_or_default().to_string(),
                ))
            })
            .collect();
        let imports = root
            .children()
            .filter(|n| named(*n, "ServiceManifestImport"))
            .flat_map(|n| n.children().filter(|c| named(*c, "ServiceManifestRef")))
            .map(|r| {
                let name = r.attribute("ServiceManifestName").unwrap_or_default();
                Ok((
                    folder_name(name, "a ServiceManifestName", source)?,
                    r.attribute("ServiceManifestVersion")
                        .unwrap_or_default()
                        .to_string(),
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            type_name: attr("ApplicationTypeName")?,
            type_version: attr("ApplicationTypeVersion")?,
            parameters,
            imports,
        })
    }

    /// The declared parameter named `name`, compared as the runtime does (ignoring case).
    pub fn declared(&self, name: &str) -> Option<&(String, String)> {
        self.parameters
            .iter()
            .find(|(declared, _)| declared.eq_ignore_ascii_case(name))
    }
}

impl ServiceManifest {
    /// Reads the manifest text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let doc = document(text, "ServiceManifest", source)?;
        let root = doc.root_element();
        let packages = root
            .children()
            .filter(|n| {
                n.is_element()
                    && matches!(
                        n.tag_name().name(),
                        "CodePackage" | "ConfigPackage" | "DataPackage"
                    )
            })
            .map(|n| {
                let name = n.attribute("Name").unwrap_or_default();
                Ok((
                    folder_name(name, "a package Name", source)?,
                    n.attribute("Version").unwrap_or_default().to_string(),
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            version: root.attribute("Version").unwrap_or_default().to_string(),
            packages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parameters_and_imports_whatever_the_namespace_and_bom() {
        let text = "\u{feff}<?xml version=\"1.0\"?><ApplicationManifest xmlns=\"http://schemas.microsoft.com/2011/01/fabric\" ApplicationTypeName=\"ShopType\" ApplicationTypeVersion=\"2.0.0\"><Parameters><Parameter Name=\"Web_InstanceCount\" DefaultValue=\"1\"/><Parameter Name=\"Mode\" /></Parameters><ServiceManifestImport><ServiceManifestRef ServiceManifestName=\"WebPkg\" ServiceManifestVersion=\"2.0.0\"/></ServiceManifestImport></ApplicationManifest>";
        let m = ApplicationManifest::parse(text, "test").expect("parses");
        assert_eq!(m.type_name, "ShopType");
        assert_eq!(m.type_version, "2.0.0");
        assert_eq!(
            m.parameters,
            vec![
                ("Web_InstanceCount".into(), "1".into()),
                ("Mode".into(), String::new())
            ]
        );
        assert_eq!(m.imports, vec![("WebPkg".into(), "2.0.0".into())]);
        assert!(m.declared("web_instancecount").is_some());
        assert!(m.declared("Other").is_none());
    }

    #[test]
    fn names_that_would_leave_the_package_folder_are_refused() {
        for bad in ["..", "a/b", "a\\b", ""] {
            let text = format!(
                "<ApplicationManifest ApplicationTypeName=\"T\" ApplicationTypeVersion=\"1\"><ServiceManifestImport><ServiceManifestRef ServiceManifestName=\"{bad}\" ServiceManifestVersion=\"1\"/></ServiceManifestImport></ApplicationManifest>"
            );
            let e = ApplicationManifest::parse(&text, "m").expect_err(bad);
            assert!(e.to_string().contains("plain folder name"), "{e}");
            let text = format!(
                "<ServiceManifest Version=\"1\"><CodePackage Name=\"{bad}\" Version=\"1\"/></ServiceManifest>"
            );
            assert!(ServiceManifest::parse(&text, "s").is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_another_document_naming_the_source() {
        let e = ApplicationManifest::parse("<ServiceManifest/>", "pkg/ApplicationManifest.xml")
            .expect_err("refused");
        assert!(e.to_string().contains("pkg/ApplicationManifest.xml"), "{e}");
        let e = ApplicationManifest::parse("<ApplicationManifest ApplicationTypeName=\"T\"/>", "m")
            .expect_err("refused");
        assert!(e.to_string().contains("ApplicationTypeVersion"), "{e}");
    }
}
