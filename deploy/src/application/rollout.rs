//! Steps 4 and 5: what the cluster's state asks for (create, upgrade, follow, nothing), and
//! following an upgrade until it ends, pauses, or the deadline passes.

use std::time::{Duration, Instant};

use servicefabric_rest::{
    Client, Error, Result, RollingUpgradeMode, UpgradeProgress, UpgradeState,
};

use super::{
    options::{DeployEvent, DeployOptions},
    report::Outcome,
};

/// An upgrade that has not ended, as the deploy sees it.
pub(crate) enum Running {
    /// None is running.
    Nothing,
    /// One is rolling forward toward the version being deployed: follow it.
    Ours,
    /// Another (another version, or a rollback).
    Other(String),
}

pub(crate) fn running(progress: &UpgradeProgress, version: &str) -> Running {
    if progress.is_terminal() {
        return Running::Nothing;
    }
    let forward = matches!(
        progress.state,
        UpgradeState::RollingForwardInProgress | UpgradeState::RollingForwardPending
    );
    if forward && progress.target_version == version {
        Running::Ours
    } else {
        Running::Other(format!(
            "an upgrade of {} to {} is {}",
            progress.name, progress.target_version, progress.state
        ))
    }
}

/// The refusal when another upgrade runs and the caller did not ask to wait for it.
pub(crate) fn refuse_running(name: &str, what: &str) -> Error {
    Error::Refused {
        reason: format!(
            "{what}; starting another would interrupt it, so nothing was changed. Wait for it \
             (`sfrest app status {name} --watch`), roll it back (`sfrest app rollback {name}`), \
             or deploy with --wait-previous"
        ),
    }
}

/// Whether the upgrade waits for someone to resume it or roll it back.
fn paused(progress: &UpgradeProgress) -> bool {
    progress.mode == RollingUpgradeMode::UnmonitoredManual
        && matches!(
            progress.state,
            UpgradeState::RollingForwardPending | UpgradeState::RollingBackPending
        )
}

/// How a followed upgrade ended.
pub(crate) struct Followed {
    pub outcome: Outcome,
    pub last: Option<UpgradeProgress>,
    pub next_action: Option<String>,
}

/// Reads the upgrade every poll interval until it ends, pauses, or the deadline passes.
/// `version` is the version it should reach.
pub(crate) async fn follow(
    client: &Client,
    name: &str,
    version: &str,
    options: &DeployOptions,
) -> Result<Followed> {
    let mut misses = 0u32;
    let mut rolling_back = false;
    // Short right after a change (the next often follows soon: a domain's end, the last
    // health check), doubling to the poll interval while nothing moves.
    let quick = options.poll_interval.min(Duration::from_millis(250));
    let mut wait = quick;
    let mut seen = String::new();
    loop {
        let progress = match client.application_upgrade(name).await {
            Ok(p) => {
                misses = 0;
                p
            }
            // The upgrade goes on without us: a flaky network is no reason to give up on it.
            Err(e) if e.is_transient() && misses < 20 => {
                misses += 1;
                options.note(format!("cannot read the upgrade ({e}); trying again"));
                tokio::time::sleep(options.poll_interval).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        options.emit(DeployEvent::Upgrade(Box::new(progress.clone())));
        let now = format!(
            "{:?}{:?}{:?}",
            progress.state, progress.domains, progress.next_domain
        );
        wait = if now == seen {
            (wait * 2).min(options.poll_interval)
        } else {
            quick
        };
        seen = now;
        let last = Some(progress.clone());
        if progress.is_terminal() {
            let outcome = match progress.state {
                // Done only once the application shows the version; until then, read again
                // (the deadline still applies).
                UpgradeState::RollingForwardCompleted if progress.target_version == version => {
                    let app = client.application(name).await?;
                    app.is_some_and(|a| a.type_version == version)
                        .then_some(Outcome::Upgraded)
                }
                UpgradeState::RollingBackCompleted => Some(Outcome::RolledBack),
                _ => Some(Outcome::Failed),
            };
            if let Some(outcome) = outcome {
                return Ok(Followed {
                    outcome,
                    last,
                    next_action: None,
                });
            }
        }
        if paused(&progress) {
            let next = progress
                .next_domain
                .clone()
                .unwrap_or_else(|| "NEXT".to_string());
            return Ok(Followed {
                outcome: Outcome::Paused,
                last,
                next_action: Some(format!(
                    "sfrest app resume {name} --domain {next}  (or: sfrest app rollback {name})"
                )),
            });
        }
        if !rolling_back && options.deadline.is_some_and(|d| Instant::now() >= d) {
            if !options.rollback_on_deadline {
                return Ok(Followed {
                    outcome: Outcome::Deadline,
                    last,
                    next_action: Some(format!("sfrest app status {name} --watch")),
                });
            }
            options.note(format!(
                "the deadline passed; rolling back the upgrade of {name}"
            ));
            match client.rollback_application_upgrade(name).await {
                Ok(()) => {}
                // It ended meanwhile: the next read says how.
                Err(e)
                    if e.code()
                        .is_some_and(|c| c.as_str() == "FABRIC_E_APPLICATION_NOT_UPGRADING") => {}
                Err(e) => return Err(e),
            }
            rolling_back = true;
            continue;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Waits for an upgrade toward another version to end (`wait_previous`); `Ok(false)` when
/// the deadline passed first.
pub(crate) async fn wait_ended(
    client: &Client,
    name: &str,
    options: &DeployOptions,
) -> Result<bool> {
    loop {
        let progress = client.application_upgrade(name).await?;
        options.emit(DeployEvent::Upgrade(Box::new(progress.clone())));
        if progress.is_terminal() {
            return Ok(true);
        }
        if paused(&progress) {
            return Err(Error::Refused {
                reason: format!(
                    "the running upgrade of {name} to {} waits for a manual action; resume it (`sfrest app resume {name} --domain {}`) or roll it back (`sfrest app rollback {name}`), then deploy again",
                    progress.target_version,
                    progress.next_domain.as_deref().unwrap_or("NEXT")
                ),
            });
        }
        if options.deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}
