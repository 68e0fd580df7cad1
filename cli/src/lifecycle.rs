//! `sfrest app types|unprovision|ls|show|create|upgrade|status|rollback|resume|health|rm`:
//! application types, applications and their rolling upgrades.

use std::{collections::BTreeMap, io::IsTerminal, time::Duration};

use clap::{Args, ValueEnum};
use futures::TryStreamExt;
use servicefabric_emulator::Emulator;
use servicefabric_rest::{
    Client, FailureAction, RollingUpgradeMode, UpgradeProgress, UpgradeRequest, UpgradeState,
    duration,
};

use crate::{
    Target,
    output::{Failure, note, out},
    table::aligned,
};

/// `K=V`, as `--param` takes it.
pub(crate) fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?}: expected NAME=VALUE")),
    }
}

/// `90s`, `2m`, `1h30m`, `500ms`, ISO 8601 (`PT1H30M`), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?}: expected a duration such as 90s, 2m, 1h30m, PT1H30M or 120");
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map(Duration::from_secs).map_err(|_| bad());
    }
    if t.starts_with('P') {
        return duration::parse(t).map_err(|_| bad());
    }
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = t.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let unit = match c {
            'h' => Duration::from_secs(3600),
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                Duration::from_millis(1)
            }
            'm' => Duration::from_secs(60),
            's' => Duration::from_secs(1),
            _ => return Err(bad()),
        };
        total = total
            .checked_add(
                unit.checked_mul(u32::try_from(n).map_err(|_| bad())?)
                    .ok_or_else(bad)?,
            )
            .ok_or_else(bad)?;
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(bad());
    }
    Ok(total)
}

