//! Applications and their upgrades, kept in `applications.json`: create (checked against the
//! type's manifest), read, list, delete, services from the manifest's default services,
//! health steered by the emulator's health rules, and the upgrade operations.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::{
    application_types::{AppTypes, DefaultService, write_atomically},
    upgrades::{Outcome, Phase, Request, Upgrade},
};
use crate::{
    fabric_error::{Code, FabricError},
    image_store::sessions::now_ms,
};

/// What makes an application report a health state: `TYPE@VERSION=STATE[:from=UDn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthRule {
    pub type_name: String,
    pub version: String,
    pub state: String,
    /// From which domain an application upgrading to the version reports it.
    pub from_domain: Option<usize>,
}

/// Emulated time an upgrade takes to be set up: the same start again meanwhile gets 409.
const SETUP_MS: f64 = 1_000.0;

/// The Cluster Manager's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub upgrade_domains: usize,
    pub time_scale: f64,
    pub health: Vec<HealthRule>,
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct App {
    pub name: String,
    pub type_name: String,
    pub type_version: String,
    /// The parameters given (the rest take the manifest's defaults).
    pub parameters: BTreeMap<String, String>,
    /// The latest upgrade, running or ended.
    pub upgrade: Option<Upgrade>,
}

impl App {
    pub fn status(&self) -> &'static str {
        match &self.upgrade {
            Some(u) if !u.is_terminal() => "Upgrading",
            _ => "Ready",
        }
    }
}

/// The applications.
#[derive(Debug)]
pub(crate) struct Applications {
    file: PathBuf,
    apps: BTreeMap<String, App>,
    settings: Settings,
}

/// The wire id of a name: `fabric:/shop/orders` is `shop~orders`.
pub(crate) fn application_id(name: &str) -> String {
    name.strip_prefix("fabric:/")
        .unwrap_or(name)
        .replace('/', "~")
}

fn not_found(name: &str) -> FabricError {
    FabricError::new(
        Code::ApplicationNotFound,
        format!("Application '{name}' not found."),
    )
}

fn type_not_found(type_name: &str, version: &str) -> FabricError {
    FabricError::new(
        Code::ApplicationTypeNotFound,
        format!("Application type and version not found: {type_name} {version}"),
    )
}

/// Checks parameters against the type's declared ones, case-insensitively, as the image
/// builder does; `_WFDebugParams_` is exempt.
fn check_parameters(
    declared: &[(String, String)],
    given: &BTreeMap<String, String>,
) -> Result<(), FabricError> {
    for key in given.keys() {
        let known =
            key == "_WFDebugParams_" || declared.iter().any(|(d, _)| d.eq_ignore_ascii_case(key));
        if !known {
            return Err(FabricError::new(
                Code::ImageBuilderValidationError,
                format!("Parameter '{key}' is not defined in the ApplicationManifest file."),
            ));
        }
    }
    Ok(())
}

impl Applications {
    pub fn open(data_dir: &Path, settings: Settings) -> io::Result<Self> {
        let file = data_dir.join("applications.json");
        let apps: Vec<App> = fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Ok(Self {
            file,
            apps: apps.into_iter().map(|a| (a.name.clone(), a)).collect(),
            settings,
        })
    }

    fn save(&self) -> Result<(), FabricError> {
        let apps: Vec<&App> = self.apps.values().collect();
        let bytes = serde_json::to_vec(&apps).map_err(|_| FabricError::of(Code::Fail))?;
        write_atomically(&self.file, &bytes).map_err(FabricError::io)
    }

    /// Whether an application of `type_name` is unhealthy now, by the health rules.
    fn unhealthy(&self, type_name: &str, version: &str, domains_started: Option<usize>) -> bool {
        self.health_state(type_name, version, domains_started) == "Error"
    }

    /// The state an application reports: a rule for the version it runs, or for the version
    /// it upgrades to once the rule's domain started.
    pub fn health_state(
        &self,
        type_name: &str,
        version: &str,
        domains_started: Option<usize>,
    ) -> &str {
        self.settings
            .health
            .iter()
            .find(|r| {
                r.type_name == type_name
                    && r.version == version
                    && match domains_started {
                        None => true,
                        Some(started) => started > r.from_domain.unwrap_or(0),
                    }
            })
            .map_or("Ok", |r| r.state.as_str())
    }

