//! `sfrest app deploy`: the deploy workflow from the command line, with its exit codes:
//! 0 deployed, 1 failed (before the cluster changed, or a call failed), 2 command line
//! refused, 3 rolled back, 4 upgrade failed, 5 paused for a manual action, 6 the deadline
//! passed while the upgrade goes on, 128+N on signal N.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use servicefabric_deploy::{
    ClientExt, DeployEventFn, DeployOptions, DeployReport, Outcome, PublishProfile, UpgradeSettings,
};

use crate::{
    Target,
    deploy_view::DeployView,
    lifecycle::{Action, Mode, Timing, parse_duration, parse_param},
    output::{Failure, interrupted, note, out},
    package_flags::PackageFlags,
    progress,
};

#[derive(Args)]
pub struct DeployArgs {
    /// The application package folder (holding ApplicationManifest.xml).
    dir: PathBuf,
    /// A Visual Studio publish profile: its parameters file, upgrade settings and
    /// compression.
    #[arg(long, value_name = "FILE")]
    publish_profile: Option<PathBuf>,
    /// An application parameters file [default: the profile's ApplicationParameterFile].
    #[arg(long, value_name = "FILE")]
    parameters: Option<PathBuf>,
    /// A parameter over the file's, NAME=VALUE (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// The application [default: the parameters file's Name, else fabric:/ + the type name
    /// without a trailing Type].
    #[arg(long, value_name = "fabric:/NAME", value_parser = parse_app_name)]
    app_name: Option<String>,
    /// How the upgrade proceeds [default: the profile's, else monitored].
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Monitored: what a failed health check or timeout does [default: the profile's, else
    /// rollback].
    #[arg(long, value_enum)]
    failure_action: Option<Action>,
    #[command(flatten)]
    timing: Timing,
    /// Time to wait for replica-set safety before a domain (the runtime's default is
    /// forever).
    #[arg(long, value_parser = parse_duration)]
    replica_set_check_timeout: Option<Duration>,
    /// Restart processes even when only configuration or data changed.
    #[arg(long)]
    force_restart: bool,
    /// Parameters no source names keep the application's current value (else they revert
    /// to the manifest's default, as the runtime does).
    #[arg(long)]
    keep_current_parameters: bool,
    /// Wait for an upgrade toward another version to end, instead of refusing.
    #[arg(long)]
    wait_previous: bool,
    /// Keep the type's N newest versions (the running one counts); unprovision older ones
    /// no application uses.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    keep_versions: Option<u32>,
    /// Leave the uploaded package in the image store once provisioned.
    #[arg(long)]
    keep_package: bool,
    /// Upload only what changed since the version the application runs.
    #[arg(long)]
    diff: bool,
    /// Return once the upgrade started (exit 0), without following it.
    #[arg(long)]
    no_wait: bool,
    /// Stop waiting this long after the command started (exit 6; the upgrade goes on).
    #[arg(long, value_parser = parse_duration)]
    deadline: Option<Duration>,
    /// At the deadline, roll the upgrade back and follow the rollback (exit 3).
    #[arg(long, requires = "deadline")]
    rollback_on_deadline: bool,
    /// Where the package goes in the image store [default: TYPE_VERSION].
    #[arg(long)]
    path_in_store: Option<String>,
    /// How the package is uploaded (`--compress` also comes from the profile's
    /// CompressPackage).
    #[command(flatten)]
    package: PackageFlags,
    /// Time between reads of a running upgrade.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    poll_interval: Duration,
    /// JSON lines on stdout, one per event; the last is the report.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

/// `--app-name`, checked as the gateway will check it.
fn parse_app_name(text: &str) -> Result<String, String> {
    servicefabric_rest::paths::application_id(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// The exit status of an outcome.
fn exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::RolledBack => 3,
        Outcome::Failed => 4,
        Outcome::Paused => 5,
        Outcome::Deadline => 6,
        _ => 0,
    }
}

fn options(args: &DeployArgs, view: &DeployView) -> DeployOptions {
    let upgrade = UpgradeSettings {
        mode: args.mode.map(Mode::wire),
        failure_action: args.failure_action.map(Action::wire),
        force_restart: args.force_restart.then_some(true),
        replica_set_check_timeout: args.replica_set_check_timeout,
        health_check_wait: args.timing.health_check_wait,
        health_check_stable: args.timing.health_check_stable,
        health_check_retry: args.timing.health_check_retry,
        upgrade_domain_timeout: args.timing.upgrade_domain_timeout,
        upgrade_timeout: args.timing.upgrade_timeout,
        health_policy: None,
    };
    let mut options = DeployOptions {
        publish_profile: args.publish_profile.clone(),
        parameters_file: args.parameters.clone(),
        parameters: args.params.clone(),
        application_name: args.app_name.clone(),
        upgrade,
        keep_current_parameters: args.keep_current_parameters,
        wait_previous: args.wait_previous,
        keep_versions: args.keep_versions.map(|n| n as usize),
        keep_package: args.keep_package,
        diff: args.diff,
        no_wait: args.no_wait,
        deadline: args.deadline.map(|d| std::time::Instant::now() + d),
        rollback_on_deadline: args.rollback_on_deadline,
        poll_interval: args.poll_interval.max(Duration::from_millis(10)),
        path_in_store: args.path_in_store.clone(),
        ..DeployOptions::default()
    };
    options.package = args.package.options();
    let shown = view.clone();
    options.events = Some(DeployEventFn::new(move |e| shown.show(e)));
    options
}

fn report_json(r: &DeployReport) -> serde_json::Value {
    let upgrade = r.upgrade.as_ref();
    serde_json::json!({
        "event": "report",
        "application": r.application,
        "typeName": r.type_name,
        "typeVersion": r.type_version,
        "outcome": r.outcome.as_str(),
        "previousVersion": r.previous_version,
        "parameters": r.parameters,
        "diff": r.diff,
        "filesSent": r.upload.as_ref().map_or(0, |u| u.files_sent),
        "bytesSent": r.upload.as_ref().map_or(0, |u| u.bytes_sent),
        "provisioned": r.provisioned,
        "upgradeStarted": r.upgrade_started,
        "pathInStore": r.path_in_store,
        "packageDeleted": r.package_deleted,
        "unprovisioned": r.unprovisioned,
        "upgradeState": upgrade.map(|u| u.state.as_str()),
        "failureReason": upgrade.and_then(|u| u.failure_reason.as_ref()).map(|f| f.as_str()),
        "upgradeDomainAtFailure": upgrade.and_then(|u| u.domain_progress_at_failure.as_ref()).map(|d| d.domain.clone()),
        "unhealthyEvaluations": upgrade.map(|u| u.unhealthy_evaluations.clone()).unwrap_or_default(),
        "nextAction": r.next_action,
        "exitCode": exit_code(r.outcome),
        "elapsedSeconds": r.elapsed.as_secs_f64(),
    })
}

fn summary(r: &DeployReport) -> String {
    let took = format!("{:.1} s", r.elapsed.as_secs_f64());
    let what = format!("{} {}", r.type_name, r.type_version);
    let from = r
        .previous_version
        .as_deref()
        .map(|v| format!(" (from {v})"))
        .unwrap_or_default();
    let mut text = match r.outcome {
        Outcome::Created => format!("{}: created, {what}, in {took}", r.application),
        Outcome::Upgraded => format!("{}: upgraded to {what}{from} in {took}", r.application),
        Outcome::Unchanged => format!("{}: already at target, {what}", r.application),
        Outcome::Started => format!("{}: upgrade to {what}{from} started", r.application),
        Outcome::RolledBack => format!(
            "{}: the upgrade to {what} rolled back; it runs {}",
            r.application,
            r.previous_version.as_deref().unwrap_or("the old version")
        ),
        Outcome::Failed => format!("{}: the upgrade to {what} failed", r.application),
        Outcome::Paused => format!(
            "{}: the upgrade to {what} waits for a manual action",
            r.application
        ),
        Outcome::Deadline => format!(
            "{}: the deadline passed; the upgrade to {what} goes on",
            r.application
        ),
        _ => format!("{}: {}", r.application, r.outcome.as_str()),
    };
    if let Some(u) = &r.upgrade
        && !r.outcome.is_success()
    {
        if let Some(reason) = &u.failure_reason {
            text.push_str(&format!("\n  failure reason: {reason}"));
        }
        if let Some(d) = &u.domain_progress_at_failure {
            text.push_str(&format!("\n  upgrade domain at failure: {}", d.domain));
        }
        for e in &u.unhealthy_evaluations {
            let description = e
                .get("Description")
                .and_then(|d| d.as_str())
                .map_or_else(|| e.to_string(), str::to_string);
            text.push_str(&format!("\n  unhealthy: {description}"));
        }
    }
    if let Some(next) = &r.next_action {
        text.push_str(&format!("\n  next: {next}"));
    }
    text + "\n"
}

pub async fn run(args: &DeployArgs, target: &Target) -> Result<(), Failure> {
    let mut target = target.clone();
    // The profile names the cluster certificate: pin an https gateway to it unless told
    // otherwise. Its other connection settings are the native client's.
    if let Some(file) = &args.publish_profile {
        match PublishProfile::read(file) {
            Ok(profile) => {
                if let Some(thumbprint) = profile
                    .server_cert_thumbprint
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    && target.endpoint.iter().any(|e| e.starts_with("https://"))
                    && target.security.pin_when_unset(thumbprint)
                {
                    note(format_args!(
                        "sfrest: pinning the gateway's certificate to the publish profile's ServerCertThumbprint {thumbprint}"
                    ));
                }
            }
            Err(e) => {
                let _ = Failure::Client(e).report();
                return Err(Failure::Exit(1));
            }
        }
    }
    let client = crate::connect_for_change(&target, "app deploy").await?;
    let view = DeployView::new(args.json, progress::mode());
    let options = options(args, &view);
    let outcome = tokio::select! {
        outcome = client.deploy(&args.dir, &options) => outcome,
        signal = interrupted() => {
            view.finish();
            let name = view.application().unwrap_or_else(|| "fabric:/NAME".into());
            if view.upgrading() {
                note(format_args!("sfrest: interrupted; the upgrade goes on: follow it with `sfrest app status {name} --watch`, or run the same deploy again to follow it to its end"));
                if view.json() {
                    let (type_name, type_version) = view.deploying().unwrap_or_default();
                    let _ = out(format_args!("{}\n", serde_json::json!({"event": "report", "application": name, "typeName": type_name, "typeVersion": type_version, "outcome": "started", "interrupted": true, "exitCode": 128 + u16::from(signal)})));
                }
            } else {
                note("sfrest: interrupted; run the same deploy again to finish the job (the upload resumes, a provision done is found done)");
            }
            return Err(Failure::Signal(signal));
        }
    };
    view.finish();
    match outcome {
        Ok(report) => {
            if args.json {
                out(format_args!("{}\n", report_json(&report)))?;
            } else {
                out(summary(&report))?;
            }
            match exit_code(report.outcome) {
                0 => Ok(()),
                code => Err(Failure::Exit(code)),
            }
        }
        Err(e) => {
            if args.json {
                let _ = out(format_args!(
                    "{}\n",
                    serde_json::json!({"event": "error", "message": e.to_string(), "code": e.code().map(|c| c.as_str().to_string()), "exitCode": 1})
                ));
            }
            let _ = Failure::Client(e).report();
            Err(Failure::Exit(1))
        }
    }
}
