//! Application types (ProvisionApplicationType): checks a package in the store as the runtime does (root marker,
//! `ApplicationManifest.xml`, each imported `ServiceManifest.xml`, Code/Config/Data as a
//! folder or `.zip`), and records the type and version, in `application_types.json`.

use std::{
    collections::BTreeMap,
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    fabric_error::{Code, FabricError},
    image_store::{
        content::{MARKER, Store},
        sessions::normalise_path,
    },
};

/// A default service the application manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DefaultService {
    /// Its name below the application (`Service0`).
    pub name: String,
    pub type_name: String,
    pub stateful: bool,
}

/// A Code, Config or Data package of a service manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PackageRef {
    pub kind: String,
    pub name: String,
    pub version: String,
}

/// A service manifest as provisioned: what a later diff package may leave out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServiceRecord {
    pub name: String,
    pub version: String,
    pub manifest: String,
    pub packages: Vec<PackageRef>,
}

/// A provisioned application type version: what applications of it may set and get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TypeRecord {
    pub name: String,
    pub version: String,
    /// The declared parameters with their defaults, in the manifest's order.
    #[serde(default)]
    pub parameters: Vec<(String, String)>,
    #[serde(default)]
    pub services: Vec<DefaultService>,
    /// The application manifest's text (GetApplicationManifest).
    #[serde(default)]
    pub manifest: String,
    /// The imported service manifests (GetServiceManifest).
    #[serde(default)]
    pub service_manifests: Vec<ServiceRecord>,
}

impl TypeRecord {
    fn bare(name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            parameters: Vec::new(),
            services: Vec::new(),
            manifest: String::new(),
            service_manifests: Vec::new(),
        }
    }

    fn service(&self, name: &str, version: &str) -> Option<&ServiceRecord> {
        self.service_manifests
            .iter()
            .find(|s| s.name == name && s.version == version)
    }
}

/// Provisioned application types, by (name, version), kept in `application_types.json`.
#[derive(Debug)]
pub(crate) struct AppTypes {
    file: PathBuf,
    types: BTreeMap<(String, String), TypeRecord>,
}

impl AppTypes {
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let file = data_dir.join("application_types.json");
        let bytes = fs::read(&file).unwrap_or_default();
        // Earlier emulators kept (name, version) pairs only.
        let records: Vec<TypeRecord> = serde_json::from_slice(&bytes)
            .or_else(|_| {
                serde_json::from_slice::<Vec<(String, String)>>(&bytes)
                    .map(|pairs| pairs.iter().map(|(n, v)| TypeRecord::bare(n, v)).collect())
            })
            .unwrap_or_default();
        let types = records
            .into_iter()
            .map(|r| ((r.name.clone(), r.version.clone()), r))
            .collect();
        Ok(Self { file, types })
    }

    pub fn list(&self) -> Vec<(String, String)> {
        self.types.keys().cloned().collect()
    }

    /// Every provisioned version, ordered by name then version.
    pub fn records(&self) -> impl Iterator<Item = &TypeRecord> {
        self.types.values()
    }

    pub fn get(&self, name: &str, version: &str) -> Option<&TypeRecord> {
        self.types.get(&(name.to_string(), version.to_string()))
    }

    /// Records a type; 409 when it is there already. Written through before answering.
    fn add(&mut self, record: TypeRecord) -> Result<(), FabricError> {
        let key = (record.name.clone(), record.version.clone());
        if self.types.contains_key(&key) {
            return Err(FabricError::new(
                Code::ApplicationTypeAlreadyExists,
                format!(
                    "Application type and version already exists: {} {}",
                    key.0, key.1
                ),
            ));
        }
        self.types.insert(key.clone(), record);
        if let Err(e) = self.save() {
            self.types.remove(&key);
            return Err(e);
        }
        Ok(())
    }

    /// Forgets a version; the caller checked that nothing uses it.
    pub fn remove(&mut self, name: &str, version: &str) -> Result<(), FabricError> {
        let key = (name.to_string(), version.to_string());
        let Some(record) = self.types.remove(&key) else {
            return Err(FabricError::new(
                Code::ApplicationTypeNotFound,
                format!("Application type and version not found: {name} {version}"),
            ));
        };
        if let Err(e) = self.save() {
            self.types.insert(key, record);
            return Err(e);
        }
        Ok(())
    }

    fn save(&self) -> Result<(), FabricError> {
        let records: Vec<&TypeRecord> = self.types.values().collect();
        write_atomically(
            &self.file,
            &serde_json::to_vec(&records).map_err(|_| FabricError::of(Code::Fail))?,
        )
        .map_err(FabricError::io)
    }
}

