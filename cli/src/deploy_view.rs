//! How `app deploy` shows its events: bars and live domain lines on a terminal, timestamped
//! lines in a build log (at each step and change, and at least every 10 s while waiting),
//! or JSON lines on stdout with `--json`.

use std::{
    collections::BTreeMap,
    io::IsTerminal,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use servicefabric_deploy::{DeployEvent, Step};
use servicefabric_rest::{UpgradeProgress, chrono::Utc};

use crate::{
    lifecycle::{progress_json, progress_line},
    output::{note, out},
    progress::{Progress, ProgressMode, plain_line},
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Bars,
    Plain,
    Quiet,
}

/// What the deploy has shown so far.
#[derive(Default)]
struct State {
    application: Option<String>,
    /// The type and version being deployed.
    deploying: Option<(String, String)>,
    upload: Option<Progress>,
    upload_json_at: Option<Instant>,
    step: Option<Step>,
    /// The last upgrade line (plain) or JSON (json), to show changes only.
    last_upgrade: String,
    last_line_at: Option<Instant>,
    /// An upgrade was started or followed: an interrupted deploy has the outcome `started`.
    upgrading: bool,
    multi: Option<MultiProgress>,
    domains: BTreeMap<String, ProgressBar>,
    health: Option<ProgressBar>,
}

/// Shows a deploy's events; cheap to clone into the event callback.
#[derive(Clone)]
pub struct DeployView {
    kind: Kind,
    state: Arc<Mutex<State>>,
    ticker: Option<Arc<tokio::task::JoinHandle<()>>>,
}

fn json_line(value: serde_json::Value) {
    let _ = out(format_args!("{value}\n"));
}

fn now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl DeployView {
    /// The view `--json` and `--progress` ask for.
    pub fn new(json: bool, mode: ProgressMode) -> Self {
        let kind = match (json, mode) {
            (true, _) => Kind::Json,
            (_, ProgressMode::None) => Kind::Quiet,
            (_, ProgressMode::Bar) => Kind::Bars,
            (_, ProgressMode::Plain) => Kind::Plain,
            (_, ProgressMode::Auto) if std::io::stderr().is_terminal() => Kind::Bars,
            (_, ProgressMode::Auto) => Kind::Plain,
        };
        let state = Arc::new(Mutex::new(State::default()));
        // A build log hears from a long provision or wait at least every 10 s.
        let ticker = (kind == Kind::Plain).then(|| {
            let state = state.clone();
            Arc::new(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let Ok(mut s) = state.lock() else { return };
                    let quiet = s
                        .last_line_at
                        .is_some_and(|at| at.elapsed() >= Duration::from_secs(10));
                    if let Some(step) = s.step.filter(|st| *st != Step::Upload && quiet) {
                        plain_line(format_args!("still at step {}", step.as_str()));
                        s.last_line_at = Some(Instant::now());
                    }
                }
            }))
        });
        Self {
            kind,
            state,
            ticker,
        }
    }

    /// Whether the output is JSON lines.
    pub fn json(&self) -> bool {
        self.kind == Kind::Json
    }

    /// The application being deployed, once read.
    pub fn application(&self) -> Option<String> {
        self.state.lock().ok().and_then(|s| s.application.clone())
    }

    /// The type and version being deployed, once read.
    pub fn deploying(&self) -> Option<(String, String)> {
        self.state.lock().ok().and_then(|s| s.deploying.clone())
    }

    /// Whether an upgrade was started or followed.
    pub fn upgrading(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.upgrading)
    }

    /// A line for a person: on stderr, timestamped in a build log, as an event with --json.
    pub fn say(&self, text: &str) {
        match self.kind {
            Kind::Json => {
                json_line(serde_json::json!({"event": "note", "time": now(), "message": text}))
            }
            Kind::Plain => {
                plain_line(text);
                if let Ok(mut s) = self.state.lock() {
                    s.last_line_at = Some(Instant::now());
                }
            }
            Kind::Bars => match self.state.lock().ok().and_then(|s| s.multi.clone()) {
                Some(multi) => {
                    let _ = multi.println(text);
                }
                None => note(text),
            },
            Kind::Quiet => {}
        }
    }

    /// Shows one event.
    pub fn show(&self, event: &DeployEvent) {
        match event {
            DeployEvent::Plan {
                application,
                type_name,
                type_version,
            } => {
                if let Ok(mut s) = self.state.lock() {
                    s.application = Some(application.clone());
                    s.deploying = Some((type_name.clone(), type_version.clone()));
                }
                if self.json() {
                    json_line(
                        serde_json::json!({"event": "plan", "time": now(), "application": application, "typeName": type_name, "typeVersion": type_version}),
                    );
                } else {
                    self.say(&format!(
                        "deploying {type_name} {type_version} to {application}"
                    ));
                }
            }
            DeployEvent::Step(step) => self.step(*step),
            DeployEvent::Note(text) => self.say(text),
            DeployEvent::Upload(p) => {
                if self.json() {
                    let due = self.state.lock().is_ok_and(|mut s| {
                        let due = p.files_done == p.files_total
                            || s.upload_json_at
                                .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
                        if due {
                            s.upload_json_at = Some(Instant::now());
                        }
                        due
                    });
                    if due {
                        json_line(
                            serde_json::json!({"event": "upload", "time": now(), "bytesDone": p.bytes_done, "bytesTotal": p.bytes_total, "bytesFound": p.bytes_found, "filesDone": p.files_done, "filesTotal": p.files_total}),
                        );
                    }
                    return;
                }
                if let Ok(s) = self.state.lock()
                    && let Some(progress) = &s.upload
                {
                    progress.bytes(p.bytes_done, p.bytes_total, p.bytes_found);
                    let finished = (p.file_bytes_done == p.file_bytes_total
                        && p.file_bytes_total > 0)
                        .then_some(p.file.as_str());
                    progress.files(p.files_done, p.files_total, finished);
                }
            }
            DeployEvent::Upgrade(p) => self.upgrade(p),
            _ => {}
        }
    }

    fn step(&self, step: Step) {
        let Ok(mut s) = self.state.lock() else { return };
        if let Some(upload) = s.upload.take() {
            upload.finish();
        }
        s.step = Some(step);
        if matches!(step, Step::Upgrade | Step::Follow) {
            s.upgrading = true;
        }
        match self.kind {
            Kind::Json => json_line(
                serde_json::json!({"event": "step", "time": now(), "step": step.as_str()}),
            ),
            Kind::Quiet => {}
            _ if step == Step::Upload => {
                let what = format!(
                    "upload {}",
                    s.application.as_deref().unwrap_or("the package")
                );
                s.upload = Some(Progress::start(&what, true));
            }
            Kind::Plain => {
                plain_line(format_args!("step: {}", step.as_str()));
                s.last_line_at = Some(Instant::now());
            }
            Kind::Bars => {
                if step == Step::Follow && s.multi.is_none() {
                    s.multi = Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
                }
                match &s.multi {
                    Some(multi) => {
                        let _ = multi.println(format!("{}...", step.as_str()));
                    }
                    None => note(format_args!("{}...", step.as_str())),
                }
            }
        }
    }

    fn upgrade(&self, p: &UpgradeProgress) {
        let Ok(mut s) = self.state.lock() else { return };
        match self.kind {
            Kind::Json => {
                let value = progress_json(p);
                let text = value.to_string();
                if text != s.last_upgrade {
                    let mut event = serde_json::json!({"event": "upgrade", "time": now()});
                    if let (Some(event), Some(fields)) = (event.as_object_mut(), value.as_object())
                    {
                        event.extend(fields.clone());
                    }
                    json_line(event);
                    s.last_upgrade = text;
                }
            }
            Kind::Plain => {
                let line = progress_line(p);
                let stale = s
                    .last_line_at
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
                if line != s.last_upgrade {
                    plain_line(line.trim_end());
                    s.last_upgrade = line;
                    s.last_line_at = Some(Instant::now());
                } else if stale {
                    plain_line(format_args!("still waiting: {}", line.trim_end()));
                    s.last_line_at = Some(Instant::now());
                }
            }
            Kind::Bars => {
                let multi = s
                    .multi
                    .get_or_insert_with(|| {
                        MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
                    })
                    .clone();
                let mut domains: Vec<_> = p.domains.iter().collect();
                domains.sort_by(|a, b| a.name.cmp(&b.name));
                for domain in domains {
                    let bar = s.domains.entry(domain.name.clone()).or_insert_with(|| {
                        let bar = multi.add(ProgressBar::new_spinner());
                        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                            bar.set_style(style);
                        }
                        bar.enable_steady_tick(Duration::from_millis(200));
                        bar
                    });
                    let phase = p
                        .current_domain
                        .as_ref()
                        .filter(|c| c.domain == domain.name)
                        .and_then(|c| c.nodes.first())
                        .map(|n| format!(" ({})", n.phase))
                        .unwrap_or_default();
                    bar.set_message(format!(
                        "{} -> {}: {}{phase}",
                        domain.name, p.target_version, domain.state
                    ));
                }
                let health = s.health.get_or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    if let Ok(style) = ProgressStyle::with_template("  {msg}") {
                        bar.set_style(style);
                    }
                    bar
                });
                let verdict = match p.unhealthy_evaluations.first() {
                    None => "no unhealthy evaluation".to_string(),
                    Some(e) => format!(
                        "unhealthy: {}",
                        e.get("Description")
                            .and_then(|d| d.as_str())
                            .unwrap_or("see `sfrest app health`")
                    ),
                };
                health.set_message(format!("{} ({}); health: {verdict}", p.state, p.mode));
            }
            Kind::Quiet => {}
        }
    }

    /// Removes bars and stops tickers: before the final lines.
    pub fn finish(&self) {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
        let Ok(mut s) = self.state.lock() else { return };
        if let Some(upload) = s.upload.take() {
            upload.finish();
        }
        for bar in s.domains.values() {
            bar.finish_and_clear();
        }
        if let Some(bar) = &s.health {
            bar.finish_and_clear();
        }
        if let Some(multi) = &s.multi {
            let _ = multi.clear();
        }
    }
}