    /// Brings every upgrade to now and applies what ended.
    pub fn advance(&mut self, types: &AppTypes) {
        let now = now_ms();
        let scale = self.settings.time_scale;
        let mut changed = false;
        let names: Vec<String> = self.apps.keys().cloned().collect();
        for name in names {
            while let Some(app) = self.apps.get(&name) {
                let Some(mut upgrade) = app.upgrade.clone() else {
                    break;
                };
                let type_name = app.type_name.clone();
                let outcome = upgrade.advance(now, scale, &|version, started| {
                    self.unhealthy(&type_name, version, Some(started))
                });
                let before = app.upgrade.as_ref();
                if before != Some(&upgrade) {
                    changed = true;
                }
                let Some(app) = self.apps.get_mut(&name) else {
                    break;
                };
                match outcome {
                    Some(Outcome::Completed) => {
                        app.type_version = upgrade.request.target_version.clone();
                        app.parameters = upgrade.request.parameters.clone();
                        app.upgrade = Some(upgrade);
                    }
                    Some(Outcome::RolledBack) => {
                        let queued = upgrade.queued.take();
                        let ended = upgrade.ended_ms.unwrap_or(now);
                        app.upgrade = Some(upgrade);
                        if let Some(request) = queued
                            && types.get(&app.type_name, &request.target_version).is_some()
                        {
                            let next = Upgrade::start(
                                request,
                                &app.type_version,
                                &app.parameters,
                                self.settings.upgrade_domains,
                                ended,
                            );
                            app.upgrade = Some(next);
                            continue;
                        }
                    }
                    None => app.upgrade = Some(upgrade),
                }
                break;
            }
        }
        if changed {
            let _ = self.save();
        }
    }

    pub fn get(&self, name: &str) -> Option<&App> {
        self.apps.get(name)
    }

