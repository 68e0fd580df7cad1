//! The HTTP face of the Cluster Manager's application operations: each operation's request
//! read (`application_requests.rs`), the service called, and its answer written
//! (`application_bodies.rs`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    State,
    application_bodies::{app_info, page, progress, type_info},
    application_requests::{
        MonitoringPolicy, Parameter, check_policy, decode, duration_ms, parameters,
        upgrade_description,
    },
    bodies::{gateway_json, respond},
    query::Query,
    requests::json_body,
    routes::Lifecycle,
};
use crate::{
    cluster_manager::applications::application_id,
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

fn max_results(query: &Query<'_>) -> Result<usize, FabricError> {
    query
        .get("MaxResults")
        .map_or(Ok(0), |v| v.parse().map_err(|_| FabricError::invalid_arg()))
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
        Lifecycle::ApplicationManifest(ref type_name)
        | Lifecycle::ServiceManifest(ref type_name) => {
            let version = query
                .get("ApplicationTypeVersion")
                .ok_or_else(FabricError::invalid_arg)?;
            let record = types.get(type_name, version).ok_or_else(|| {
                FabricError::new(
                    Code::ApplicationTypeNotFound,
                    format!("Application type and version not found: {type_name} {version}"),
                )
            })?;
            let manifest = match &op {
                Lifecycle::ServiceManifest(_) => {
                    let service = query
                        .get("ServiceManifestName")
                        .ok_or_else(FabricError::invalid_arg)?;
                    &record
                        .service_manifests
                        .iter()
                        .find(|s| s.name == service)
                        .ok_or_else(|| {
                            FabricError::new(
                                Code::ServiceManifestNotFound,
                                format!(
                                    "Service manifest {service} not found in {type_name} {version}"
                                ),
                            )
                        })?
                        .manifest
                }
                _ => &record.manifest,
            };
            ok_json(&json!({ "Manifest": manifest }))
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