#[derive(Args)]
pub struct TypesArgs {
    /// Only the versions of this application type.
    type_name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct UnprovisionArgs {
    /// The application type.
    type_name: String,
    /// The version to unprovision.
    version: String,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only applications of this type.
    #[arg(long = "type")]
    type_name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct NameArgs {
    /// The application, fabric:/name.
    name: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The application to create, fabric:/name.
    name: String,
    /// Its application type.
    #[arg(long = "type")]
    type_name: String,
    /// The type's version (provisioned).
    #[arg(long)]
    version: String,
    /// A parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Mode {
    Monitored,
    UnmonitoredAuto,
    UnmonitoredManual,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Action {
    Rollback,
    Manual,
}

/// An upgrade's health-check durations and timeouts, as `app upgrade` and `app deploy` take
/// them.
#[derive(Args)]
pub(crate) struct Timing {
    /// Wait after a domain before health checks (90s, 2m, PT1M, or seconds).
    #[arg(long, value_parser = parse_duration)]
    pub health_check_wait: Option<Duration>,
    /// How long the application must stay healthy.
    #[arg(long, value_parser = parse_duration)]
    pub health_check_stable: Option<Duration>,
    /// How long it may stay unhealthy before the failure action.
    #[arg(long, value_parser = parse_duration)]
    pub health_check_retry: Option<Duration>,
    /// Time for the whole upgrade.
    #[arg(long, value_parser = parse_duration)]
    pub upgrade_timeout: Option<Duration>,
    /// Time for one upgrade domain.
    #[arg(long, value_parser = parse_duration)]
    pub upgrade_domain_timeout: Option<Duration>,
}

impl Mode {
    pub(crate) fn wire(self) -> RollingUpgradeMode {
        match self {
            Mode::Monitored => RollingUpgradeMode::Monitored,
            Mode::UnmonitoredAuto => RollingUpgradeMode::UnmonitoredAuto,
            Mode::UnmonitoredManual => RollingUpgradeMode::UnmonitoredManual,
        }
    }
}

impl Action {
    pub(crate) fn wire(self) -> FailureAction {
        match self {
            Action::Rollback => FailureAction::Rollback,
            Action::Manual => FailureAction::Manual,
        }
    }
}

#[derive(Args)]
pub struct UpgradeArgs {
    /// The application, fabric:/name.
    name: String,
    /// The version to upgrade to (provisioned).
    #[arg(long)]
    version: String,
    /// A parameter, NAME=VALUE (repeatable). The application's whole set after the
    /// upgrade: a parameter not given reverts to the manifest's default.
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// How the upgrade proceeds.
    #[arg(long, value_enum, default_value_t = Mode::Monitored)]
    mode: Mode,
    /// Monitored: what a failed health check or timeout does.
    #[arg(long, value_enum, default_value_t = Action::Rollback)]
    failure_action: Action,
    #[command(flatten)]
    timing: Timing,
    /// Restart processes even when only configuration or data changed.
    #[arg(long)]
    force_restart: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The application, fabric:/name.
    name: String,
    /// Follow the upgrade until it ends; exit 1 when it rolled back or failed.
    #[arg(long)]
    watch: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct ChangeArgs {
    /// The application, fabric:/name.
    name: String,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct ResumeArgs {
    /// The application, fabric:/name.
    name: String,
    /// The domain to start: the upgrade's next domain (see `app status`).
    #[arg(long)]
    domain: String,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
pub struct RemoveArgs {
    /// The application, fabric:/name.
    name: String,
    /// Skip the services' graceful close.
    #[arg(long)]
    force_remove: bool,
    /// Do not ask for confirmation (it is asked only on a terminal).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    pub target: Target,
}

async fn read_client(target: &Target) -> Result<(Client, Option<Emulator>), Failure> {
    crate::connect(
        target,
        Emulator::builder(),
        "no --endpoint or SF_ENDPOINT given; reading an embedded, empty emulator",
    )
    .await
}

pub async fn types(args: &TypesArgs, target: &Target) -> Result<(), Failure> {
    let (client, _emulator) = read_client(target).await?;
    let pages: Vec<_> = client
        .application_types(args.type_name.as_deref())
        .try_collect()
        .await?;
    let items: Vec<_> = pages.into_iter().flat_map(|p| p.items).collect();
    if args.json {
        let list: Vec<serde_json::Value> = items
            .iter()
            .map(|t| serde_json::json!({"Name": t.name, "Version": t.version, "Status": t.status.as_str(), "DefaultParameters": t.default_parameters}))
            .collect();
        return out(format_args!("{}\n", serde_json::Value::Array(list)));
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|t| vec![t.name.clone(), t.version.clone(), t.status.to_string()])
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    out(aligned(&["TYPE", "VERSION", "STATUS"], &rows))
}

pub async fn unprovision(args: &UnprovisionArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "app unprovision").await?;
    client
        .unprovision_application_type(&args.type_name, &args.version)
        .await?;
    out(format_args!(
        "unprovisioned {} {}\n",
        args.type_name, args.version
    ))
}

pub async fn list(args: &ListArgs, target: &Target) -> Result<(), Failure> {
    let (client, _emulator) = read_client(target).await?;
    let pages: Vec<_> = client
        .applications(args.type_name.as_deref())
        .try_collect()
        .await?;
    let apps: Vec<_> = pages.into_iter().flat_map(|p| p.items).collect();
    if args.json {
        let list: Vec<serde_json::Value> = apps.iter().map(app_json).collect();
        return out(format_args!("{}\n", serde_json::Value::Array(list)));
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.type_name.clone(),
                a.type_version.clone(),
                a.status.to_string(),
                a.health_state.to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    out(aligned(
        &["NAME", "TYPE", "VERSION", "STATUS", "HEALTH"],
        &rows,
    ))
}

fn app_json(a: &servicefabric_rest::Application) -> serde_json::Value {
    serde_json::json!({
        "Name": a.name, "TypeName": a.type_name, "TypeVersion": a.type_version,
        "Status": a.status.as_str(), "HealthState": a.health_state.as_str(), "Parameters": a.parameters,
    })
}

pub async fn show(args: &NameArgs, target: &Target) -> Result<(), Failure> {
    let (client, _emulator) = read_client(target).await?;
    let Some(app) = client.application(&args.name).await? else {
        return Err(Failure::Outcome(format!("no application {}", args.name)));
    };
    if args.json {
        return out(format_args!("{}\n", app_json(&app)));
    }
    let mut text = format!(
        "name: {}\ntype: {} {}\nstatus: {}\nhealth: {}\n",
        app.name, app.type_name, app.type_version, app.status, app.health_state
    );
    for (k, v) in &app.parameters {
        text.push_str(&format!("parameter: {k}={v}\n"));
    }
    out(text)
}

pub async fn create(args: &CreateArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "app create").await?;
    let params: BTreeMap<String, String> = args.params.iter().cloned().collect();
    client
        .create_application(&args.name, &args.type_name, &args.version, &params)
        .await?;
    out(format_args!(
        "created {} ({} {})\n",
        args.name, args.type_name, args.version
    ))
}

pub async fn upgrade(args: &UpgradeArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "app upgrade").await?;
    let mut request = UpgradeRequest::new(args.version.clone());
    request.parameters = args.params.iter().cloned().collect();
    request.mode = args.mode.wire();
    request.failure_action = args.failure_action.wire();
    request.health_check_wait = args.timing.health_check_wait;
    request.health_check_stable = args.timing.health_check_stable;
    request.health_check_retry = args.timing.health_check_retry;
    request.upgrade_timeout = args.timing.upgrade_timeout;
    request.upgrade_domain_timeout = args.timing.upgrade_domain_timeout;
    request.force_restart = args.force_restart;
    client
        .start_application_upgrade(&args.name, &request)
        .await?;
    out(format_args!(
        "upgrade of {} to {} accepted; follow it with `sfrest app status {} --watch`\n",
        args.name, args.version, args.name
    ))
}

pub(crate) fn progress_json(p: &UpgradeProgress) -> serde_json::Value {
    serde_json::json!({
        "Name": p.name, "TargetVersion": p.target_version, "State": p.state.as_str(),
        "Mode": p.mode.as_str(), "NextUpgradeDomain": p.next_domain,
        "UpgradeDomains": p.domains.iter().map(|d| serde_json::json!({"Name": d.name, "State": d.state.as_str()})).collect::<Vec<_>>(),
        "FailureReason": p.failure_reason.as_ref().map(|r| r.as_str()),
        "UpgradeDurationSeconds": p.upgrade_duration.as_secs_f64(),
        "StatusDetails": p.status_details, "NeverUpgraded": p.never_upgraded(),
    })
}

pub(crate) fn progress_line(p: &UpgradeProgress) -> String {
    if p.never_upgraded() {
        return format!("{}: never upgraded; runs {}\n", p.name, p.target_version);
    }
    let done = p
        .domains
        .iter()
        .filter(|d| d.state.as_str() == "Completed")
        .count();
    let mut line = format!(
        "{} -> {}: {} ({}), {done}/{} domains",
        p.name,
        p.target_version,
        p.state,
        p.mode,
        p.domains.len()
    );
    if let Some(next) = &p.next_domain {
        line.push_str(&format!(", next {next}"));
    }
    if let Some(reason) = &p.failure_reason {
        line.push_str(&format!(", failure {reason}"));
    }
    if !p.status_details.is_empty() {
        line.push_str(&format!(" ({})", p.status_details));
    }
    line + "\n"
}

pub async fn status(args: &StatusArgs, target: &Target) -> Result<(), Failure> {
    let (client, _emulator) = read_client(target).await?;
    let mut last = String::new();
    loop {
        let progress = client.application_upgrade(&args.name).await?;
        let line = progress_line(&progress);
        if !args.watch {
            return if args.json {
                out(format_args!("{}\n", progress_json(&progress)))
            } else {
                out(line)
            };
        }
        if line != last && !args.json {
            out(&line)?;
            last = line;
        }
        if progress.is_terminal() {
            if args.json {
                out(format_args!("{}\n", progress_json(&progress)))?;
            }
            return match progress.state {
                UpgradeState::RollingForwardCompleted => Ok(()),
                _ => Err(Failure::Outcome(format!(
                    "the upgrade of {} ended {} (failure reason: {})",
                    args.name,
                    progress.state,
                    progress
                        .failure_reason
                        .as_ref()
                        .map_or("none", |r| r.as_str())
                ))),
            };
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

pub async fn rollback(args: &ChangeArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "app rollback").await?;
    client.rollback_application_upgrade(&args.name).await?;
    out(format_args!("rolling back the upgrade of {}\n", args.name))
}

pub async fn resume(args: &ResumeArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "app resume").await?;
    client
        .resume_application_upgrade(&args.name, &args.domain)
        .await?;
    out(format_args!("{}: upgrading {}\n", args.name, args.domain))
}

pub async fn health(args: &NameArgs, target: &Target) -> Result<(), Failure> {
    let (client, _emulator) = read_client(target).await?;
    let health = client.application_health(&args.name).await?;
    if args.json {
        let services: BTreeMap<&str, &str> = health
            .services
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .collect();
        return out(format_args!(
            "{}\n",
            serde_json::json!({"Name": args.name, "HealthState": health.state.as_str(), "Services": services})
        ));
    }
    let mut text = format!("{}: {}\n", args.name, health.state);
    for (service, state) in &health.services {
        text.push_str(&format!("  {service}: {state}\n"));
    }
    out(text)
}

pub async fn remove(args: &RemoveArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "app rm").await?;
    if !args.yes && std::io::stdin().is_terminal() {
        note(format_args!(
            "delete application {} and its services? type its name to confirm:",
            args.name
        ));
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if answer.trim() != args.name {
            return Err(Failure::Usage(format!(
                "not confirmed: {} was not deleted",
                args.name
            )));
        }
    }
    client
        .delete_application(&args.name, args.force_remove)
        .await?;
    out(format_args!("deleted {}\n", args.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("90s"), Ok(s(90)));
        assert_eq!(parse_duration("2m"), Ok(s(120)));
        assert_eq!(parse_duration("1h30m"), Ok(s(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("PT1H30M"), Ok(s(5400)));
        assert_eq!(parse_duration("120"), Ok(s(120)));
        for bad in ["", "1x", "m", "1h30", "P1D", "-5"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
