//! The files users keep beside their package: Visual Studio publish profiles
//! (`http://schemas.microsoft.com/2015/05/fabrictools`) and application parameter files.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use servicefabric_rest::{
    Error, FailureAction, HealthPolicy, Result, RollingUpgradeMode, ServiceTypeHealthPolicy,
};

use super::options::UpgradeSettings;

/// What a publish profile says, read by [`PublishProfile::read`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishProfile {
    /// `ApplicationParameterFile Path`, resolved against the profile's folder.
    pub parameter_file: Option<PathBuf>,
    /// `UpgradeDeployment Enabled`: what the Visual Studio scripts chose by. A deploy lets
    /// the cluster decide instead and reports this as not used.
    pub upgrade_enabled: Option<bool>,
    /// `UpgradeDeployment Mode` and its `Parameters`: the upgrade settings, whatever
    /// `Enabled` says.
    pub upgrade: UpgradeSettings,
    /// `CopyPackageParameters CompressPackage`.
    pub compress_package: Option<bool>,
    /// `ClusterConnectionParameters ServerCertThumbprint`: the cluster certificate, which an
    /// https gateway may be pinned to.
    pub server_cert_thumbprint: Option<String>,
    /// `ClusterConnectionParameters ConnectionEndpoint`: the native client's endpoint
    /// (port 19000), not the gateway's.
    pub connection_endpoint: Option<String>,
    /// Settings read and not used here, as `Element@Attribute=value` (secrets left out).
    pub not_used: Vec<String>,
}

fn bad(file: &Path, expected: impl AsRef<str>) -> Error {
    Error::invalid("publish profile", file.display(), expected.as_ref())
}

fn read_text(file: &Path, what: &'static str) -> Result<String> {
    let bytes = fs::read(file)
        .map_err(|e| Error::invalid(what, file.display(), &format!("a readable file ({e})")))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::invalid(what, file.display(), "UTF-8 text"))
}

fn named(node: roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name
}

fn boolean(file: &Path, attr: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(
            file,
            format!("{attr}=\"true\" or \"false\", not {value:?}"),
        )),
    }
}

fn seconds(file: &Path, attr: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| bad(file, format!("{attr} in whole seconds, not {value:?}")))
}

fn percent(file: &Path, attr: &str, value: &str) -> Result<u8> {
    value
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| {
            bad(
                file,
                format!("{attr} as a percentage 0..=100, not {value:?}"),
            )
        })
}

/// `"services,partitions,replicas"`, as the PowerShell cmdlet takes it.
fn service_type_policy(file: &Path, value: &str) -> Result<ServiceTypeHealthPolicy> {
    let parts: Vec<&str> = value.split(',').collect();
    let [services, partitions, replicas] = parts.as_slice() else {
        return Err(bad(
            file,
            format!(
                "DefaultServiceTypeHealthPolicy as \"services,partitions,replicas\" percentages, not {value:?}"
            ),
        ));
    };
    let attr = "DefaultServiceTypeHealthPolicy";
    Ok(ServiceTypeHealthPolicy {
        max_percent_unhealthy_services: percent(file, attr, services)?,
        max_percent_unhealthy_partitions_per_service: percent(file, attr, partitions)?,
        max_percent_unhealthy_replicas_per_partition: percent(file, attr, replicas)?,
    })
}

