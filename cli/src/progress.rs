//! Progress of long work on stderr, for a terminal or a build log: `--progress
//! auto|bar|plain|none`. Bars on a terminal; plain timestamped lines otherwise, one per
//! milestone and at least one every 10 seconds with bytes, rate and ETA.

use std::{
    io::IsTerminal,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::ValueEnum;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use servicefabric_rest::chrono::Utc;

use crate::output::note;

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Bars.
    Bar,
    /// Timestamped lines, for build logs.
    Plain,
    /// Nothing.
    None,
}

/// The `--progress` given on the command line.
static MODE: std::sync::OnceLock<ProgressMode> = std::sync::OnceLock::new();

/// Records `--progress` (once, at start).
pub fn set_mode(mode: ProgressMode) {
    let _ = MODE.set(mode);
}

/// The `--progress` in effect.
pub fn mode() -> ProgressMode {
    MODE.get().copied().unwrap_or_default()
}

/// At most this long without a plain line while work goes on.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// A plain line: an RFC 3339 timestamp, then the text.
pub fn plain_line(text: impl std::fmt::Display) {
    note(format_args!(
        "{} {text}",
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    ));
}

fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut value, mut unit) = (bytes, 0);
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[derive(Default)]
struct Counts {
    bytes_done: u64,
    bytes_total: u64,
    bytes_found: u64,
    files_done: u64,
    files_total: u64,
    last_line: Option<Instant>,
}

enum Shown {
    Bars {
        multi: MultiProgress,
        bytes: ProgressBar,
        files: Option<ProgressBar>,
    },
    Plain,
    Nothing,
}

/// The progress of one upload: bytes (and files, for a package).
pub struct Progress {
    shown: Shown,
    what: String,
    started: Instant,
    counts: Arc<Mutex<Counts>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing the progress of `what`; `files` adds a files line.
    pub fn start(what: &str, files: bool) -> Self {
        let mode = mode();
        let terminal = std::io::stderr().is_terminal();
        let mode = match mode {
            ProgressMode::Auto if terminal => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        };
        let counts = Arc::new(Mutex::new(Counts::default()));
        let started = Instant::now();
        let shown = match mode {
            ProgressMode::Bar => {
                // Hidden until the first byte is sent: files found in the store come first, and
                // a re-run that sends nothing shows no bar at all.
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
                let bytes = multi.add(ProgressBar::new(0));
                if let Ok(style) = ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                ) {
                    bytes.set_style(style);
                }
                let files = files.then(|| {
                    let bar = multi.add(ProgressBar::new(0));
                    if let Ok(style) =
                        ProgressStyle::with_template("{bar:40} {pos}/{len} files {msg}")
                    {
                        bar.set_style(style);
                    }
                    bar
                });
                bytes.enable_steady_tick(Duration::from_millis(200));
                Shown::Bars {
                    multi,
                    bytes,
                    files,
                }
            }
            ProgressMode::Plain => {
                plain_line(format_args!("{what}: started"));
                Shown::Plain
            }
            _ => Shown::Nothing,
        };
        let ticker = matches!(shown, Shown::Plain).then(|| {
            let (counts, what) = (counts.clone(), what.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let due = counts
                        .lock()
                        .map(|c| c.last_line.is_none_or(|at| at.elapsed() >= PLAIN_EVERY))
                        .unwrap_or(false);
                    if due {
                        status_line(&counts, &what, started);
                    }
                }
            })
        });
        Self {
            shown,
            what: what.to_string(),
            started,
            counts,
            ticker,
        }
    }

    /// Bytes the store holds of the total; `found` of them were there before this run.
    pub fn bytes(&self, done: u64, total: u64, found: u64) {
        let sending = match self.counts.lock() {
            Ok(mut c) => {
                // Bytes that are not found ones: this run sends.
                let sending = done > c.bytes_done && found == c.bytes_found;
                c.bytes_done = done;
                c.bytes_total = total;
                c.bytes_found = found;
                sending
            }
            Err(_) => false,
        };
        if let Shown::Bars { multi, bytes, .. } = &self.shown
            && total > found
        {
            if sending && bytes.length().unwrap_or(0) == 0 {
                multi.set_draw_target(ProgressDrawTarget::stderr());
                bytes.enable_steady_tick(Duration::from_millis(200));
            }
            // Only what this run sends: the rate counts bytes sent, not bytes found.
            bytes.set_length(total.saturating_sub(found));
            bytes.set_position(done.saturating_sub(found));
        }
    }

    /// Files complete of the total; `finished` names a file that just completed.
    pub fn files(&self, done: u64, total: u64, finished: Option<&str>) {
        if let Ok(mut c) = self.counts.lock() {
            c.files_done = done;
            c.files_total = total;
        }
        match &self.shown {
            Shown::Bars {
                files: Some(bar), ..
            } => {
                bar.set_length(total);
                bar.set_position(done);
                if let Some(file) = finished {
                    bar.set_message(file.to_string());
                }
            }
            Shown::Plain => {
                if let Some(file) = finished {
                    plain_line(format_args!(
                        "{}: {file} done ({done}/{total} files)",
                        self.what
                    ));
                    if let Ok(mut c) = self.counts.lock() {
                        c.last_line = Some(Instant::now());
                    }
                }
            }
            _ => {}
        }
    }

    /// A phase started (plain: a line).
    pub fn phase(&self, text: &str) {
        if matches!(self.shown, Shown::Plain) {
            plain_line(format_args!("{}: {text}", self.what));
        }
    }

    /// Removes the bars (done, failed or interrupted): nothing stale is left on the terminal.
    pub fn clear(&self) {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
        if let Shown::Bars {
            multi,
            bytes,
            files,
        } = &self.shown
        {
            bytes.finish_and_clear();
            if let Some(files) = files {
                files.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }

    /// Ends the display; plain mode prints the last status line.
    pub fn finish(&self) {
        self.clear();
        if matches!(self.shown, Shown::Plain) {
            status_line(&self.counts, &self.what, self.started);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
    }
}

/// `what: 12.0 MiB/40.0 MiB, 3/10 files, 2.0 MiB/s, eta 14s`.
fn status_line(counts: &Mutex<Counts>, what: &str, started: Instant) {
    let Ok(mut c) = counts.lock() else { return };
    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    let sent = c.bytes_done.saturating_sub(c.bytes_found) as f64;
    let rate = sent / elapsed;
    let left = c.bytes_total.saturating_sub(c.bytes_done) as f64;
    let eta = if rate > 0.0 {
        format!("{:.0}s", left / rate)
    } else {
        "unknown".into()
    };
    let files = if c.files_total > 0 {
        format!(", {}/{} files", c.files_done, c.files_total)
    } else {
        String::new()
    };
    plain_line(format_args!(
        "{what}: {}/{}{files}, {}/s, eta {eta}",
        human(c.bytes_done as f64),
        human(c.bytes_total as f64),
        human(rate)
    ));
    c.last_line = Some(Instant::now());
}