/// Writes `bytes` to `file` through a synced temporary file and a rename.
pub(crate) fn write_atomically(file: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = file.with_extension("json.tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, file)
}

/// What happens to the package in the store once its type is provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cleanup {
    Default,
    Automatic,
    Manual,
}

/// A provision request: a package in the image store, or one the cluster would download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Provision {
    ImageStore {
        path: String,
        cleanup: Cleanup,
    },
    ExternalStore {
        uri: String,
        name: String,
        version: String,
    },
}

fn validation(message: String) -> FabricError {
    FabricError::new(Code::ImageBuilderValidationError, message)
}

/// Provisions a type: checks the package as the runtime does and records the type and
/// version.
pub(crate) fn provision(
    store: &Store,
    types: &mut AppTypes,
    request: &Provision,
) -> Result<(), FabricError> {
    match request {
        Provision::ImageStore { path, cleanup } => {
            let record = check_package(store, types, path)?;
            types.add(record)?;
            if *cleanup == Cleanup::Automatic {
                let _ = store.delete(path);
            }
            Ok(())
        }
        Provision::ExternalStore { uri, name, version } => {
            // The emulator downloads nothing: it checks the description and records the type.
            let scheme_ok = uri.starts_with("http://") || uri.starts_with("https://");
            if !scheme_ok || name.trim().is_empty() || version.trim().is_empty() {
                return Err(FabricError::invalid_arg());
            }
            types.add(TypeRecord::bare(name, version))
        }
    }
}

