//! Rolling upgrades of an application: start, follow, steer (update, resume), roll back.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;

use crate::{
    Client, Error, Result, duration,
    generated::types,
    open_enum::open_enum,
    ops::{
        applications::{parameters_from_wire, parameters_to_wire},
        health_policy::HealthPolicy,
    },
    paths,
    transport::{answer::Answer, call::Resend},
};

open_enum! {
    /// Where an upgrade stands. `RollingBackPending` is sent by the runtime although the
    /// published enum lacks it.
    UpgradeState {
        /// Upgrading a domain.
        RollingForwardInProgress = "RollingForwardInProgress",
        /// Between domains: health checks, or waiting for a resume.
        RollingForwardPending = "RollingForwardPending",
        /// Done: every domain runs the target version.
        RollingForwardCompleted = "RollingForwardCompleted",
        /// Rolling back a domain.
        RollingBackInProgress = "RollingBackInProgress",
        /// Rolling back, between domains.
        RollingBackPending = "RollingBackPending",
        /// Rolled back (also an interrupted upgrade).
        RollingBackCompleted = "RollingBackCompleted",
        /// Failed.
        Failed = "Failed",
        /// The runtime did not say.
        Invalid = "Invalid",
    }
}

impl UpgradeState {
    /// Whether the upgrade has ended (forward, back, or failed).
    ///
    /// ```
    /// # use servicefabric_rest::UpgradeState;
    /// assert!(UpgradeState::RollingBackCompleted.is_terminal());
    /// assert!(!UpgradeState::RollingBackPending.is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::RollingForwardCompleted | Self::RollingBackCompleted | Self::Failed
        )
    }
}

open_enum! {
    /// How a rolling upgrade proceeds.
    RollingUpgradeMode {
        /// Health-checked after each domain; the failure action on a failed check or timeout.
        Monitored = "Monitored",
        /// Every domain in turn, without health checks or pauses.
        UnmonitoredAuto = "UnmonitoredAuto",
        /// A pause after each domain until [`Client::resume_application_upgrade`].
        UnmonitoredManual = "UnmonitoredManual",
        /// 9.x: deferred.
        UnmonitoredDeferred = "UnmonitoredDeferred",
        /// An application never upgraded.
        Invalid = "Invalid",
    }
}

open_enum! {
    /// What a Monitored upgrade does when a health check or a timeout fails.
    FailureAction {
        /// Roll back (the mode becomes UnmonitoredAuto for the way back).
        Rollback = "Rollback",
        /// Stop and wait (the mode becomes UnmonitoredManual).
        Manual = "Manual",
        /// The runtime did not say.
        Invalid = "Invalid",
    }
}

open_enum! {
    /// Where an upgrade domain stands.
    UpgradeDomainState {
        /// Not started.
        Pending = "Pending",
        /// Being upgraded.
        InProgress = "InProgress",
        /// Done.
        Completed = "Completed",
        /// The runtime did not say.
        Invalid = "Invalid",
    }
}

open_enum! {
    /// Why an upgrade failed.
    FailureReason {
        /// It did not fail.
        None = "None",
        /// Another upgrade interrupted it.
        Interrupted = "Interrupted",
        /// A health check failed.
        HealthCheck = "HealthCheck",
        /// A domain took longer than its timeout.
        UpgradeDomainTimeout = "UpgradeDomainTimeout",
        /// The upgrade took longer than its timeout.
        OverallUpgradeTimeout = "OverallUpgradeTimeout",
    }
}

/// An upgrade to start; see [`Client::start_application_upgrade`]. Build it with
/// [`UpgradeRequest::new`]: a Monitored upgrade that rolls back on failure, with the runtime's
/// default health-check durations.
///
/// ```
/// use std::time::Duration;
/// use servicefabric_rest::{RollingUpgradeMode, UpgradeRequest};
///
/// let mut request = UpgradeRequest::new("2.0.0");
/// request.parameters.insert("Web_InstanceCount".into(), "3".into());
/// request.health_check_stable = Some(Duration::from_secs(60));
/// request.mode = RollingUpgradeMode::UnmonitoredAuto;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeRequest {
    /// The version to upgrade to; it must be provisioned.
    pub target_version: String,
    /// The application's whole parameter set after the upgrade: a parameter left out reverts
    /// to the manifest's default.
    pub parameters: BTreeMap<String, String>,
    /// How the upgrade proceeds (default Monitored).
    pub mode: RollingUpgradeMode,
    /// Monitored only: what a failure does (default Rollback).
    pub failure_action: FailureAction,
    /// Wait after a domain before health checks start.
    pub health_check_wait: Option<Duration>,
    /// How long the application must stay healthy.
    pub health_check_stable: Option<Duration>,
    /// How long it may stay unhealthy before the failure action.
    pub health_check_retry: Option<Duration>,
    /// Time for the whole upgrade.
    pub upgrade_timeout: Option<Duration>,
    /// Time for one domain.
    pub upgrade_domain_timeout: Option<Duration>,
    /// How long to wait for replica-set safety before a domain (whole seconds; `None` is the
    /// runtime's default, which is forever).
    pub replica_set_check_timeout: Option<Duration>,
    /// Restart processes even when only configuration or data changed.
    pub force_restart: bool,
    /// How the application is judged healthy (`None`: the manifest's policy).
    pub health_policy: Option<HealthPolicy>,
}

