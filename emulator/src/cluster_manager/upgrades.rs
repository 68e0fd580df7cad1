//! Rolling application upgrades as the runtime's Cluster Manager runs them: upgrade domains in
//! order, health checks with the wait/stable/retry arithmetic and both timeouts, the failure
//! actions with their mode rewrites, manual resumes, rollbacks and interruptions.
//!
//! Time is emulated: an upgrade is advanced lazily, whenever it is looked at, to where it
//! would be by now, with every timer `time_scale` times faster. It is plain data, so it
//! survives a restart in `applications.json` and goes on from there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Emulated time one upgrade domain takes to upgrade (or roll back).
pub(crate) const DOMAIN_MS: i64 = 10_000;
/// Emulated time between two health evaluations (the runtime's default).
pub(crate) const EVALUATION_MS: i64 = 60_000;
/// The runtime's "infinite", in milliseconds.
pub(crate) const INFINITE_MS: i64 = 922_337_203_685_477;

/// How an upgrade runs: the description's mode, failure action and durations (emulated ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub mode: String,
    pub failure_action: String,
    pub wait_ms: i64,
    pub stable_ms: i64,
    pub retry_ms: i64,
    pub upgrade_timeout_ms: i64,
    pub domain_timeout_ms: i64,
    pub force_restart: bool,
    pub replica_check_seconds: i64,
}

/// An upgrade as asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Request {
    pub target_version: String,
    pub parameters: BTreeMap<String, String>,
    pub policy: Policy,
}

/// What the upgrade is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    /// Upgrading domain `domain`.
    Upgrading { domain: usize },
    /// Health checks after domain `after` completed.
    Checking { after: usize },
    /// A manual upgrade waits for a resume naming domain `next`.
    Waiting { next: usize },
    /// Rolling back these domains, in order.
    RollingBack { remaining: Vec<usize> },
    /// Ended.
    Done,
}

/// What an advance changed for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The target version and parameters are the application's now.
    Completed,
    /// Back on the old version; a queued upgrade may start.
    RolledBack,
}

/// An application's upgrade, running or ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Upgrade {
    pub request: Request,
    pub from_version: String,
    pub from_parameters: BTreeMap<String, String>,
    /// The mode now (a failure rewrites it).
    pub mode: String,
    pub failure_action: String,
    /// Domains in lexicographic order with their state.
    pub domains: Vec<(String, String)>,
    pub state: String,
    pub phase: Phase,
    /// Real Unix milliseconds.
    pub started_ms: i64,
    pub phase_ms: i64,
    pub domain_ms: i64,
    pub ended_ms: Option<i64>,
    pub failure_reason: String,
    pub failure_ms: Option<i64>,
    pub failure_domain: Option<String>,
    /// The domain progress at a failure.
    pub unhealthy: bool,
    pub status_details: String,
    /// A different upgrade that interrupted this one: it starts once the rollback is done.
    pub queued: Option<Request>,
}

/// Whether the application is unhealthy when `domains_started` domains of the target have
/// started (`None`: running the old version).
pub(crate) type HealthFn<'a> = &'a dyn Fn(&str, usize) -> bool;

const PENDING: &str = "Pending";
const IN_PROGRESS: &str = "InProgress";
const COMPLETED: &str = "Completed";

impl Upgrade {
    pub fn start(
        request: Request,
        from_version: &str,
        from_parameters: &BTreeMap<String, String>,
        domain_count: usize,
        now: i64,
    ) -> Self {
        let mode = request.policy.mode.clone();
        let failure_action = request.policy.failure_action.clone();
        let mut domains: Vec<(String, String)> = (0..domain_count.max(1))
            .map(|i| (format!("UD{i}"), PENDING.to_string()))
            .collect();
        domains.sort();
        domains[0].1 = IN_PROGRESS.to_string();
        Self {
            request,
            from_version: from_version.to_string(),
            from_parameters: from_parameters.clone(),
            mode,
            failure_action,
            domains,
            state: "RollingForwardInProgress".into(),
            phase: Phase::Upgrading { domain: 0 },
            started_ms: now,
            phase_ms: now,
            domain_ms: now,
            ended_ms: None,
            failure_reason: "None".into(),
            failure_ms: None,
            failure_domain: None,
            unhealthy: false,
            status_details: String::new(),
            queued: None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self.state.as_str(),
            "RollingForwardCompleted" | "RollingBackCompleted" | "Failed"
        )
    }

    /// The version the gateway reports as target: the old one during a rollback.
    pub fn reported_target(&self) -> &str {
        if self.state.starts_with("RollingBack") {
            &self.from_version
        } else {
            &self.request.target_version
        }
    }

    /// The next domain to upgrade: the first pending one.
    pub fn next_domain(&self) -> Option<&str> {
        match &self.phase {
            Phase::Waiting { next } => self.domains.get(*next).map(|d| d.0.as_str()),
            Phase::Done | Phase::RollingBack { .. } => None,
            _ => self
                .domains
                .iter()
                .find(|d| d.1 == PENDING)
                .map(|d| d.0.as_str()),
        }
    }

