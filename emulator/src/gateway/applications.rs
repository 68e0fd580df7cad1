//! The HTTP face of the Cluster Manager's application operations: their request bodies read
//! as the gateway reads them, their answers written as it writes them.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    State,
    bodies::{format_date, gateway_json, respond},
    query::Query,
    requests::json_body,
    routes::Lifecycle,
};
use crate::{
    cluster_manager::{
        applications::{App, application_id},
        upgrades::{INFINITE_MS, Phase, Policy, Request as UpgradeRequest, Upgrade},
    },
    fabric_error::{Code, FabricError},
    naming::validate,
};

type Answer = Result<Response<Full<Bytes>>, FabricError>;

fn ok_json(value: &Value) -> Answer {
    Ok(respond(200, gateway_json(value)))
}

fn empty(status: u16) -> Answer {
    Ok(respond(status, Vec::new()))
}

#[derive(Deserialize)]
struct Parameter {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: String,
}

/// A parameter list; a name given twice (case-insensitively) is refused as the image
/// builder refuses it.
fn parameters(list: Vec<Parameter>) -> Result<BTreeMap<String, String>, FabricError> {
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

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, FabricError> {
    serde_json::from_slice(body).map_err(|_| FabricError::invalid_arg())
}

/// A duration as the runtime reads it: ISO 8601 with a `T`, else integer milliseconds.
fn duration_ms(text: Option<&str>, default: i64) -> Result<i64, FabricError> {
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

/// Writes emulated milliseconds as the runtime does: `PT0H2M0S`.
fn format_duration(ms: i64) -> String {
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

const NO_TIME: &str = "0001-01-01T00:00:00.000Z";

#[derive(Deserialize)]
struct MonitoringPolicy {
    #[serde(rename = "FailureAction")]
    failure_action: Option<String>,
    #[serde(rename = "HealthCheckWaitDurationInMilliseconds")]
    wait: Option<String>,
    #[serde(rename = "HealthCheckStableDurationInMilliseconds")]
    stable: Option<String>,
    #[serde(rename = "HealthCheckRetryTimeoutInMilliseconds")]
    retry: Option<String>,
    #[serde(rename = "UpgradeTimeoutInMilliseconds")]
    upgrade_timeout: Option<String>,
    #[serde(rename = "UpgradeDomainTimeoutInMilliseconds")]
    domain_timeout: Option<String>,
}

fn validation(message: &str) -> FabricError {
    FabricError::new(Code::ApplicationUpgradeValidationError, message.to_string())
}

/// The runtime's checks of a monitoring policy.
fn check_policy(policy: &Policy) -> Result<(), FabricError> {
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
fn upgrade_description(body: &[u8]) -> Result<(String, UpgradeRequest), FabricError> {
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

fn type_info(record: &crate::cluster_manager::application_types::TypeRecord) -> Value {
    json!({
        "Name": record.name,
        "Version": record.version,
        "DefaultParameterList": record.parameters.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
        "Status": "Available",
        "ApplicationTypeDefinitionKind": "ServiceFabricApplicationPackage",
    })
}

fn app_info(app: &App, health: &str) -> Value {
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
fn page(items: Vec<(String, Value)>, max: usize) -> Value {
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

fn max_results(query: &Query<'_>) -> Result<usize, FabricError> {
    query
        .get("MaxResults")
        .map_or(Ok(0), |v| v.parse().map_err(|_| FabricError::invalid_arg()))
}

fn domain_progress(name: Option<&str>) -> Value {
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
fn progress(app: &App, scale: f64) -> Value {
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

fn ordered_progress(app: &App, u: &Upgrade, scale: f64) -> Value {
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

/// Serves one application operation.
pub(crate) async fn serve(
    state: &State,
    op: Lifecycle,
    request: Request<Incoming>,
    query: &Query<'_>,
) -> Answer {
    let body = match op {
        Lifecycle::Unprovision(_)
        | Lifecycle::Create
        | Lifecycle::StartUpgrade(_)
        | Lifecycle::UpdateUpgrade(_)
        | Lifecycle::Resume(_) => json_body(request).await?,
        _ => Bytes::new(),
    };
    // Locked in this order everywhere: the types, then the applications.
    let mut types_lock = state.app_types.lock().map_err(FabricError::poisoned)?;
    let types = &*types_lock;
    let mut apps = state.applications.lock().map_err(FabricError::poisoned)?;
    apps.advance(types);
    let scale = state.config.time_scale;
    match op {
        Lifecycle::ClusterVersion => {
            let (major, minor) = state.config.runtime_version;
            ok_json(&json!({ "Version": format!("{major}.{minor}.1436.9590") }))
        }
        Lifecycle::Types | Lifecycle::TypeVersions(_) => {
            let only = match &op {
                Lifecycle::TypeVersions(name) => Some(name.as_str()),
                _ => None,
            };
            let after = query.get("ContinuationToken");
            let items = types
                .records()
                .filter(|r| only.is_none_or(|n| r.name == n))
                .filter(|r| {
                    query
                        .get("ApplicationTypeVersion")
                        .is_none_or(|v| r.version == v)
                })
                .map(|r| (format!("{}${}", r.name, r.version), type_info(r)))
                .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
                .collect();
            ok_json(&page(items, max_results(query)?))
        }
        Lifecycle::Unprovision(type_name) => {
            #[derive(Deserialize)]
            struct Unprovision {
                #[serde(rename = "ApplicationTypeVersion")]
                version: String,
                #[serde(rename = "Async", default)]
                asynchronous: bool,
            }
            let u: Unprovision = decode(&body)?;
            if apps.uses(&type_name, &u.version) {
                return Err(FabricError::new(
                    Code::ApplicationTypeInUse,
                    format!(
                        "Application type and version in use: {type_name} {}",
                        u.version
                    ),
                ));
            }
            types_lock.remove(&type_name, &u.version)?;
            empty(if u.asynchronous { 202 } else { 200 })
        }
        Lifecycle::Create => {
            #[derive(Deserialize)]
            struct Description {
                #[serde(rename = "Name")]
                name: String,
                #[serde(rename = "TypeName")]
                type_name: String,
                #[serde(rename = "TypeVersion")]
                type_version: String,
                #[serde(rename = "ParameterList", default)]
                parameters: Vec<Parameter>,
            }
            let d: Description = decode(&body)?;
            validate(&d.name)?;
            apps.create(
                types,
                &d.name,
                &d.type_name,
                &d.type_version,
                parameters(d.parameters)?,
            )?;
            // The runtime creates the application's name in Naming.
            let _ = state.naming.create(&d.name);
            empty(201)
        }
        Lifecycle::List => {
            let after = query.get("ContinuationToken");
            let items = apps
                .list(query.get("ApplicationTypeName"), after)
                .map(|a| {
                    (
                        a.name.clone(),
                        app_info(a, apps.health(&a.name).unwrap_or("Ok")),
                    )
                })
                .collect();
            ok_json(&page(items, max_results(query)?))
        }
        Lifecycle::Get(name) => match apps.get(&name) {
            Some(app) => ok_json(&app_info(app, apps.health(&name).unwrap_or("Ok"))),
            None => empty(204),
        },
        Lifecycle::Delete(name) => {
            apps.delete(&name)?;
            let _ = state.naming.delete(&name);
            empty(200)
        }
        Lifecycle::StartUpgrade(url_name) => {
            // The gateway takes the name from the body, not from the URL.
            let (name, request) = upgrade_description(&body)?;
            let name = if name.is_empty() { url_name } else { name };
            apps.start_upgrade(types, &name, request)?;
            empty(200)
        }
        Lifecycle::Progress(name) => {
            let app = apps.get(&name).ok_or_else(|| {
                FabricError::new(
                    Code::ApplicationNotFound,
                    format!("Application '{name}' not found."),
                )
            })?;
            ok_json(&progress(app, scale))
        }
        Lifecycle::UpdateUpgrade(name) => {
            #[derive(Deserialize)]
            struct Update {
                #[serde(rename = "UpdateDescription")]
                update: Option<UpdateDescription>,
            }
            #[derive(Deserialize)]
            struct UpdateDescription {
                #[serde(rename = "RollingUpgradeMode")]
                mode: Option<String>,
                #[serde(rename = "ForceRestart")]
                force_restart: Option<bool>,
                #[serde(flatten)]
                policy: MonitoringPolicy,
            }
            let u: Update = decode(&body)?;
            let d = u.update.ok_or_else(FabricError::invalid_arg)?;
            let mode = d
                .mode
                .ok_or_else(|| FabricError::new(Code::InvalidArg, "Invalid upgrade mode"))?;
            if !matches!(
                mode.as_str(),
                "Monitored" | "UnmonitoredAuto" | "UnmonitoredManual"
            ) {
                return Err(FabricError::new(Code::InvalidArg, "Invalid upgrade mode"));
            }
            let mut policy = apps
                .get(&name)
                .and_then(|a| a.upgrade.as_ref())
                .map(|u| u.request.policy.clone())
                .ok_or_else(|| {
                    FabricError::new(
                        Code::ApplicationNotUpgrading,
                        format!("Application '{name}' is not being upgraded."),
                    )
                })?;
            policy.mode = mode.clone();
            if let Some(action) = d.policy.failure_action {
                policy.failure_action = action;
            }
            policy.wait_ms = duration_ms(d.policy.wait.as_deref(), policy.wait_ms)?;
            policy.stable_ms = duration_ms(d.policy.stable.as_deref(), policy.stable_ms)?;
            policy.retry_ms = duration_ms(d.policy.retry.as_deref(), policy.retry_ms)?;
            policy.upgrade_timeout_ms = duration_ms(
                d.policy.upgrade_timeout.as_deref(),
                policy.upgrade_timeout_ms,
            )?;
            policy.domain_timeout_ms =
                duration_ms(d.policy.domain_timeout.as_deref(), policy.domain_timeout_ms)?;
            if let Some(force) = d.force_restart {
                policy.force_restart = force;
            }
            check_policy(&policy)?;
            apps.update(&name, |u| {
                u.mode = mode;
                u.failure_action = policy.failure_action.clone();
                u.request.policy = policy;
            })?;
            empty(200)
        }
        Lifecycle::Resume(name) => {
            #[derive(Deserialize)]
            struct Resume {
                #[serde(rename = "UpgradeDomainName")]
                domain: String,
            }
            let r: Resume = decode(&body)?;
            apps.resume(&name, &r.domain)?;
            empty(200)
        }
        Lifecycle::Rollback(name) => {
            apps.rollback(&name)?;
            empty(200)
        }
        Lifecycle::Health(name) => {
            let health = apps.health(&name)?.to_string();
            let services: Vec<Value> = apps
                .services(types, &name)?
                .iter()
                .map(|s| json!({ "ServiceName": format!("{name}/{}", s.name), "AggregatedHealthState": health }))
                .collect();
            ok_json(&json!({
                "AggregatedHealthState": health,
                "HealthEvents": [],
                "UnhealthyEvaluations": [],
                "Name": name,
                "ServiceHealthStates": services,
                "DeployedApplicationHealthStates": [],
            }))
        }
        Lifecycle::Services(name) => {
            let health = apps.health(&name)?.to_string();
            let version = apps
                .get(&name)
                .map(|a| a.type_version.clone())
                .unwrap_or_default();
            let items: Vec<(String, Value)> = apps
                .services(types, &name)?
                .iter()
                .map(|s| {
                    let full = format!("{name}/{}", s.name);
                    let mut v = json!({
                        "Id": application_id(&full),
                        "ServiceKind": if s.stateful { "Stateful" } else { "Stateless" },
                        "Name": full,
                        "TypeName": s.type_name,
                        "ManifestVersion": version,
                        "HealthState": health,
                        "ServiceStatus": "Active",
                        "IsServiceGroup": false,
                    });
                    if s.stateful {
                        v["HasPersistedState"] = json!(false);
                    }
                    (full, v)
                })
                .collect();
            ok_json(&page(items, 0))
        }
    }
}
