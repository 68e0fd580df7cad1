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
//! (default 1024) change the run.

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
    emulator.shutdown().await;
    std::fs::remove_file(&big)?;
    Ok(())
}

fn total(emulator: &Emulator) -> u64 {
    emulator.requests().values().sum()
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let rounds = env_or("LIMIT_ROUNDS", 3);
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
    for latency in [0u64, 2, 20] {
        let plan = format!("seed=1;*:latency={latency}ms").parse()?;
        let emulator = Emulator::builder().faults(plan).start().await?;
        let client = Client::builder(emulator.endpoint())
            .server_timeout(600)
            .build()?;
        let http = reqwest::Client::new();
        let (mut ratios, mut ours_requests, mut plain_requests) = (Vec::new(), 0, 0);
        for round in 0..rounds {
            let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
            for side in [round % 2, 1 - round % 2] {
                let before = total(&emulator);
                let started = Instant::now();
                if side == 0 {
                    let options = PackageOptions {
                        resume_dir: Some(work.path().join(format!("resume-{latency}-{round}"))),
                        parallel,
                        ..PackageOptions::default()
                    };
                    client.upload_package(&package, "Limit", &options).await?;
                    ours = started.elapsed();
                    ours_requests = total(&emulator) - before;
                } else {
                    plain_requests = plain(&http, emulator.endpoint(), &package).await?;
                    theirs = started.elapsed();
                }
                client.delete_store_content("Limit").await?;
            }
            ratios.push(ours.as_secs_f64() / theirs.as_secs_f64());
            println!(
                "  {latency:>2} ms, round {round}: ours {:.2} s, plain {:.2} s",
                ours.as_secs_f64(),
                theirs.as_secs_f64()
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "{latency:>2} ms added: ours / plain = {:.2} ({:.2}-{:.2}); requests: ours {ours_requests}, plain {plain_requests}",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
        emulator.shutdown().await;
    }
    std::fs::remove_dir_all(&package)?;
    large_file(work.path(), rounds, env_or("LIMIT_BIG_MIB", 1024)).await
}
