//! What a deploy did: [`DeployReport`] and its [`Outcome`].

use std::{collections::BTreeMap, time::Duration};

use servicefabric_rest::UpgradeProgress;

use crate::package::PackageReport;

/// How a deploy ended, when it got as far as the cluster's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The application was created.
    Created,
    /// The rolling upgrade completed: every domain runs the new version.
    Upgraded,
    /// The application already ran this version with these parameters: nothing to do.
    Unchanged,
    /// The upgrade rolled back: the application runs the old version.
    RolledBack,
    /// The upgrade failed.
    Failed,
    /// The upgrade waits for a manual action (see [`DeployReport::next_action`]).
    Paused,
    /// The deadline passed while the upgrade goes on.
    Deadline,
    /// The upgrade started and was not followed (`no_wait`).
    Started,
}

impl Outcome {
    /// Its name in reports: `created`, `upgraded`, `unchanged`, `rolled-back`, `failed`,
    /// `paused`, `deadline`, `started`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Upgraded => "upgraded",
            Outcome::Unchanged => "unchanged",
            Outcome::RolledBack => "rolled-back",
            Outcome::Failed => "failed",
            Outcome::Paused => "paused",
            Outcome::Deadline => "deadline",
            Outcome::Started => "started",
        }
    }

    /// Whether the application is where the deploy meant it to be (or, `Started`, on its
    /// way there).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Upgraded | Outcome::Unchanged | Outcome::Started
        )
    }
}

/// What [`ClientExt::deploy`](crate::ClientExt::deploy) did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeployReport {
    /// The application (`fabric:/…`).
    pub application: String,
    /// The application type.
    pub type_name: String,
    /// The version deployed.
    pub type_version: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The version the application ran before, when it existed.
    pub previous_version: Option<String>,
    /// The parameters the application gets: every declared one, for an upgrade; the
    /// sources' values, for a create.
    pub parameters: BTreeMap<String, String>,
    /// The upload, when this run uploaded (a type already provisioned is not uploaded).
    pub upload: Option<PackageReport>,
    /// Whether the package uploaded was a diff package.
    pub diff: bool,
    /// Whether this run provisioned the type version.
    pub provisioned: bool,
    /// Whether this run started an upgrade (a re-run that follows one already running does
    /// not).
    pub upgrade_started: bool,
    /// The package's path in the image store, when this run uploaded one.
    pub path_in_store: Option<String>,
    /// Whether the uploaded package was deleted from the image store.
    pub package_deleted: bool,
    /// Versions of the type this run unprovisioned.
    pub unprovisioned: Vec<String>,
    /// The upgrade as last read, when one was started or followed.
    pub upgrade: Option<UpgradeProgress>,
    /// For a paused upgrade: the command that resumes it (and the one that rolls it back).
    pub next_action: Option<String>,
    /// Wall time of the deploy.
    pub elapsed: Duration,
}
