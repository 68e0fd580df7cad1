//! The Cluster Manager operations' request bodies, read as the gateway reads them:
//! parameter lists, durations (ISO 8601 with a `T`, or milliseconds) and upgrade
//! descriptions with the runtime's checks of a monitoring policy.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{
    cluster_manager::upgrades::{INFINITE_MS, Policy, Request as UpgradeRequest},
    fabric_error::{Code, FabricError},
};

#[derive(Deserialize)]
pub(crate) struct Parameter {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: String,
}

/// A parameter list; a name given twice (case-insensitively) is refused as the image
/// builder refuses it.
pub(crate) fn parameters(list: Vec<Parameter>) -> Result<BTreeMap<String, String>, FabricError> {
    let mut map = BTreeMap::new();
    for p in list {
        if map.keys().any(|k: &String| k.eq_ignore_ascii_case(&p.key)) {
            return Err(FabricError::new(
                Code::ImageBuilderValidationError,
                format!("Parameter '{}' is given more than once.", p.key),
            ));
        }
        map.insert(p.key, p.value);
    }
    Ok(map)
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, FabricError> {
    serde_json::from_slice(body).map_err(|_| FabricError::invalid_arg())
}

/// A duration as the runtime reads it: ISO 8601 with a `T`, else integer milliseconds.
pub(crate) fn duration_ms(text: Option<&str>, default: i64) -> Result<i64, FabricError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(default);
    };
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| FabricError::invalid_arg());
    }
    let rest = text
        .strip_prefix('P')
        .ok_or_else(FabricError::invalid_arg)?;
    let (days, time) = rest.split_once('T').ok_or_else(FabricError::invalid_arg)?;
    let mut ms: f64 = 0.0;
    if !days.is_empty() {
        let days: f64 = days
            .strip_suffix('D')
            .and_then(|d| d.parse().ok())
            .ok_or_else(FabricError::invalid_arg)?;
        ms += days * 86_400_000.0;
    }
    let mut number = String::new();
    for c in time.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'H' | 'M' | 'S' => {
                let value: f64 = number.parse().map_err(|_| FabricError::invalid_arg())?;
                ms += value
                    * match c {
                        'H' => 3_600_000.0,
                        'M' => 60_000.0,
                        _ => 1_000.0,
                    };
                number.clear();
            }
            _ => return Err(FabricError::invalid_arg()),
        }
    }
    if !number.is_empty() {
        return Err(FabricError::invalid_arg());
    }
    Ok((ms as i64).min(INFINITE_MS))
}

#[derive(Deserialize)]
pub(crate) struct MonitoringPolicy {
    #[serde(rename = "FailureAction")]
    pub failure_action: Option<String>,
    #[serde(rename = "HealthCheckWaitDurationInMilliseconds")]
    pub wait: Option<String>,
    #[serde(rename = "HealthCheckStableDurationInMilliseconds")]
    pub stable: Option<String>,
    #[serde(rename = "HealthCheckRetryTimeoutInMilliseconds")]
    pub retry: Option<String>,
    #[serde(rename = "UpgradeTimeoutInMilliseconds")]
    pub upgrade_timeout: Option<String>,
    #[serde(rename = "UpgradeDomainTimeoutInMilliseconds")]
    pub domain_timeout: Option<String>,
}

pub(crate) fn validation(message: &str) -> FabricError {
    FabricError::new(Code::ApplicationUpgradeValidationError, message.to_string())
}

/// The runtime's checks of a monitoring policy.
pub(crate) fn check_policy(policy: &Policy) -> Result<(), FabricError> {
    if policy.mode == "Monitored"
        && !matches!(policy.failure_action.as_str(), "Rollback" | "Manual")
    {
        return Err(validation("Invalid upgrade failure action."));
    }
    let checks = [
        policy.wait_ms.saturating_add(policy.retry_ms),
        policy.wait_ms.saturating_add(policy.stable_ms),
    ];
    for timeout in [policy.upgrade_timeout_ms, policy.domain_timeout_ms] {
        if checks.iter().any(|&c| timeout <= c) {
            return Err(validation(
                "The upgrade and upgrade domain timeouts must be greater than the health check wait plus retry and wait plus stable durations.",
            ));
        }
    }
    if policy.upgrade_timeout_ms < policy.domain_timeout_ms {
        return Err(validation(
            "The upgrade timeout must be at least the upgrade domain timeout.",
        ));
    }
    Ok(())
}

/// StartApplicationUpgrade's body: the application's name and the upgrade.
pub(crate) fn upgrade_description(body: &[u8]) -> Result<(String, UpgradeRequest), FabricError> {
    #[derive(Deserialize)]
    struct Description {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "TargetApplicationTypeVersion")]
        target: String,
        #[serde(rename = "Parameters", default)]
        parameters: Vec<Parameter>,
        #[serde(rename = "UpgradeKind", default)]
        kind: Option<String>,
        #[serde(rename = "RollingUpgradeMode", default)]
        mode: Option<String>,
        #[serde(rename = "UpgradeReplicaSetCheckTimeoutInSeconds", default)]
        replica_check: Option<i64>,
        #[serde(rename = "ForceRestart", default)]
        force_restart: Option<bool>,
        #[serde(rename = "MonitoringPolicy", default)]
        monitoring: Option<MonitoringPolicy>,
    }
    let d: Description = decode(body)?;
    // The runtime's reader defaults both to Invalid, and refuses Invalid.
    if d.kind.as_deref() != Some("Rolling") {
        return Err(FabricError::new(Code::InvalidArg, "Invalid upgrade kind"));
    }
    let mode = d.mode.unwrap_or_default();
    if !matches!(
        mode.as_str(),
        "Monitored" | "UnmonitoredAuto" | "UnmonitoredManual"
    ) {
        return Err(FabricError::new(Code::InvalidArg, "Invalid upgrade mode"));
    }
    let m = d.monitoring.unwrap_or(MonitoringPolicy {
        failure_action: None,
        wait: None,
        stable: None,
        retry: None,
        upgrade_timeout: None,
        domain_timeout: None,
    });
    let policy = Policy {
        mode,
        failure_action: m.failure_action.unwrap_or_default(),
        wait_ms: duration_ms(m.wait.as_deref(), 0)?,
        stable_ms: duration_ms(m.stable.as_deref(), 120_000)?,
        retry_ms: duration_ms(m.retry.as_deref(), 600_000)?,
        upgrade_timeout_ms: duration_ms(m.upgrade_timeout.as_deref(), INFINITE_MS)?,
        domain_timeout_ms: duration_ms(m.domain_timeout.as_deref(), INFINITE_MS)?,
        force_restart: d.force_restart.unwrap_or(false),
        replica_check_seconds: d.replica_check.unwrap_or(0),
    };
    check_policy(&policy)?;
    Ok((
        d.name,
        UpgradeRequest {
            target_version: d.target,
            parameters: parameters(d.parameters)?,
            policy,
        },
    ))
}