impl UpgradeRequest {
    /// A Monitored upgrade to `target_version` that rolls back on failure, with no
    /// parameters (every one takes the manifest's default).
    pub fn new(target_version: impl Into<String>) -> Self {
        Self {
            target_version: target_version.into(),
            parameters: BTreeMap::new(),
            mode: RollingUpgradeMode::Monitored,
            failure_action: FailureAction::Rollback,
            health_check_wait: None,
            health_check_stable: None,
            health_check_retry: None,
            upgrade_timeout: None,
            upgrade_domain_timeout: None,
            replica_set_check_timeout: None,
            force_restart: false,
            health_policy: None,
        }
    }

    fn to_wire(&self, name: String) -> types::ApplicationUpgradeDescription {
        let ms = |d: Option<Duration>| d.map(duration::format);
        let monitored = self.mode == RollingUpgradeMode::Monitored;
        types::ApplicationUpgradeDescription {
            application_health_policy: self.health_policy.as_ref().map(HealthPolicy::to_wire),
            force_restart: self.force_restart.then_some(true),
            monitoring_policy: monitored.then(|| types::MonitoringPolicyDescription {
                failure_action: Some(self.failure_action.as_str().to_string()),
                health_check_retry_timeout_in_milliseconds: ms(self.health_check_retry),
                health_check_stable_duration_in_milliseconds: ms(self.health_check_stable),
                health_check_wait_duration_in_milliseconds: ms(self.health_check_wait),
                upgrade_domain_timeout_in_milliseconds: ms(self.upgrade_domain_timeout),
                upgrade_timeout_in_milliseconds: ms(self.upgrade_timeout),
            }),
            name,
            parameters: parameters_to_wire(&self.parameters),
            rolling_upgrade_mode: Some(self.mode.as_str().to_string()),
            // What the official clients send.
            sort_order: Some("Default".to_string()),
            target_application_type_version: self.target_version.clone(),
            upgrade_kind: "Rolling".to_string(),
            upgrade_replica_set_check_timeout_in_seconds: self
                .replica_set_check_timeout
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

/// Changes to a running upgrade; see [`Client::update_application_upgrade`]. Fields left
/// `None` stay as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeUpdate {
    /// The mode from now on (the gateway requires it).
    pub mode: RollingUpgradeMode,
    /// The failure action from now on.
    pub failure_action: Option<FailureAction>,
    /// Health-check wait.
    pub health_check_wait: Option<Duration>,
    /// Health-check stable duration.
    pub health_check_stable: Option<Duration>,
    /// Health-check retry timeout.
    pub health_check_retry: Option<Duration>,
    /// Overall timeout.
    pub upgrade_timeout: Option<Duration>,
    /// Domain timeout.
    pub upgrade_domain_timeout: Option<Duration>,
    /// Restart processes even when only configuration or data changed.
    pub force_restart: Option<bool>,
}

impl UpgradeUpdate {
    /// An update that sets the mode and leaves everything else as it is.
    ///
    /// ```
    /// # use servicefabric_rest::{RollingUpgradeMode, UpgradeUpdate};
    /// let update = UpgradeUpdate::new(RollingUpgradeMode::UnmonitoredAuto);
    /// ```
    pub fn new(mode: RollingUpgradeMode) -> Self {
        Self {
            mode,
            failure_action: None,
            health_check_wait: None,
            health_check_stable: None,
            health_check_retry: None,
            upgrade_timeout: None,
            upgrade_domain_timeout: None,
            force_restart: None,
        }
    }
}

/// An upgrade domain and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeDomain {
    /// Its name (`UD0`).
    pub name: String,
    /// Where it stands.
    pub state: UpgradeDomainState,
}

/// A node of a domain being upgraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProgress {
    /// The node.
    pub node: String,
    /// `PreUpgradeSafetyCheck`, `Upgrading`, `PostUpgradeSafetyCheck`, as the gateway wrote it.
    pub phase: String,
    /// Safety checks it waits for.
    pub pending_safety_checks: usize,
}