impl PublishProfile {
    /// Reads a publish profile. Values are case-insensitive; `…Sec` values are whole
    /// seconds; a value that cannot be read is an error naming it.
    ///
    /// ```no_run
    /// # fn demo() -> servicefabric_rest::Result<()> {
    /// let profile = servicefabric_deploy::PublishProfile::read("PublishProfiles/Cloud.xml".as_ref())?;
    /// println!("parameters from {:?}", profile.parameter_file);
    /// # Ok(()) }
    /// ```
    pub fn read(file: &Path) -> Result<Self> {
        let text = read_text(file, "publish profile")?;
        let doc = roxmltree::Document::parse(&text)
            .map_err(|e| bad(file, format!("well-formed XML ({e})")))?;
        let root = doc.root_element();
        if !named(root, "PublishProfile") {
            return Err(bad(file, "a <PublishProfile> document"));
        }
        let mut profile = PublishProfile::default();
        let mut policy: Option<HealthPolicy> = None;
        for element in root.children().filter(|n| n.is_element()) {
            match element.tag_name().name() {
                "ClusterConnectionParameters" => {
                    for a in element.attributes() {
                        match a.name() {
                            "ServerCertThumbprint" => {
                                profile.server_cert_thumbprint = Some(a.value().trim().to_string())
                            }
                            "ConnectionEndpoint" => {
                                profile.connection_endpoint = Some(a.value().to_string());
                                profile.not_used.push(format!(
                                    "ClusterConnectionParameters@ConnectionEndpoint={} (the native client's endpoint; the gateway is --endpoint)",
                                    a.value()
                                ));
                            }
                            other => profile
                                .not_used
                                .push(format!("ClusterConnectionParameters@{other}")),
                        }
                    }
                }
                "ApplicationParameterFile" => {
                    let path = element
                        .attribute("Path")
                        .filter(|p| !p.trim().is_empty())
                        .ok_or_else(|| bad(file, "ApplicationParameterFile with a Path"))?;
                    // Written on Windows, with `\`; relative to the profile's folder.
                    let relative: PathBuf = path.split(['\\', '/']).collect();
                    let base = file.parent().unwrap_or(Path::new(""));
                    profile.parameter_file = Some(base.join(relative));
                }
                "CopyPackageParameters" => {
                    for a in element.attributes() {
                        match a.name() {
                            "CompressPackage" => {
                                profile.compress_package =
                                    Some(boolean(file, "CompressPackage", a.value())?)
                            }
                            other => profile
                                .not_used
                                .push(format!("CopyPackageParameters@{other}")),
                        }
                    }
                }
                "UpgradeDeployment" => {
                    if let Some(v) = element.attribute("Enabled") {
                        profile.upgrade_enabled = Some(boolean(file, "Enabled", v)?);
                    }
                    if let Some(v) = element.attribute("Mode") {
                        profile.upgrade.mode = Some(match v.trim().to_ascii_lowercase().as_str() {
                            "monitored" => RollingUpgradeMode::Monitored,
                            "unmonitoredauto" => RollingUpgradeMode::UnmonitoredAuto,
                            "unmonitoredmanual" => RollingUpgradeMode::UnmonitoredManual,
                            _ => {
                                return Err(bad(
                                    file,
                                    format!(
                                        "UpgradeDeployment Mode Monitored, UnmonitoredAuto or UnmonitoredManual, not {v:?}"
                                    ),
                                ));
                            }
                        });
                    }
                    if let Some(parameters) = element.children().find(|n| named(*n, "Parameters")) {
                        read_upgrade_parameters(file, parameters, &mut profile, &mut policy)?;
                    }
                }
                other => profile.not_used.push(other.to_string()),
            }
        }
        profile.upgrade.health_policy = policy;
        Ok(profile)
    }
}

fn read_upgrade_parameters(
    file: &Path,
    parameters: roxmltree::Node<'_, '_>,
    profile: &mut PublishProfile,
    policy: &mut Option<HealthPolicy>,
) -> Result<()> {
    let upgrade = &mut profile.upgrade;
    for a in parameters.attributes() {
        let (name, value) = (a.name(), a.value());
        match name {
            "FailureAction" => {
                upgrade.failure_action = Some(match value.trim().to_ascii_lowercase().as_str() {
                    "rollback" => FailureAction::Rollback,
                    "manual" => FailureAction::Manual,
                    _ => {
                        return Err(bad(
                            file,
                            format!("FailureAction Rollback or Manual, not {value:?}"),
                        ));
                    }
                })
            }
            "ForceRestart" => upgrade.force_restart = Some(boolean(file, name, value)?),
            // The PowerShell cmdlets' confirmation switch: nothing to confirm here.
            "Force" => {
                boolean(file, name, value)?;
            }
            "UpgradeReplicaSetCheckTimeoutSec" => {
                upgrade.replica_set_check_timeout = Some(seconds(file, name, value)?)
            }
            "HealthCheckWaitDurationSec" => {
                upgrade.health_check_wait = Some(seconds(file, name, value)?)
            }
            "HealthCheckStableDurationSec" => {
                upgrade.health_check_stable = Some(seconds(file, name, value)?)
            }
            "HealthCheckRetryTimeoutSec" => {
                upgrade.health_check_retry = Some(seconds(file, name, value)?)
            }
            "UpgradeDomainTimeoutSec" => {
                upgrade.upgrade_domain_timeout = Some(seconds(file, name, value)?)
            }
            "UpgradeTimeoutSec" => upgrade.upgrade_timeout = Some(seconds(file, name, value)?),
            "ConsiderWarningAsError" => {
                policy
                    .get_or_insert_with(HealthPolicy::default)
                    .consider_warning_as_error = boolean(file, name, value)?
            }
            "MaxPercentUnhealthyDeployedApplications" => {
                policy
                    .get_or_insert_with(HealthPolicy::default)
                    .max_percent_unhealthy_deployed_applications = percent(file, name, value)?
            }
            "DefaultServiceTypeHealthPolicy" => {
                policy
                    .get_or_insert_with(HealthPolicy::default)
                    .default_service_type = Some(service_type_policy(file, value)?)
            }
            other => profile
                .not_used
                .push(format!("UpgradeDeployment/Parameters@{other}")),
        }
    }
    Ok(())
}

/// An application parameters file (`ApplicationParameters/Cloud.xml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParameterFile {
    /// `Name`: the application's name.
    pub application: Option<String>,
    pub parameters: Vec<(String, String)>,
}

