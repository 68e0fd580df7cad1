//! The Cluster Manager operations' answers, written as the gateway writes them: type and
//! application infos, pages, and an upgrade's progress with its fields in the gateway's order.

use serde_json::{Value, json};

use super::bodies::format_date;
use crate::cluster_manager::{
    application_types::TypeRecord,
    applications::{App, application_id},
    upgrades::{Phase, Upgrade},
};

/// Writes emulated milliseconds as the runtime does: `PT0H2M0S`.
pub(crate) fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1_000, rest % 1_000);
    if frac == 0 {
        format!("PT{h}H{m}M{s}S")
    } else {
        format!("PT{h}H{m}M{s}.{frac:03}S")
    }
}

pub(crate) const NO_TIME: &str = "0001-01-01T00:00:00.000Z";

pub(crate) fn type_info(record: &TypeRecord) -> Value {
    json!({
        "Name": record.name,
        "Version": record.version,
        "DefaultParameterList": record.parameters.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
        "Status": "Available",
        "ApplicationTypeDefinitionKind": "ServiceFabricApplicationPackage",
    })
}

pub(crate) fn app_info(app: &App, health: &str) -> Value {
    json!({
        "Id": application_id(&app.name),
        "Name": app.name,
        "TypeName": app.type_name,
        "TypeVersion": app.type_version,
        "Status": app.status(),
        "Parameters": app.parameters.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
        "HealthState": health,
        "ApplicationDefinitionKind": "ServiceFabricApplicationDescription",
    })
}

/// A page of `items` after `token` (the last key of the previous page), `max` at most (0:
/// all), with the token for the next page.
pub(crate) fn page(items: Vec<(String, Value)>, max: usize) -> Value {
    let more = max > 0 && items.len() > max;
    let shown: Vec<(String, Value)> = items
        .into_iter()
        .take(if max > 0 { max } else { usize::MAX })
        .collect();
    let token = if more {
        shown.last().map(|(k, _)| k.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    json!({
        "ContinuationToken": token,
        "Items": shown.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })
}

pub(crate) fn domain_progress(name: Option<&str>) -> Value {
    match name {
        Some(domain) => json!({
            "DomainName": domain,
            "NodeUpgradeProgressList": [{
                "NodeName": format!("_Node_{}", domain.trim_start_matches("UD")),
                "UpgradePhase": "Upgrading",
                "PendingSafetyChecks": [],
            }],
        }),
        None => json!({ "NodeUpgradeProgressList": [] }),
    }
}

/// GetApplicationUpgrade's answer, fields in the gateway's order.
pub(crate) fn progress(app: &App, scale: f64) -> Value {
    let Some(u) = &app.upgrade else {
        // Never upgraded: the published example's shape.
        return json!({
            "Name": app.name, "TypeName": app.type_name,
            "TargetApplicationTypeVersion": app.type_version,
            "UpgradeDomains": [], "UpgradeState": "RollingForwardCompleted",
            "NextUpgradeDomain": "", "RollingUpgradeMode": "Invalid",
            "UpgradeDurationInMilliseconds": "PT0H0M0S",
            "UpgradeDomainDurationInMilliseconds": "PT0H0M0S",
            "UnhealthyEvaluations": [], "CurrentUpgradeDomainProgress": domain_progress(None),
            "StartTimestampUtc": NO_TIME, "FailureTimestampUtc": NO_TIME, "FailureReason": "None",
            "UpgradeDomainProgressAtFailure": domain_progress(None), "UpgradeStatusDetails": "",
        });
    };
    ordered_progress(app, u, scale)
}

pub(crate) fn ordered_progress(app: &App, u: &Upgrade, scale: f64) -> Value {
    let now = u
        .ended_ms
        .unwrap_or_else(crate::image_store::sessions::now_ms);
    let emulated = |since: i64| ((now - since) as f64 * scale) as i64;
    // In progress first, then pending, then completed.
    let rank = |state: &str| match state {
        "InProgress" => 0,
        "Pending" => 1,
        _ => 2,
    };
    let mut domains = u.domains.clone();
    domains.sort_by_key(|d| (rank(&d.1), d.0.clone()));
    let current = match &u.phase {
        Phase::Upgrading { domain } => u.domains.get(*domain).map(|d| d.0.as_str()),
        Phase::RollingBack { remaining } => remaining
            .first()
            .and_then(|i| u.domains.get(*i))
            .map(|d| d.0.as_str()),
        _ => None,
    };
    let description = json!({
        "Name": app.name,
        "TargetApplicationTypeVersion": u.request.target_version,
        "Parameters": u.request.parameters.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
        "UpgradeKind": "Rolling",
        "RollingUpgradeMode": u.request.policy.mode,
        "UpgradeReplicaSetCheckTimeoutInSeconds": u.request.policy.replica_check_seconds,
        "ForceRestart": u.request.policy.force_restart,
        "MonitoringPolicy": {
            "FailureAction": u.request.policy.failure_action,
            "HealthCheckWaitDurationInMilliseconds": format_duration(u.request.policy.wait_ms),
            "HealthCheckStableDurationInMilliseconds": format_duration(u.request.policy.stable_ms),
            "HealthCheckRetryTimeoutInMilliseconds": format_duration(u.request.policy.retry_ms),
            "UpgradeTimeoutInMilliseconds": format_duration(u.request.policy.upgrade_timeout_ms),
            "UpgradeDomainTimeoutInMilliseconds": format_duration(u.request.policy.domain_timeout_ms),
        },
    });
    let evaluations = if u.unhealthy {
        json!([{ "HealthEvaluation": {
            "Kind": "Application", "AggregatedHealthState": "Error",
            "Description": format!("The application '{}' is unhealthy.", app.name),
        }}])
    } else {
        json!([])
    };
    let mut fields: Vec<(&str, Value)> = vec![
        ("Name", json!(app.name)),
        ("TypeName", json!(app.type_name)),
        ("TargetApplicationTypeVersion", json!(u.reported_target())),
        (
            "UpgradeDomains",
            json!(
                domains
                    .iter()
                    .map(|d| json!({"Name": d.0, "State": d.1}))
                    .collect::<Vec<_>>()
            ),
        ),
        ("UpgradeState", json!(u.state)),
        ("NextUpgradeDomain", json!(u.next_domain().unwrap_or(""))),
        ("RollingUpgradeMode", json!(u.mode)),
        ("UpgradeDescription", description),
        (
            "UpgradeDurationInMilliseconds",
            json!(format_duration(emulated(u.started_ms))),
        ),
        (
            "UpgradeDomainDurationInMilliseconds",
            json!(format_duration(emulated(u.domain_ms))),
        ),
        ("UnhealthyEvaluations", evaluations),
        ("CurrentUpgradeDomainProgress", domain_progress(current)),
        ("StartTimestampUtc", json!(format_date(u.started_ms))),
        (
            "FailureTimestampUtc",
            json!(u.failure_ms.map_or(NO_TIME.to_string(), format_date)),
        ),
        ("FailureReason", json!(u.failure_reason)),
        (
            "UpgradeDomainProgressAtFailure",
            domain_progress(u.failure_domain.as_deref()),
        ),
        ("UpgradeStatusDetails", json!(u.status_details)),
    ];
    // serde_json's map keeps keys sorted; the gateway writes them in this order.
    let mut out = serde_json::Map::new();
    for (key, value) in fields.drain(..) {
        out.insert(key.to_string(), value);
    }
    Value::Object(out)
}