    /// How many domains of the target have started.
    pub fn domains_started(&self) -> usize {
        self.domains.iter().filter(|d| d.1 != PENDING).count()
    }

    /// Advances to `now`; returns what changed for the application.
    pub fn advance(&mut self, now: i64, scale: f64, unhealthy: HealthFn<'_>) -> Option<Outcome> {
        let emulated = |since: i64, until: i64| ((until - since) as f64 * scale) as i64;
        let real_at = |since: i64, emulated_ms: i64| {
            since.saturating_add((emulated_ms as f64 / scale).ceil() as i64)
        };
        let last = self.domains.len() - 1;
        loop {
            match self.phase.clone() {
                Phase::Upgrading { domain } => {
                    if emulated(self.phase_ms, now) < DOMAIN_MS {
                        return None;
                    }
                    let at = real_at(self.phase_ms, DOMAIN_MS);
                    self.domains[domain].1 = COMPLETED.into();
                    match self.mode.as_str() {
                        "Monitored" => {
                            self.phase = Phase::Checking { after: domain };
                            self.state = "RollingForwardPending".into();
                            self.phase_ms = at;
                        }
                        "UnmonitoredManual" if domain < last => {
                            self.phase = Phase::Waiting { next: domain + 1 };
                            self.state = "RollingForwardPending".into();
                            self.phase_ms = at;
                        }
                        _ if domain < last => self.begin_domain(domain + 1, at),
                        _ => return Some(self.finish(at)),
                    }
                }
                Phase::Checking { after } => {
                    let policy = &self.request.policy;
                    let sick = unhealthy(&self.request.target_version, self.domains_started());
                    let needed = policy.wait_ms.saturating_add(if sick {
                        policy.retry_ms
                    } else {
                        policy.stable_ms
                    });
                    let mut k = 0i64;
                    loop {
                        let at_emulated = policy
                            .wait_ms
                            .saturating_add(k.saturating_mul(EVALUATION_MS));
                        let at = real_at(self.phase_ms, at_emulated);
                        if at > now {
                            return None;
                        }
                        // Before each evaluation: the domain timeout, then the overall one.
                        if emulated(self.domain_ms, at) > policy.domain_timeout_ms {
                            self.fail("UpgradeDomainTimeout", after, at, false);
                            break;
                        }
                        if emulated(self.started_ms, at) > policy.upgrade_timeout_ms {
                            self.fail("OverallUpgradeTimeout", after, at, false);
                            break;
                        }
                        if at_emulated >= needed {
                            if sick {
                                self.fail("HealthCheck", after, at, true);
                            } else if after < last {
                                self.begin_domain(after + 1, at);
                            } else {
                                return Some(self.finish(at));
                            }
                            break;
                        }
                        k += 1;
                    }
                }
                Phase::Waiting { .. } | Phase::Done => return None,
                Phase::RollingBack { mut remaining } => {
                    if emulated(self.phase_ms, now) < DOMAIN_MS {
                        return None;
                    }
                    let at = real_at(self.phase_ms, DOMAIN_MS);
                    if !remaining.is_empty() {
                        let done = remaining.remove(0);
                        self.domains[done].1 = COMPLETED.into();
                    }
                    match remaining.first() {
                        Some(&next) => {
                            self.domains[next].1 = IN_PROGRESS.into();
                            self.phase = Phase::RollingBack { remaining };
                            self.phase_ms = at;
                        }
                        None => {
                            self.phase = Phase::Done;
                            self.state = "RollingBackCompleted".into();
                            self.ended_ms = Some(at);
                            return Some(Outcome::RolledBack);
                        }
                    }
                }
            }
        }
    }

    fn begin_domain(&mut self, domain: usize, at: i64) {
        self.domains[domain].1 = IN_PROGRESS.into();
        self.phase = Phase::Upgrading { domain };
        self.state = "RollingForwardInProgress".into();
        self.phase_ms = at;
        self.domain_ms = at;
    }

    fn finish(&mut self, at: i64) -> Outcome {
        self.phase = Phase::Done;
        self.state = "RollingForwardCompleted".into();
        self.ended_ms = Some(at);
        self.status_details.clear();
        Outcome::Completed
    }

    fn fail(&mut self, reason: &str, domain: usize, at: i64, unhealthy: bool) {
        self.failure_reason = reason.into();
        self.failure_ms = Some(at);
        self.failure_domain = Some(self.domains[domain].0.clone());
        self.unhealthy = unhealthy;
        if self.failure_action == "Manual" {
            self.mode = "UnmonitoredManual".into();
            self.state = "RollingForwardPending".into();
            self.phase = Phase::Waiting { next: domain + 1 };
            self.phase_ms = at;
        } else {
            self.roll_back(at);
        }
    }