    /// Applications in name order, after `after`, of `type_name` when given.
    pub fn list<'a>(
        &'a self,
        type_name: Option<&'a str>,
        after: Option<&'a str>,
    ) -> impl Iterator<Item = &'a App> + 'a {
        self.apps
            .values()
            .filter(move |a| after.is_none_or(|after| a.name.as_str() > after))
            .filter(move |a| type_name.is_none_or(|t| a.type_name == t))
    }

    /// Whether an application runs `version` of the type, or an unfinished upgrade targets it.
    pub fn uses(&self, type_name: &str, version: &str) -> bool {
        self.apps.values().any(|a| {
            a.type_name == type_name
                && (a.type_version == version
                    || a.upgrade.as_ref().is_some_and(|u| {
                        !u.is_terminal()
                            && (u.request.target_version == version
                                || u.queued
                                    .as_ref()
                                    .is_some_and(|q| q.target_version == version))
                    }))
        })
    }

    pub fn create(
        &mut self,
        types: &AppTypes,
        name: &str,
        type_name: &str,
        version: &str,
        parameters: BTreeMap<String, String>,
    ) -> Result<(), FabricError> {
        let record = types
            .get(type_name, version)
            .ok_or_else(|| type_not_found(type_name, version))?;
        if self.apps.contains_key(name) {
            return Err(FabricError::new(
                Code::ApplicationAlreadyExists,
                format!("Application '{name}' already exists."),
            ));
        }
        check_parameters(&record.parameters, &parameters)?;
        self.apps.insert(
            name.to_string(),
            App {
                name: name.to_string(),
                type_name: type_name.to_string(),
                type_version: version.to_string(),
                parameters,
                upgrade: None,
            },
        );
        if let Err(e) = self.save() {
            self.apps.remove(name);
            return Err(e);
        }
        Ok(())
    }

    /// Deletes an application; a running upgrade fails with it.
    pub fn delete(&mut self, name: &str) -> Result<App, FabricError> {
        let app = self.apps.remove(name).ok_or_else(|| not_found(name))?;
        if let Err(e) = self.save() {
            self.apps.insert(name.to_string(), app);
            return Err(e);
        }
        Ok(app)
    }

    /// The default services of an application, from its type's manifest.
    pub fn services<'a>(
        &self,
        types: &'a AppTypes,
        name: &str,
    ) -> Result<&'a [DefaultService], FabricError> {
        let app = self.apps.get(name).ok_or_else(|| not_found(name))?;
        Ok(types
            .get(&app.type_name, &app.type_version)
            .map_or(&[][..], |t| t.services.as_slice()))
    }

    /// The health state an application reports now.
    pub fn health(&self, name: &str) -> Result<&str, FabricError> {
        let app = self.apps.get(name).ok_or_else(|| not_found(name))?;
        Ok(match &app.upgrade {
            Some(u) if !u.is_terminal() && !u.state.starts_with("RollingBack") => self
                .health_state(
                    &app.type_name,
                    &u.request.target_version,
                    Some(u.domains_started()),
                ),
            _ => self.health_state(&app.type_name, &app.type_version, None),
        })
    }

    /// StartApplicationUpgrade, once the gateway has read the description.
    pub fn start_upgrade(
        &mut self,
        types: &AppTypes,
        name: &str,
        request: Request,
    ) -> Result<(), FabricError> {
        let domains = self.settings.upgrade_domains;
        let app = self.apps.get(name).ok_or_else(|| not_found(name))?;
        let record = types
            .get(&app.type_name, &request.target_version)
            .ok_or_else(|| type_not_found(&app.type_name, &request.target_version))?;
        check_parameters(&record.parameters, &request.parameters)?;
        let now = now_ms();
        let running = app.upgrade.as_ref().filter(|u| !u.is_terminal());
        let next = match running {
            // The same description again changes nothing, unless the first is still being set
            // up.
            Some(u) if u.request == request || u.queued.as_ref() == Some(&request) => {
                let setting_up =
                    ((now - u.started_ms) as f64 * self.settings.time_scale) < SETUP_MS;
                if setting_up && u.queued.is_none() {
                    return Err(FabricError::new(
                        Code::ApplicationUpgradeInProgress,
                        format!("An upgrade of application '{name}' is being set up."),
                    ));
                }
                return Ok(());
            }
            // Another one interrupts the running upgrade, rolls it back, then runs.
            Some(u) => {
                let mut u = u.clone();
                if !u.state.starts_with("RollingBack") {
                    u.failure_reason = "Interrupted".into();
                    u.failure_ms = Some(now);
                    u.roll_back(now);
                }
                u.status_details = format!(
                    "Upgrade will restart with target version '{}' after rollback completes",
                    request.target_version
                );
                u.queued = Some(request);
                u
            }
            None => {
                if request.target_version == app.type_version
                    && request.parameters == app.parameters
                {
                    return Err(FabricError::new(
                        Code::ApplicationAlreadyInTargetVersion,
                        format!(
                            "Application '{name}' is already at version '{}' with these parameters.",
                            app.type_version
                        ),
                    ));
                }
                Upgrade::start(request, &app.type_version, &app.parameters, domains, now)
            }
        };
        self.replace_upgrade(name, next)
    }

    fn running(&self, name: &str) -> Result<&Upgrade, FabricError> {
        let app = self.apps.get(name).ok_or_else(|| not_found(name))?;
        app.upgrade
            .as_ref()
            .filter(|u| !u.is_terminal())
            .ok_or_else(|| {
                FabricError::new(
                    Code::ApplicationNotUpgrading,
                    format!("Application '{name}' is not being upgraded."),
                )
            })
    }

    fn replace_upgrade(&mut self, name: &str, upgrade: Upgrade) -> Result<(), FabricError> {
        let app = self.apps.get_mut(name).ok_or_else(|| not_found(name))?;
        let before = app.upgrade.replace(upgrade);
        if let Err(e) = self.save() {
            if let Some(app) = self.apps.get_mut(name) {
                app.upgrade = before;
            }
            return Err(e);
        }
        Ok(())
    }

    /// RollbackApplicationUpgrade.
    pub fn rollback(&mut self, name: &str) -> Result<(), FabricError> {
        let mut upgrade = self.running(name)?.clone();
        if !upgrade.state.starts_with("RollingBack") {
            upgrade.roll_back(now_ms());
        }
        upgrade.queued = None;
        self.replace_upgrade(name, upgrade)
    }

    /// ResumeApplicationUpgrade: `domain` must be the upgrade's next domain.
    pub fn resume(&mut self, name: &str, domain: &str) -> Result<(), FabricError> {
        let mut upgrade = self.running(name)?.clone();
        if upgrade
            .domains
            .iter()
            .any(|d| d.0 == domain && d.1 == "Completed")
        {
            return Err(FabricError::new(
                Code::UpgradeDomainAlreadyCompleted,
                format!("Upgrade domain '{domain}' is already completed."),
            ));
        }
        let Phase::Waiting { next } = upgrade.phase else {
            return Err(FabricError::invalid_arg());
        };
        if upgrade.domains.get(next).map(|d| d.0.as_str()) != Some(domain) {
            return Err(FabricError::invalid_arg());
        }
        upgrade.resume(next, now_ms());
        self.replace_upgrade(name, upgrade)
    }

    /// UpdateApplicationUpgrade: `update` changes the running upgrade's policy.
    pub fn update(
        &mut self,
        name: &str,
        update: impl FnOnce(&mut Upgrade),
    ) -> Result<(), FabricError> {
        let mut upgrade = self.running(name)?.clone();
        update(&mut upgrade);
        self.replace_upgrade(name, upgrade)
    }
}
