//! What a deploy is asked to do ([`DeployOptions`], [`UpgradeSettings`]) and what it tells
//! while it works ([`DeployEvent`]).

use std::{
    collections::BTreeMap,
    fmt,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use servicefabric_rest::{
    FailureAction, HealthPolicy, RollingUpgradeMode, UpgradeProgress, UpgradeRequest,
};

use crate::package::{PackageOptions, PackageProgress};

/// The rolling upgrade's settings. Each is optional: what the caller leaves `None` comes from
/// the publish profile, then from the defaults (Monitored, FailureAction Rollback, the
/// runtime's durations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeSettings {
    /// How the upgrade proceeds (default Monitored).
    pub mode: Option<RollingUpgradeMode>,
    /// What a failed Monitored upgrade does (default Rollback).
    pub failure_action: Option<FailureAction>,
    /// Restart processes even when only configuration or data changed.
    pub force_restart: Option<bool>,
    /// How long to wait for replica-set safety before a domain.
    pub replica_set_check_timeout: Option<Duration>,
    /// Wait after a domain before health checks.
    pub health_check_wait: Option<Duration>,
    /// How long the application must stay healthy.
    pub health_check_stable: Option<Duration>,
    /// How long it may stay unhealthy before the failure action.
    pub health_check_retry: Option<Duration>,
    /// Time for one domain.
    pub upgrade_domain_timeout: Option<Duration>,
    /// Time for the whole upgrade.
    pub upgrade_timeout: Option<Duration>,
    /// How the application is judged healthy (default: the manifest's policy).
    pub health_policy: Option<HealthPolicy>,
}

impl UpgradeSettings {
    /// Each setting from `self`, else from `fallback`.
    pub fn or(self, fallback: UpgradeSettings) -> UpgradeSettings {
        UpgradeSettings {
            mode: self.mode.or(fallback.mode),
            failure_action: self.failure_action.or(fallback.failure_action),
            force_restart: self.force_restart.or(fallback.force_restart),
            replica_set_check_timeout: self
                .replica_set_check_timeout
                .or(fallback.replica_set_check_timeout),
            health_check_wait: self.health_check_wait.or(fallback.health_check_wait),
            health_check_stable: self.health_check_stable.or(fallback.health_check_stable),
            health_check_retry: self.health_check_retry.or(fallback.health_check_retry),
            upgrade_domain_timeout: self
                .upgrade_domain_timeout
                .or(fallback.upgrade_domain_timeout),
            upgrade_timeout: self.upgrade_timeout.or(fallback.upgrade_timeout),
            health_policy: self.health_policy.or(fallback.health_policy),
        }
    }

    /// The upgrade request to `version` with the application's whole parameter set.
    pub(crate) fn request(
        &self,
        version: &str,
        parameters: BTreeMap<String, String>,
    ) -> UpgradeRequest {
        let mut request = UpgradeRequest::new(version);
        request.parameters = parameters;
        request.mode = self.mode.clone().unwrap_or(RollingUpgradeMode::Monitored);
        request.failure_action = self
            .failure_action
            .clone()
            .unwrap_or(FailureAction::Rollback);
        request.force_restart = self.force_restart.unwrap_or(false);
        request.replica_set_check_timeout = self.replica_set_check_timeout;
        request.health_check_wait = self.health_check_wait;
        request.health_check_stable = self.health_check_stable;
        request.health_check_retry = self.health_check_retry;
        request.upgrade_domain_timeout = self.upgrade_domain_timeout;
        request.upgrade_timeout = self.upgrade_timeout;
        request.health_policy = self.health_policy.clone();
        request
    }
}

/// The steps of a deploy, in order; each is announced by [`DeployEvent::Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Reading the package, the parameters and the publish profile.
    Read,
    /// Uploading the package to the image store.
    Upload,
    /// Provisioning the application type version.
    Provision,
    /// Creating the application.
    Create,
    /// Starting the rolling upgrade.
    Upgrade,
    /// Following the upgrade to its end.
    Follow,
    /// Deleting the uploaded package and unprovisioning old versions.
    Cleanup,
}

impl Step {
    /// Its name in events: `read`, `upload`, …
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::Read => "read",
            Step::Upload => "upload",
            Step::Provision => "provision",
            Step::Create => "create",
            Step::Upgrade => "upgrade",
            Step::Follow => "follow",
            Step::Cleanup => "cleanup",
        }
    }
}

