//! Step 1: the package, parameters and publish profile read and checked against the
//! manifest, before any request that changes the cluster.

use std::{collections::BTreeMap, fs, path::Path};

use servicefabric_rest::{Error, Result, paths};

use super::{
    manifest::ApplicationManifest,
    options::{DeployOptions, UpgradeSettings},
    profile::{ParameterFile, PublishProfile},
};

/// The runtime lets this one through undeclared (Visual Studio's debug parameters).
const DEBUG_PARAMETERS: &str = "_WFDebugParams_";

/// What the deploy will do, before it asks the cluster anything.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub manifest: ApplicationManifest,
    pub application: String,
    /// Values the sources give, keyed by the manifest's spelling of each name.
    pub sources: BTreeMap<String, String>,
    pub upgrade: UpgradeSettings,
    pub compress: bool,
    /// Profile settings read and not used, to report.
    pub not_used: Vec<String>,
}

impl Plan {
    /// Every declared parameter's target value: the sources', else `current` (the
    /// application's value, when kept), else the manifest's default.
    pub fn target_parameters(
        &self,
        current: Option<&BTreeMap<String, String>>,
    ) -> BTreeMap<String, String> {
        let mut target = BTreeMap::new();
        for (name, default) in &self.manifest.parameters {
            let value = self
                .sources
                .get(name)
                .or_else(|| current.and_then(|c| lookup(c, name)))
                .unwrap_or(default);
            target.insert(name.clone(), value.clone());
        }
        if let Some(debug) = self.sources.get(DEBUG_PARAMETERS) {
            target.insert(DEBUG_PARAMETERS.to_string(), debug.clone());
        }
        target
    }

    /// The values the application has now, for every declared parameter: what it reports,
    /// else the default (a gateway may report only the parameters set explicitly).
    pub fn effective(&self, reported: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut effective: BTreeMap<String, String> = self
            .manifest
            .parameters
            .iter()
            .map(|(name, default)| {
                (
                    name.clone(),
                    lookup(reported, name).unwrap_or(default).clone(),
                )
            })
            .collect();
        if let Some(debug) = lookup(reported, DEBUG_PARAMETERS) {
            effective.insert(DEBUG_PARAMETERS.to_string(), debug.clone());
        }
        effective
    }
}

fn lookup<'m>(map: &'m BTreeMap<String, String>, name: &str) -> Option<&'m String> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Reads and checks everything the deploy of `dir` needs.
pub(crate) fn read(dir: &Path, options: &DeployOptions) -> Result<Plan> {
    let manifest_file = dir.join("ApplicationManifest.xml");
    let bytes = fs::read(&manifest_file).map_err(|e| {
        Error::invalid(
            "application package",
            dir.display(),
            &format!("a folder holding ApplicationManifest.xml ({e})"),
        )
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::invalid("manifest", manifest_file.display(), "UTF-8 text"))?;
    let manifest = ApplicationManifest::parse(&text, &manifest_file.display().to_string())?;
    let profile = match &options.publish_profile {
        Some(file) => PublishProfile::read(file)?,
        None => PublishProfile::default(),
    };
    let parameter_file = options
        .parameters_file
        .as_ref()
        .or(profile.parameter_file.as_ref());
    let file = parameter_file.map(|f| ParameterFile::read(f)).transpose()?;
    let mut given: Vec<(String, String)> = file
        .as_ref()
        .map(|f| f.parameters.clone())
        .unwrap_or_default();
    given.extend(options.parameters.iter().cloned());
    let mut sources = BTreeMap::new();
    let mut undeclared = Vec::new();
    for (name, value) in given {
        if name.eq_ignore_ascii_case(DEBUG_PARAMETERS) {
            sources.insert(DEBUG_PARAMETERS.to_string(), value);
            continue;
        }
        match manifest.declared(&name) {
            Some((declared, _)) => {
                sources.insert(declared.clone(), value);
            }
            None => undeclared.push(name),
        }
    }
    if let Some(name) = undeclared.first() {
        let declared: Vec<&str> = manifest
            .parameters
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        return Err(Error::invalid(
            "parameter",
            name,
            &format!(
                "one the ApplicationManifest.xml of {} {} declares ({}); fix the name or declare it",
                manifest.type_name,
                manifest.type_version,
                if declared.is_empty() {
                    "it declares none".to_string()
                } else {
                    declared.join(", ")
                }
            ),
        ));
    }
    let application = match options
        .application_name
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.application.clone()))
    {
        Some(name) => name,
        None => {
            let base = manifest
                .type_name
                .strip_suffix("Type")
                .filter(|b| !b.is_empty())
                .unwrap_or(&manifest.type_name);
            format!("fabric:/{base}")
        }
    };
    // `shop` and `fabric:/shop` name the same application; reports use the full form.
    let application = format!("fabric:/{}", paths::name_id(&application)?);
    let mut not_used = profile.not_used.clone();
    if let Some(enabled) = profile.upgrade_enabled {
        not_used.push(format!(
            "UpgradeDeployment@Enabled={enabled} (the cluster decides: no application, create; else upgrade)"
        ));
    }
    Ok(Plan {
        application,
        sources,
        upgrade: options.upgrade.clone().or(profile.upgrade.clone()),
        compress: options.package.compress || profile.compress_package.unwrap_or(false),
        not_used,
        manifest,
    })
}