/// A domain's progress: its nodes and their phases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainProgress {
    /// The domain.
    pub domain: String,
    /// Its nodes.
    pub nodes: Vec<NodeProgress>,
}

/// An application's latest upgrade and where it stands, from `GetApplicationUpgrade`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UpgradeProgress {
    /// The application.
    pub name: String,
    /// Its type.
    pub type_name: String,
    /// The version upgraded to (during a rollback, the old version).
    pub target_version: String,
    /// The mode (Invalid for an application never upgraded).
    pub mode: RollingUpgradeMode,
    /// Where the upgrade stands.
    pub state: UpgradeState,
    /// The domains in the gateway's order: the one in progress, the pending ones, the
    /// completed ones.
    pub domains: Vec<UpgradeDomain>,
    /// The next domain to upgrade (a manual upgrade names it to go on).
    pub next_domain: Option<String>,
    /// The domain being upgraded, with its nodes' phases.
    pub current_domain: Option<DomainProgress>,
    /// Why it failed, when it did.
    pub failure_reason: Option<FailureReason>,
    /// When it failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// The domain's progress when it failed.
    pub domain_progress_at_failure: Option<DomainProgress>,
    /// Why the last health check failed, as the gateway wrote it (polymorphic JSON).
    pub unhealthy_evaluations: Vec<serde_json::Value>,
    /// What the upgrade is doing, in words.
    pub status_details: String,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// Time the upgrade has taken.
    pub upgrade_duration: Duration,
    /// Time the current domain has taken.
    pub domain_duration: Duration,
    /// The parameters the upgrade sets, when the gateway sent its description.
    pub parameters: Option<BTreeMap<String, String>>,
}

impl UpgradeProgress {
    /// Whether the upgrade has ended; see [`UpgradeState::is_terminal`].
    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }

    /// Whether no upgrade has ever run: the runtime answers such an application with
    /// `RollingForwardCompleted`, mode `Invalid`, no domains and zero durations, which would
    /// otherwise read as "an upgrade to this version completed".
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let progress = client.application_upgrade("fabric:/shop").await?;
    /// if progress.never_upgraded() {
    ///     println!("running {} since it was created", progress.target_version);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn never_upgraded(&self) -> bool {
        self.state == UpgradeState::RollingForwardCompleted
            && self.mode == RollingUpgradeMode::Invalid
            && self.domains.is_empty()
            && self.upgrade_duration.is_zero()
    }

    fn from_wire(raw: types::ApplicationUpgradeProgressInfo) -> Result<Self, String> {
        let duration = |field: &str, value: Option<String>| -> Result<Duration, String> {
            match value.filter(|v| !v.is_empty()) {
                None => Ok(Duration::ZERO),
                Some(v) => {
                    duration::parse(&v).map_err(|_| format!("{field}: not a duration: {v:?}"))
                }
            }
        };
        let domain = |name: Option<String>, nodes: Vec<types::NodeUpgradeProgressInfo>| {
            name.filter(|n| !n.is_empty()).map(|domain| DomainProgress {
                domain,
                nodes: nodes
                    .into_iter()
                    .map(|n| NodeProgress {
                        node: n.node_name.unwrap_or_default(),
                        phase: n.upgrade_phase.unwrap_or_default(),
                        pending_safety_checks: n.pending_safety_checks.len(),
                    })
                    .collect(),
            })
        };
        let failure_reason = raw
            .failure_reason
            .as_deref()
            .map(FailureReason::from_wire)
            .filter(|r| *r != FailureReason::None);
        Ok(Self {
            name: raw.name.unwrap_or_default(),
            type_name: raw.type_name.unwrap_or_default(),
            target_version: raw.target_application_type_version.unwrap_or_default(),
            mode: RollingUpgradeMode::from_wire(
                raw.rolling_upgrade_mode.as_deref().unwrap_or("Invalid"),
            ),
            state: UpgradeState::from_wire(raw.upgrade_state.as_deref().unwrap_or("Invalid")),
            domains: raw
                .upgrade_domains
                .into_iter()
                .map(|d| UpgradeDomain {
                    name: d.name.unwrap_or_default(),
                    state: UpgradeDomainState::from_wire(d.state.as_deref().unwrap_or("Invalid")),
                })
                .collect(),
            next_domain: raw.next_upgrade_domain.filter(|d| !d.is_empty()),
            current_domain: raw
                .current_upgrade_domain_progress
                .and_then(|p| domain(p.domain_name, p.node_upgrade_progress_list)),
            failure_reason,
            failed_at: timestamp("FailureTimestampUtc", raw.failure_timestamp_utc)?,
            domain_progress_at_failure: raw
                .upgrade_domain_progress_at_failure
                .and_then(|p| domain(p.domain_name, p.node_upgrade_progress_list)),
            unhealthy_evaluations: raw
                .unhealthy_evaluations
                .into_iter()
                .map(|w| serde_json::Value::Object(w.health_evaluation))
                .collect(),
            status_details: raw.upgrade_status_details.unwrap_or_default(),
            started_at: timestamp("StartTimestampUtc", raw.start_timestamp_utc)?,
            upgrade_duration: duration(
                "UpgradeDurationInMilliseconds",
                raw.upgrade_duration_in_milliseconds,
            )?,
            domain_duration: duration(
                "UpgradeDomainDurationInMilliseconds",
                raw.upgrade_domain_duration_in_milliseconds,
            )?,
            parameters: raw
                .upgrade_description
                .map(|d| parameters_from_wire(d.parameters)),
        })
    }
}