/// What a deploy reports as it works.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DeployEvent {
    /// A step begins.
    Step(Step),
    /// The package and its sources are read and checked: what will be deployed where.
    Plan {
        /// The application (`fabric:/…`).
        application: String,
        /// The application type.
        type_name: String,
        /// The version to deploy.
        type_version: String,
    },
    /// A decision or a fact worth a line ("already provisioned", "following the upgrade
    /// already running").
    Note(String),
    /// Bytes and files of the upload, as they are acknowledged.
    Upload(PackageProgress),
    /// The upgrade as last read (every poll, changed or not).
    Upgrade(Box<UpgradeProgress>),
}

/// The callback that receives [`DeployEvent`]s.
#[derive(Clone)]
pub struct DeployEventFn(pub(crate) Arc<dyn Fn(&DeployEvent) + Send + Sync>);

impl DeployEventFn {
    /// Wraps a callback.
    ///
    /// ```
    /// use servicefabric_deploy::{DeployEvent, DeployEventFn};
    /// let events = DeployEventFn::new(|e| if let DeployEvent::Note(text) = e { eprintln!("{text}") });
    /// ```
    pub fn new(callback: impl Fn(&DeployEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(callback))
    }
}

impl fmt::Debug for DeployEventFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeployEventFn")
    }
}

/// What [`ClientExt::deploy`](crate::ClientExt::deploy) is asked to do.
///
/// ```
/// use std::time::Duration;
/// use servicefabric_deploy::DeployOptions;
///
/// let options = DeployOptions {
///     parameters: vec![("Web_InstanceCount".into(), "3".into())],
///     keep_versions: Some(3),
///     ..DeployOptions::default()
/// };
/// ```
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// A Visual Studio publish profile (`PublishProfiles/Cloud.xml`): its parameter file,
    /// upgrade settings and compression.
    pub publish_profile: Option<PathBuf>,
    /// An application parameters file (`ApplicationParameters/Cloud.xml`); else the
    /// profile's `ApplicationParameterFile`.
    pub parameters_file: Option<PathBuf>,
    /// `NAME=VALUE` pairs over the file's values, in order (the last one wins).
    pub parameters: Vec<(String, String)>,
    /// The application (`fabric:/…`); else the parameters file's `Name`, else `fabric:/`
    /// and the type name without a trailing `Type`.
    pub application_name: Option<String>,
    /// Upgrade settings over the profile's.
    pub upgrade: UpgradeSettings,
    /// Parameters no source names keep the application's current value instead of
    /// reverting to the manifest's default.
    pub keep_current_parameters: bool,
    /// Wait for an upgrade toward another version to end, instead of refusing.
    pub wait_previous: bool,
    /// Keep the type's newest N versions (the running one counts) and unprovision the older
    /// ones no application uses.
    pub keep_versions: Option<usize>,
    /// Leave the uploaded package in the image store once provisioned.
    pub keep_package: bool,
    /// Upload a diff package: only what changed since the version the application runs.
    pub diff: bool,
    /// Return once the upgrade started, without following it.
    pub no_wait: bool,
    /// Stop waiting at this instant (the upgrade goes on unless `rollback_on_deadline`).
    pub deadline: Option<Instant>,
    /// At the deadline, roll the upgrade back (and follow the rollback).
    pub rollback_on_deadline: bool,
    /// Longest time between reads of a running upgrade or provision (default 3 s); reads
    /// come faster right after the upgrade moves.
    pub poll_interval: Duration,
    /// Where the package goes in the image store (default `{TypeName}_{Version}`, with
    /// `_diff` for a diff package).
    pub path_in_store: Option<String>,
    /// Server timeout of the provision, in seconds (default
    /// [`DEFAULT_PROVISION_TIMEOUT`](servicefabric_rest::DEFAULT_PROVISION_TIMEOUT)).
    pub provision_timeout: u64,
    /// How the package is uploaded (its `progress` is replaced by [`DeployEvent::Upload`]).
    pub package: PackageOptions,
    /// Receives the deploy's events.
    pub events: Option<DeployEventFn>,
}

impl Default for DeployOptions {
    fn default() -> Self {
        Self {
            publish_profile: None,
            parameters_file: None,
            parameters: Vec::new(),
            application_name: None,
            upgrade: UpgradeSettings::default(),
            keep_current_parameters: false,
            wait_previous: false,
            keep_versions: None,
            keep_package: false,
            diff: false,
            no_wait: false,
            deadline: None,
            rollback_on_deadline: false,
            poll_interval: Duration::from_secs(3),
            path_in_store: None,
            provision_timeout: servicefabric_rest::DEFAULT_PROVISION_TIMEOUT,
            package: PackageOptions::default(),
            events: None,
        }
    }
}

impl DeployOptions {
    pub(crate) fn emit(&self, event: DeployEvent) {
        if let Some(events) = &self.events {
            (events.0)(&event);
        }
    }

    pub(crate) fn note(&self, text: impl Into<String>) {
        self.emit(DeployEvent::Note(text.into()));
    }
}