fn check_package(store: &Store, types: &AppTypes, path: &str) -> Result<TypeRecord, FabricError> {
    let shown = normalise_path(path);
    let first = shown.split('\\').find(|s| !s.is_empty()).unwrap_or("");
    if first.eq_ignore_ascii_case("Store") || first.eq_ignore_ascii_case("WindowsFabricStore") {
        return Err(FabricError::new(
            Code::ImageBuilderReservedDirectoryError,
            format!("The path '{shown}' is reserved for the image store's own use."),
        ));
    }
    let root = store.locate(path)?;
    if !root.join(MARKER).is_file() {
        return Err(validation(format!(
            "The application package '{shown}' is not found in the store. Make sure that the package was previously copied to the store"
        )));
    }
    let app = read_xml(
        &root.join("ApplicationManifest.xml"),
        &shown,
        "ApplicationManifest.xml",
    )?;
    let doc = parse(&app, "ApplicationManifest", "ApplicationManifest.xml")?;
    let attr = |name: &str| {
        doc.root_element()
            .attribute(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| validation(format!("ApplicationManifest.xml has no {name}.")))
    };
    let (type_name, type_version) = (
        attr("ApplicationTypeName")?,
        attr("ApplicationTypeVersion")?,
    );
    // A diff package leaves out what an earlier version of the type has: that version's
    // records fill the gaps (applications.md, "Diff packages").
    let earlier: Vec<&TypeRecord> = types.records().filter(|r| r.name == type_name).collect();
    let imports = doc
        .root_element()
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "ServiceManifestImport")
        .flat_map(|n| {
            n.children()
                .filter(|c| c.is_element() && c.tag_name().name() == "ServiceManifestRef")
        });
    let mut service_manifests = Vec::new();
    for import in imports {
        let service = import
            .attribute("ServiceManifestName")
            .filter(|s| !s.is_empty() && !s.contains(['/', '\\', ':']) && *s != "..")
            .ok_or_else(|| {
                validation("A ServiceManifestRef has no valid ServiceManifestName.".into())
            })?;
        let service_version = import.attribute("ServiceManifestVersion").unwrap_or("");
        let manifest = root.join(service).join("ServiceManifest.xml");
        let what = format!("{service}\\ServiceManifest.xml");
        if !manifest.is_file() {
            let provisioned = earlier
                .iter()
                .find_map(|r| r.service(service, service_version));
            match provisioned {
                Some(record) => {
                    service_manifests.push(record.clone());
                    continue;
                }
                None => {
                    return Err(FabricError::new(
                        Code::ServiceManifestNotFound,
                        format!(
                            "The service manifest '{shown}\\{what}' is not found in the store."
                        ),
                    ));
                }
            }
        }
        let text = read_xml(&manifest, &shown, &what)?;
        let service_doc = parse(&text, "ServiceManifest", &what)?;
        let mut packages = Vec::new();
        for node in service_doc.root_element().children().filter(|n| {
            n.is_element()
                && matches!(
                    n.tag_name().name(),
                    "CodePackage" | "ConfigPackage" | "DataPackage"
                )
        }) {
            let kind = node.tag_name().name();
            let name = node
                .attribute("Name")
                .filter(|s| !s.is_empty() && !s.contains(['/', '\\', ':']) && *s != "..")
                .ok_or_else(|| validation(format!("A {kind} in {what} has no valid Name.")))?;
            let package = PackageRef {
                kind: kind.to_string(),
                name: name.to_string(),
                version: node.attribute("Version").unwrap_or("").to_string(),
            };
            let folder = root.join(service).join(name);
            let zip = root.join(service).join(format!("{name}.zip"));
            let in_store = folder.join(MARKER).is_file() || zip.is_file();
            let provisioned = || {
                earlier.iter().any(|r| {
                    r.service_manifests
                        .iter()
                        .any(|s| s.name == service && s.packages.contains(&package))
                })
            };
            if !in_store && !provisioned() {
                return Err(validation(format!(
                    "The {kind} '{name}' (version '{}') of service manifest '{service}' is not found in the store (as a folder with its {MARKER} marker, or {name}.zip), nor in a provisioned version of {type_name}.",
                    package.version
                )));
            }
            packages.push(package);
        }
        service_manifests.push(ServiceRecord {
            name: service.to_string(),
            version: service_doc
                .root_element()
                .attribute("Version")
                .unwrap_or(service_version)
                .to_string(),
            manifest: text.clone(),
            packages,
        });
    }
    let element = |name: &str| {
        doc.root_element()
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == name)
    };
    let parameters = element("Parameters")
        .into_iter()
        .flat_map(|p| {
            p.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "Parameter")
        })
        .filter_map(|p| {
            let name = p.attribute("Name")?.to_string();
            Some((
                name,
                p.attribute("DefaultValue").unwrap_or_default().to_string(),
            ))
        })
        .collect();
    let services = element("DefaultServices")
        .into_iter()
        .flat_map(|d| {
            d.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "Service")
        })
        .filter_map(|service| {
            let name = service.attribute("Name")?.to_string();
            let kind = service.children().find(|n| n.is_element())?;
            Some(DefaultService {
                name,
                type_name: kind
                    .attribute("ServiceTypeName")
                    .unwrap_or_default()
                    .to_string(),
                stateful: kind.tag_name().name() == "StatefulService",
            })
        })
        .collect();
    Ok(TypeRecord {
        name: type_name,
        version: type_version,
        parameters,
        services,
        manifest: app.clone(),
        service_manifests,
    })
}

fn read_xml(path: &Path, package: &str, what: &str) -> Result<String, FabricError> {
    let bytes = fs::read(path).map_err(|_| {
        validation(format!(
            "The file '{package}\\{what}' is not found in the store."
        ))
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .map_err(|_| validation(format!("'{what}' is not UTF-8 text.")))
}

fn parse<'t>(
    text: &'t str,
    root: &str,
    what: &str,
) -> Result<roxmltree::Document<'t>, FabricError> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| validation(format!("'{what}' is not valid XML: {e}")))?;
    if doc.root_element().tag_name().name() != root {
        return Err(validation(format!("'{what}' is not a {root}.")));
    }
    Ok(doc)
}