/// A timestamp; the runtime's "none" (`0001-01-01T00:00:00.000Z`) and an empty one are `None`.
fn timestamp(field: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    match value.filter(|v| !v.is_empty() && !v.starts_with("0001-01-01")) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(&v)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|e| format!("{field}: expected an RFC 3339 date-time, got {v:?} ({e})")),
    }
}

fn about(name: &str) -> impl Fn() -> String + '_ {
    move || format!("application {name}")
}

impl Client {
    /// Starts upgrading the application `name`. Returns once the gateway accepted the
    /// upgrade (validated and initialised), not when it completes: follow it with
    /// [`Self::application_upgrade`].
    ///
    /// Not re-sent blindly: after a failure whose outcome is unknown, the upgrade is read back
    /// first; one running or completed toward this version with these parameters means the
    /// start acted. (A start with another description would interrupt the running upgrade.)
    ///
    /// ```no_run
    /// use servicefabric_rest::UpgradeRequest;
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.start_application_upgrade("fabric:/shop", &UpgradeRequest::new("2.0.0")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_application_upgrade(
        &self,
        name: &str,
        request: &UpgradeRequest,
    ) -> Result<()> {
        let id = paths::application_id(name)?;
        if request.target_version.trim().is_empty() {
            return Err(Error::invalid(
                "target version",
                &request.target_version,
                "a non-empty version",
            ));
        }
        let body = request.to_wire(format!("fabric:/{}", paths::name_id(name)?));
        let timeout = self.timeout();
        self.call_checked(
            "StartApplicationUpgrade",
            about(name),
            |raw| {
                let (id, body) = (id.clone(), body.clone());
                async move {
                    raw.start_application_upgrade()
                        .application_id(id)
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
            || async {
                let progress = self.application_upgrade(name).await?;
                Ok(progress.target_version == request.target_version
                    && !progress.never_upgraded()
                    && matches!(
                        progress.state,
                        UpgradeState::RollingForwardInProgress
                            | UpgradeState::RollingForwardPending
                            | UpgradeState::RollingForwardCompleted
                    )
                    && progress
                        .parameters
                        .as_ref()
                        .is_none_or(|p| *p == request.parameters))
            },
        )
        .await
        .map(drop)
    }

    /// The latest upgrade of the application `name` and where it stands.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let progress = client.application_upgrade("fabric:/shop").await?;
    /// let done = progress.domains.iter().filter(|d| d.state.as_str() == "Completed").count();
    /// println!("{}: {done}/{} domains", progress.state, progress.domains.len());
    /// # Ok(()) }
    /// ```
    pub async fn application_upgrade(&self, name: &str) -> Result<UpgradeProgress> {
        let id = paths::application_id(name)?;
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetApplicationUpgrade",
                Resend::Safe,
                about(name),
                move |raw| {
                    let id = id.clone();
                    async move {
                        raw.get_application_upgrade()
                            .application_id(id)
                            .timeout(timeout)
                            .send()
                            .await
                    }
                },
            )
            .await?;
        match answer {
            Answer::Body(raw) => UpgradeProgress::from_wire(raw)
                .map_err(|detail| Error::decode(StatusCode::OK, detail, b"")),
            Answer::Empty => Err(Error::decode(
                StatusCode::OK,
                "empty body, expected an upgrade's progress",
                b"",
            )),
        }
    }

    /// Changes a running upgrade of the application `name`. With none running, the gateway
    /// answers 400 `FABRIC_E_APPLICATION_NOT_UPGRADING`.
    ///
    /// ```no_run
    /// use servicefabric_rest::{RollingUpgradeMode, UpgradeUpdate};
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let update = UpgradeUpdate::new(RollingUpgradeMode::UnmonitoredAuto);
    /// client.update_application_upgrade("fabric:/shop", &update).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_application_upgrade(
        &self,
        name: &str,
        update: &UpgradeUpdate,
    ) -> Result<()> {
        let id = paths::application_id(name)?;
        let ms = |d: Option<Duration>| d.map(duration::format);
        let body = types::ApplicationUpgradeUpdateDescription {
            application_health_policy: None,
            name: format!("fabric:/{}", paths::name_id(name)?),
            update_description: Some(types::RollingUpgradeUpdateDescription {
                failure_action: update
                    .failure_action
                    .as_ref()
                    .map(|a| a.as_str().to_string()),
                force_restart: update.force_restart,
                health_check_retry_timeout_in_milliseconds: ms(update.health_check_retry),
                health_check_stable_duration_in_milliseconds: ms(update.health_check_stable),
                health_check_wait_duration_in_milliseconds: ms(update.health_check_wait),
                replica_set_check_timeout_in_milliseconds: None,
                rolling_upgrade_mode: update.mode.as_str().to_string(),
                upgrade_domain_timeout_in_milliseconds: ms(update.upgrade_domain_timeout),
                upgrade_timeout_in_milliseconds: ms(update.upgrade_timeout),
            }),
            upgrade_kind: "Rolling".to_string(),
        };
        let timeout = self.timeout();
        // Setting the same values twice changes nothing: safe to re-send.
        self.call(
            "UpdateApplicationUpgrade",
            Resend::Safe,
            about(name),
            move |raw| {
                let (id, body) = (id.clone(), body.clone());
                async move {
                    raw.update_application_upgrade()
                        .application_id(id)
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
        )
        .await
        .map(drop)
    }

    /// Starts the next upgrade domain of a manual upgrade of the application `name`; `domain`
    /// must be exactly its [`UpgradeProgress::next_domain`].
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let progress = client.application_upgrade("fabric:/shop").await?;
    /// if let Some(next) = progress.next_domain {
    ///     client.resume_application_upgrade("fabric:/shop", &next).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn resume_application_upgrade(&self, name: &str, domain: &str) -> Result<()> {
        let id = paths::application_id(name)?;
        if domain.trim().is_empty() {
            return Err(Error::invalid(
                "upgrade domain",
                domain,
                "a domain name such as UD1",
            ));
        }
        let body = types::ResumeApplicationUpgradeDescription {
            upgrade_domain_name: domain.to_string(),
        };
        let timeout = self.timeout();
        self.call_checked(
            "ResumeApplicationUpgrade",
            about(name),
            |raw| {
                let (id, body) = (id.clone(), body.clone());
                async move {
                    raw.resume_application_upgrade()
                        .application_id(id)
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
            || async {
                let progress = self.application_upgrade(name).await?;
                Ok(progress.next_domain.as_deref() != Some(domain))
            },
        )
        .await
        .map(drop)
    }

    /// Rolls back an unfinished upgrade of the application `name` to the previous version and
    /// parameters. With none running, the gateway answers 400
    /// `FABRIC_E_APPLICATION_NOT_UPGRADING`.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.rollback_application_upgrade("fabric:/shop").await?;
    /// # Ok(()) }
    /// ```
    pub async fn rollback_application_upgrade(&self, name: &str) -> Result<()> {
        let id = paths::application_id(name)?;
        let timeout = self.timeout();
        self.call_checked(
            "RollbackApplicationUpgrade",
            about(name),
            |raw| {
                let id = id.clone();
                async move {
                    raw.rollback_application_upgrade()
                        .application_id(id)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
            || async {
                let state = self.application_upgrade(name).await?.state;
                Ok(matches!(
                    state,
                    UpgradeState::RollingBackInProgress
                        | UpgradeState::RollingBackPending
                        | UpgradeState::RollingBackCompleted
                ))
            },
        )
        .await
        .map(drop)
    }
}