    /// Rolls back whatever was upgraded, last first; the mode becomes UnmonitoredAuto.
    pub fn roll_back(&mut self, at: i64) {
        self.mode = "UnmonitoredAuto".into();
        self.state = "RollingBackInProgress".into();
        let touched: Vec<usize> = (0..self.domains.len())
            .rev()
            .filter(|&i| self.domains[i].1 != PENDING)
            .collect();
        if let Some(&first) = touched.first() {
            self.domains[first].1 = IN_PROGRESS.into();
        }
        self.phase = Phase::RollingBack { remaining: touched };
        self.phase_ms = at;
        if matches!(self.phase, Phase::RollingBack { ref remaining } if remaining.is_empty()) {
            self.phase = Phase::Done;
            self.state = "RollingBackCompleted".into();
            self.ended_ms = Some(at);
        }
    }

    /// A manual upgrade goes on with domain `name`; the caller checked it is the next one.
    pub fn resume(&mut self, next: usize, at: i64) {
        self.begin_domain(next, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: &str, action: &str) -> Policy {
        Policy {
            mode: mode.into(),
            failure_action: action.into(),
            wait_ms: 0,
            stable_ms: 120_000,
            retry_ms: 600_000,
            upgrade_timeout_ms: INFINITE_MS,
            domain_timeout_ms: INFINITE_MS,
            force_restart: false,
            replica_check_seconds: 0,
        }
    }

    fn upgrade(mode: &str, action: &str, domains: usize) -> Upgrade {
        let request = Request {
            target_version: "2.0".into(),
            parameters: BTreeMap::new(),
            policy: policy(mode, action),
        };
        Upgrade::start(request, "1.0", &BTreeMap::new(), domains, 0)
    }

    #[test]
    fn a_healthy_monitored_upgrade_walks_every_domain_then_completes() {
        let mut u = upgrade("Monitored", "Rollback", 3);
        let healthy = |_: &str, _: usize| false;
        assert_eq!(u.advance(9_999, 1.0, &healthy), None);
        assert_eq!(u.state, "RollingForwardInProgress");
        assert_eq!(u.advance(10_000, 1.0, &healthy), None);
        assert_eq!(
            (u.state.as_str(), u.next_domain()),
            ("RollingForwardPending", Some("UD1"))
        );
        // Stable for 2 minutes (evaluations every minute): UD1 starts at 130 s.
        u.advance(129_999, 1.0, &healthy);
        assert_eq!(u.domains[1].1, PENDING);
        u.advance(130_000, 1.0, &healthy);
        assert_eq!(u.domains[1].1, IN_PROGRESS);
        // 3 domains x (10 s + 120 s).
        assert_eq!(u.advance(389_999, 1.0, &healthy), None);
        assert_eq!(u.advance(390_000, 1.0, &healthy), Some(Outcome::Completed));
        assert!(u.is_terminal() && u.domains.iter().all(|d| d.1 == COMPLETED));
    }

    #[test]
    fn error_from_ud1_rolls_back_or_waits_by_failure_action() {
        let sick_from_ud1 = |_: &str, started: usize| started >= 2;
        let mut u = upgrade("Monitored", "Rollback", 3);
        u.advance(10_000_000, 1.0, &sick_from_ud1);
        assert_eq!(u.state, "RollingBackCompleted");
        assert_eq!(
            (u.failure_reason.as_str(), u.failure_domain.as_deref()),
            ("HealthCheck", Some("UD1"))
        );
        assert_eq!(u.mode, "UnmonitoredAuto", "rollback mode rewrite");
        assert_eq!(u.reported_target(), "1.0");

        let mut u = upgrade("Monitored", "Manual", 3);
        u.advance(10_000_000, 1.0, &sick_from_ud1);
        assert_eq!(
            (u.state.as_str(), u.mode.as_str()),
            ("RollingForwardPending", "UnmonitoredManual")
        );
        assert_eq!(u.next_domain(), Some("UD2"));
    }

    #[test]
    fn manual_mode_pauses_after_each_domain_and_time_scales() {
        let healthy = |_: &str, _: usize| false;
        let mut u = upgrade("UnmonitoredManual", "", 3);
        u.advance(100, 100.0, &healthy); // 10 s at 100x
        assert_eq!(
            (u.state.as_str(), u.next_domain()),
            ("RollingForwardPending", Some("UD1"))
        );
        u.advance(10_000, 100.0, &healthy);
        assert_eq!(u.domains[1].1, PENDING, "waits for a resume");
        u.resume(1, 10_000);
        u.advance(10_100, 100.0, &healthy);
        assert_eq!(u.next_domain(), Some("UD2"));
        u.resume(2, 10_100);
        assert_eq!(u.advance(10_200, 100.0, &healthy), Some(Outcome::Completed));
    }

    #[test]
    fn a_domain_timeout_fails_before_the_health_check_passes() {
        let healthy = |_: &str, _: usize| false;
        let mut u = upgrade("Monitored", "Rollback", 2);
        u.request.policy.domain_timeout_ms = 60_000;
        u.advance(10_000_000, 1.0, &healthy);
        assert_eq!(u.failure_reason, "UpgradeDomainTimeout");
        assert_eq!(u.state, "RollingBackCompleted");
    }
}
