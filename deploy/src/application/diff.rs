//! Diff packages: only what changed since the version the application runs. The application
//! manifest always; a service whose version did not change is left out whole; of one that
//! changed, its `ServiceManifest.xml` and the Code/Config/Data packages whose version
//! changed. Provisioning takes the rest from the version already provisioned.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use servicefabric_rest::{Client, Error, Result};

use super::manifest::{ApplicationManifest, ServiceManifest};

/// What the diff leaves in, to report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DiffSummary {
    /// Services sent (with their changed packages).
    pub services: Vec<(String, Vec<String>)>,
    /// Services left out whole.
    pub unchanged: Vec<String>,
}

/// The parts of `local` (a package of `manifest`) that differ from version `running` on the
/// cluster: each service's changed packages, by name.
pub(crate) async fn changes(
    client: &Client,
    local: &Path,
    manifest: &ApplicationManifest,
    running: &str,
) -> Result<DiffSummary> {
    let old_text = client
        .application_manifest(&manifest.type_name, running)
        .await?;
    let old = ApplicationManifest::parse(
        &old_text,
        &format!("the cluster's manifest of {} {running}", manifest.type_name),
    )?;
    let mut summary = DiffSummary::default();
    for (service, version) in &manifest.imports {
        let before = old.imports.iter().find(|(name, _)| name == service);
        if before.is_some_and(|(_, v)| v == version) {
            summary.unchanged.push(service.clone());
            continue;
        }
        let file = local.join(service).join("ServiceManifest.xml");
        let text = fs::read_to_string(&file).map_err(|e| {
            Error::invalid(
                "application package",
                file.display(),
                &format!("the ServiceManifest.xml of changed service {service} ({e})"),
            )
        })?;
        let new = ServiceManifest::parse(&text, &file.display().to_string())?;
        let old_packages = match before {
            Some(_) => match client
                .service_manifest(&manifest.type_name, running, service)
                .await
            {
                Ok(text) => {
                    ServiceManifest::parse(
                        &text,
                        &format!("the cluster's manifest of {service} in {running}"),
                    )?
                    .packages
                }
                // The gateway does not decode query values: a name it cannot match (spaces,
                // non-ASCII) is sent whole, which is larger but never wrong.
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e),
            },
            None => Vec::new(),
        };
        let changed = new
            .packages
            .iter()
            .filter(|p| !old_packages.contains(p))
            .map(|(name, _)| name.clone())
            .collect();
        summary.services.push((service.clone(), changed));
    }
    Ok(summary)
}

/// Builds the diff package in `staging` (emptied first) from `local`: hard links where the
/// file system allows, else copies. `local` is never changed.
pub(crate) fn stage(local: &Path, summary: &DiffSummary, staging: &Path) -> Result<()> {
    let failed = |path: &Path, e: io::Error| {
        Error::invalid(
            "diff package folder",
            path.display(),
            &format!("a writable folder ({e})"),
        )
    };
    if staging.exists() {
        fs::remove_dir_all(staging).map_err(|e| failed(staging, e))?;
    }
    fs::create_dir_all(staging).map_err(|e| failed(staging, e))?;
    link(
        &local.join("ApplicationManifest.xml"),
        &staging.join("ApplicationManifest.xml"),
    )
    .map_err(|e| failed(staging, e))?;
    for (service, packages) in &summary.services {
        let into = staging.join(service);
        fs::create_dir_all(&into).map_err(|e| failed(&into, e))?;
        link(
            &local.join(service).join("ServiceManifest.xml"),
            &into.join("ServiceManifest.xml"),
        )
        .map_err(|e| failed(&into, e))?;
        for package in packages {
            let folder = local.join(service).join(package);
            let zip = local.join(service).join(format!("{package}.zip"));
            if folder.is_dir() {
                copy_tree(&folder, &into.join(package)).map_err(|e| failed(&into, e))?;
            } else if zip.is_file() {
                link(&zip, &into.join(format!("{package}.zip"))).map_err(|e| failed(&into, e))?;
            } else {
                return Err(Error::invalid(
                    "application package",
                    folder.display(),
                    &format!(
                        "the changed package {package} of service {service}, as a folder or {package}.zip"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn link(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to).or_else(|_| fs::copy(from, to).map(drop))
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            link(&entry.path(), &target)?;
        }
    }
    Ok(())
}