impl ParameterFile {
    pub fn read(file: &Path) -> Result<Self> {
        let bad = |expected: &str| Error::invalid("parameters file", file.display(), expected);
        let text = read_text(file, "parameters file")?;
        let doc = roxmltree::Document::parse(&text)
            .map_err(|e| bad(&format!("well-formed XML ({e})")))?;
        let root = doc.root_element();
        if !named(root, "Application") {
            return Err(bad("an <Application> document with <Parameters>"));
        }
        let mut parameters = Vec::new();
        for p in root
            .children()
            .filter(|n| named(*n, "Parameters"))
            .flat_map(|p| p.children().filter(|n| named(*n, "Parameter")))
        {
            let name = p
                .attribute("Name")
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| bad("every <Parameter> with a Name"))?;
            let value = p
                .attribute("Value")
                .ok_or_else(|| bad(&format!("a Value for parameter {name}")))?;
            parameters.push((name.to_string(), value.to_string()));
        }
        Ok(Self {
            application: root
                .attribute("Name")
                .filter(|n| !n.trim().is_empty())
                .map(str::to_string),
            parameters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let file = dir.join(name);
        fs::write(&file, text).expect("write");
        file
    }

    #[test]
    fn reads_the_cloud_profile_of_the_docs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(
            dir.path(),
            "Cloud.xml",
            r#"<?xml version="1.0" encoding="utf-8"?>
<PublishProfile xmlns="http://schemas.microsoft.com/2015/05/fabrictools">
  <ClusterConnectionParameters ConnectionEndpoint="mycluster.westus.cloudapp.azure.com:19000"
                               X509Credential="true" ServerCertThumbprint="0123ab" FindType="FindByThumbprint"
                               FindValue="4567" StoreLocation="CurrentUser" StoreName="My" />
  <ApplicationParameterFile Path="..\ApplicationParameters\Cloud.xml" />
  <CopyPackageParameters CompressPackage="true" />
  <UpgradeDeployment Mode="Monitored" Enabled="true">
    <Parameters FailureAction="Rollback" Force="True" HealthCheckStableDurationSec="60"
                UpgradeDomainTimeoutSec="1200" UpgradeTimeoutSec="3000" DefaultServiceTypeHealthPolicy="10,20,30" />
  </UpgradeDeployment>
</PublishProfile>"#,
        );
        let p = PublishProfile::read(&file).expect("reads");
        assert_eq!(
            p.parameter_file,
            Some(
                dir.path()
                    .join("..")
                    .join("ApplicationParameters")
                    .join("Cloud.xml")
            )
        );
        assert_eq!(p.server_cert_thumbprint.as_deref(), Some("0123ab"));
        assert_eq!(p.compress_package, Some(true));
        assert_eq!(p.upgrade_enabled, Some(true));
        assert_eq!(p.upgrade.mode, Some(RollingUpgradeMode::Monitored));
        assert_eq!(p.upgrade.failure_action, Some(FailureAction::Rollback));
        assert_eq!(p.upgrade.health_check_stable, Some(Duration::from_secs(60)));
        assert_eq!(p.upgrade.upgrade_timeout, Some(Duration::from_secs(3000)));
        let service = p
            .upgrade
            .health_policy
            .and_then(|h| h.default_service_type)
            .expect("policy");
        assert_eq!(service.max_percent_unhealthy_replicas_per_partition, 30);
        assert!(
            p.not_used.iter().any(|n| n.contains("FindValue")),
            "{:?}",
            p.not_used
        );
    }

    #[test]
    fn refuses_a_value_it_cannot_read_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(
            dir.path(),
            "Bad.xml",
            r#"<PublishProfile><UpgradeDeployment Mode="Sometimes" /></PublishProfile>"#,
        );
        let e = PublishProfile::read(&file).expect_err("refused");
        assert!(e.to_string().contains("Sometimes"), "{e}");
        let file = write(
            dir.path(),
            "Bad2.xml",
            r#"<PublishProfile><UpgradeDeployment><Parameters UpgradeTimeoutSec="ten" /></UpgradeDeployment></PublishProfile>"#,
        );
        let e = PublishProfile::read(&file).expect_err("refused");
        assert!(e.to_string().contains("UpgradeTimeoutSec"), "{e}");
    }

    #[test]
    fn reads_a_parameters_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(
            dir.path(),
            "Cloud.xml",
            r#"<Application xmlns="http://schemas.microsoft.com/2011/01/fabric" Name="fabric:/Shop"><Parameters><Parameter Name="Web_InstanceCount" Value="-1" /></Parameters></Application>"#,
        );
        let p = ParameterFile::read(&file).expect("reads");
        assert_eq!(p.application.as_deref(), Some("fabric:/Shop"));
        assert_eq!(
            p.parameters,
            vec![("Web_InstanceCount".into(), "-1".into())]
        );
    }
}
