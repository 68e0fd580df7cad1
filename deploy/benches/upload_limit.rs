//! `upload_package` against the network's limit: a plain uploader (whole-file PUTs 8 at a
//! time, then the `_.dir` markers deepest first; no listing, no checks) over the same
//! package and the same emulator, at 0, 2 and 20 ms added to every request (the fault
//! plan's `*:latency=`). Prints, per latency, the time ratio ours / plain (median and range
//! over rounds that alternate which side goes first) and the requests each side sent. Then
//! one large file through upload sessions against one streaming PUT of the same bytes.
//!
//! ```sh
//! cargo bench -p servicefabric-deploy --bench upload_limit
//! ```
//!
//! `LIMIT_ROUNDS` (default 3), `LIMIT_FILES` (default 500), `LIMIT_MIB` (default 200) and
//! `LIMIT_PARALLEL` (ours; default `PackageOptions::default().parallel`) and `LIMIT_BIG_MIB`
//! (default 1024) change the run; `LIMIT_LATENCIES` (default `0,2,20`) the milliseconds added,
//! and `LIMIT_BIG_MIB=0` skips the large file.
//!
//! Before and after in the same run: `SFREST_BEFORE` and `SFREST_AFTER` name two `sfrest`
//! binaries (say, one built at the commit before a change, one at HEAD); each becomes a side of
//! its own (`sfrest app upload`, `sfrest upload`), with the requests it sent and its peak RSS
//! (VmHWM, read from /proc while it runs). All latencies run on one emulator, switched with
//! `Emulator::set_faults`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt, stream};
use servicefabric_deploy::{ClientExt, PackageOptions};
use servicefabric_emulator::{Emulator, SamplePackage, write_sample_package};
use servicefabric_rest::{Client, reqwest};

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Files (store path with `\`, local path) and folders (store paths) of a package.
fn walk(root: &Path, store: &str, files: &mut Vec<(String, PathBuf)>, folders: &mut Vec<String>) {
    folders.push(store.to_string());
    let mut entries: Vec<_> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{store}\\{name}");
        if entry.path().is_dir() {
            walk(&entry.path(), &path, files, folders);
        } else {
            files.push((path, entry.path()));
        }
    }
}

fn put_url(endpoint: &str, path: &str) -> String {
    let encoded: String = path
        .split('\\')
        .map(|s| s.replace(' ', "%20"))
        .collect::<Vec<_>>()
        .join("/");
    format!("{endpoint}/ImageStore/{encoded}?api-version=6.0&timeout=600")
}

/// The plain uploader: every file, 8 at a time, then the markers, deepest first.
async fn plain(http: &reqwest::Client, endpoint: &str, local: &Path) -> Result<u64, Failure> {
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    walk(local, "Limit", &mut files, &mut folders);
    let requests = (files.len() + folders.len()) as u64;
    stream::iter(files)
        .map(|(path, local)| async move {
            let bytes = tokio::fs::read(&local).await?;
            let response = http
                .put(put_url(endpoint, &path))
                .body(bytes)
                .send()
                .await?;
            if !response.status().is_success() {
                return Err(Failure::from(format!("PUT {path}: {}", response.status())));
            }
            Ok(())
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    folders.sort_by_key(|f| std::cmp::Reverse(f.matches('\\').count()));
    for folder in folders {
        let response = http
            .put(put_url(endpoint, &format!("{folder}\\_.dir")))
            .body(Vec::new())
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("PUT marker {folder}: {}", response.status()).into());
        }
    }
    Ok(requests)
}

/// One streaming UploadFile PUT of the whole file, 1 MiB reads.
async fn raw_put(http: &reqwest::Client, endpoint: &str, file: &Path) -> Result<(), Failure> {
    use tokio::io::AsyncReadExt;
    let handle = tokio::fs::File::open(file).await?;
    let pieces = stream::try_unfold(handle, |mut handle| async move {
        let mut buffer = vec![0u8; 1 << 20];
        let n = handle.read(&mut buffer).await?;
        buffer.truncate(n);
        Ok::<_, std::io::Error>((n > 0).then(|| (bytes::Bytes::from(buffer), handle)))
    });
    let response = http
        .put(put_url(endpoint, "big-raw.bin"))
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("raw PUT: {}", response.status()).into());
    }
    Ok(())
}

/// One large file through upload sessions (default options) against one streaming PUT.
async fn large_file(work: &Path, rounds: usize, mib: usize) -> Result<(), Failure> {
    let big = work.join("big.bin");
    {
        let file = std::fs::File::create(&big)?;
        let mut writer = std::io::BufWriter::new(file);
        let block: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for _ in 0..mib {
            std::io::Write::write_all(&mut writer, &block)?;
        }
    }
    let emulator = Emulator::start().await?;
    let client = Client::builder(emulator.endpoint())
        .server_timeout(600)
        .build()?;
    let http = reqwest::Client::new();
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (mut ours, mut raw) = (Duration::ZERO, Duration::ZERO);
        for side in [round % 2, 1 - round % 2] {
            let started = Instant::now();
            if side == 0 {
                let options = servicefabric_deploy::UploadOptions::default();
                client.upload_file(&big, "big-ours.bin", &options).await?;
                ours = started.elapsed();
                client.delete_store_content("big-ours.bin").await?;
            } else {
                raw_put(&http, emulator.endpoint(), &big).await?;
                raw = started.elapsed();
                client.delete_store_content("big-raw.bin").await?;
            }
        }
        println!(
            "  {mib} MiB file, round {round}: sessions {:.2} s, one PUT {:.2} s",
            ours.as_secs_f64(),
            raw.as_secs_f64()
        );
        ratios.push(raw.as_secs_f64() / ours.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "{mib} MiB file: sessions reach {:.2} ({:.2}-{:.2}) of one streaming PUT's speed",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    for (label, binary) in cli_sides() {
        let mut speeds = Vec::new();
        let mut peak = 0;
        for round in 0..rounds {
            let started = Instant::now();
            raw_put(&http, emulator.endpoint(), &big).await?;
            let raw = started.elapsed();
            client.delete_store_content("big-raw.bin").await?;
            let resume = work.join(format!("resume-big-{label}-{round}"));
            let started = Instant::now();
            peak = peak.max(
                run_cli(
                    &binary,
                    &[
                        "upload",
                        &big.to_string_lossy(),
                        "--path",
                        "big-cli.bin",
                        "--endpoint",
                        emulator.endpoint(),
                        "--resume-record",
                        &resume.to_string_lossy(),
                    ],
                )
                .await?,
            );
            speeds.push(raw.as_secs_f64() / started.elapsed().as_secs_f64());
            client.delete_store_content("big-cli.bin").await?;
        }
        println!(
            "{mib} MiB file: sfrest {label} upload reaches {} of one streaming PUT's speed; peak RSS {:.1} MiB",
            range(speeds),
            peak as f64 / 1024.0
        );
    }
    emulator.shutdown().await;
    std::fs::remove_file(&big)?;
    Ok(())
}

fn total(emulator: &Emulator) -> u64 {
    emulator.requests().values().sum()
}

/// Peak RSS in KiB of process `pid` (`self` for this one), from /proc (Linux).
fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs an `sfrest` binary to its end; gives its peak RSS in KiB (read every 5 ms).
async fn run_cli(binary: &Path, args: &[&str]) -> Result<u64, Failure> {
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .args(["--progress", "none"])
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(&pid) {
            peak = peak.max(kib);
        }
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                if !status.success() {
                    return Err(format!("{} {args:?}: {status}", binary.display()).into());
                }
                return Ok(peak);
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
}

/// The `sfrest` binaries to compare, from `SFREST_BEFORE` and `SFREST_AFTER`.
fn cli_sides() -> Vec<(&'static str, PathBuf)> {
    [("before", "SFREST_BEFORE"), ("after", "SFREST_AFTER")]
        .into_iter()
        .filter_map(|(label, var)| std::env::var_os(var).map(|p| (label, PathBuf::from(p))))
        .collect()
}

fn range(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "{:.2} ({:.2}-{:.2})",
        values[values.len() / 2],
        values[0],
        values[values.len() - 1]
    )
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let rounds = env_or("LIMIT_ROUNDS", 3).max(1);
    let files = env_or("LIMIT_FILES", 500);
    let mib = env_or("LIMIT_MIB", 200);
    let parallel = env_or("LIMIT_PARALLEL", PackageOptions::default().parallel);
    let work = tempfile::tempdir()?;
    let package = work.path().join("LimitApp");
    let sample = SamplePackage {
        small_files: files,
        small_file_bytes: mib * 1024 * 1024 / files.max(1),
        large_file_bytes: 0,
        ..SamplePackage::default()
    };
    let summary = write_sample_package(&package, &sample)?;
    println!(
        "package: {} files, {:.1} MiB; {rounds} rounds per latency; ours {parallel} files at a time",
        summary.files,
        summary.bytes as f64 / 1048576.0
    );
    let emulator = Emulator::start().await?;
    let client = Client::builder(emulator.endpoint())
        .server_timeout(600)
        .build()?;
    let http = reqwest::Client::new();
    let clis = cli_sides();
    let sides = 2 + clis.len();
    let latencies: Vec<u64> = std::env::var("LIMIT_LATENCIES")
        .unwrap_or_else(|_| "0,2,20".into())
        .split(',')
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for latency in latencies {
        emulator.set_faults(format!("seed=1;*:latency={latency}ms").parse()?);
        // Per side: times, requests, peak RSS (CLI sides).
        let mut times = vec![Vec::new(); sides];
        let mut requests = vec![0u64; sides];
        let mut rss = vec![0u64; sides];
        for round in 0..rounds {
            for turn in 0..sides {
                let side = (turn + round) % sides;
                let before = total(&emulator);
                let started = Instant::now();
                match side {
                    0 => {
                        plain(&http, emulator.endpoint(), &package).await?;
                    }
                    1 => {
                        let options = PackageOptions {
                            resume_dir: Some(work.path().join(format!("resume-{latency}-{round}"))),
                            parallel,
                            ..PackageOptions::default()
                        };
                        client.upload_package(&package, "Limit", &options).await?;
                    }
                    cli => {
                        let (label, binary) = &clis[cli - 2];
                        let resume = work
                            .path()
                            .join(format!("resume-{label}-{latency}-{round}"));
                        let peak = run_cli(
                            binary,
                            &[
                                "app",
                                "upload",
                                &package.to_string_lossy(),
                                "--path-in-store",
                                "Limit",
                                "--endpoint",
                                emulator.endpoint(),
                                "--resume-dir",
                                &resume.to_string_lossy(),
                            ],
                        )
                        .await?;
                        rss[side] = rss[side].max(peak);
                    }
                }
                times[side].push(started.elapsed().as_secs_f64());
                requests[side] = total(&emulator) - before;
                client.delete_store_content("Limit").await?;
            }
        }
        let plain_times = times[0].clone();
        let ratio = |side: usize| -> Vec<f64> {
            times[side]
                .iter()
                .zip(&plain_times)
                .map(|(t, p)| t / p)
                .collect()
        };
        println!(
            "{latency:>2} ms added: ours / plain = {}; requests: ours {}, plain {}",
            range(ratio(1)),
            requests[1],
            requests[0]
        );
        for (i, (label, _)) in clis.iter().enumerate() {
            println!(
                "{latency:>2} ms added: sfrest {label} / plain = {}; requests {}; peak RSS {:.1} MiB",
                range(ratio(i + 2)),
                requests[i + 2],
                rss[i + 2] as f64 / 1024.0
            );
        }
    }
    emulator.shutdown().await;
    println!(
        "peak RSS of this process (emulator and in-process uploads): {:.1} MiB",
        peak_rss_kib("self").unwrap_or(0) as f64 / 1024.0
    );
    std::fs::remove_dir_all(&package)?;
    match env_or("LIMIT_BIG_MIB", 1024) {
        0 => Ok(()),
        mib => large_file(work.path(), rounds, mib).await,
    }
}
