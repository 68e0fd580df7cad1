//! Application packages, same run, same emulator: our `upload_package` against
//! `sfctl application upload` (500 files, 200 MiB), one 1 GiB file through upload sessions
//! against one raw streaming UploadFile PUT of the same bytes, and UploadFile against a session
//! upload per file size (how `session_threshold` was chosen).
//!
//! ```sh
//! cargo test --test interop_sfctl            # makes target/tmp/sfctl-venv once
//! cargo bench -p servicefabric-rest --bench package
//! ```
//!
//! Rounds alternate which side goes first; ratios are medians of the paired ratios. Set
//! `SFCTL` to another sfctl executable, `PACKAGE_ROUNDS` for more rounds.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use futures::StreamExt;
use servicefabric_deploy::{ClientExt, PackageOptions, UploadOptions};
use servicefabric_emulator::{Emulator, SamplePackage, write_sample_package};
use servicefabric_rest::{Client, reqwest};

type Failure = Box<dyn std::error::Error>;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn sfctl() -> PathBuf {
    std::env::var_os("SFCTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tmp/sfctl-venv/bin/sfctl")
        })
}

fn run_sfctl(home: &Path, args: &[&str]) -> Result<(), Failure> {
    let out = Command::new(sfctl())
        .env("HOME", home)
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "sfctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// One raw UploadFile PUT streaming the file, as a hand-written reqwest client would.
async fn raw_put(
    http: &reqwest::Client,
    endpoint: &str,
    file: &Path,
    name: &str,
) -> Result<(), Failure> {
    use tokio::io::AsyncReadExt;
    // 1 MiB reads: reqwest's own `Body::from(File)` reads 8 KiB at a time, about 3x slower
    // here, which would flatter us.
    let handle = tokio::fs::File::open(file).await?;
    let pieces = futures::stream::try_unfold(handle, |mut handle| async move {
        let mut buffer = vec![0u8; 1 << 20];
        let n = handle.read(&mut buffer).await?;
        buffer.truncate(n);
        Ok::<_, std::io::Error>((n > 0).then(|| (bytes::Bytes::from(buffer), handle)))
    });
    let url = format!("{endpoint}/ImageStore/{name}?api-version=6.0&timeout=600");
    let response = http
        .put(url)
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("raw PUT: {}", response.status()).into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let rounds: usize = std::env::var("PACKAGE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let emulator = Emulator::start().await?;
    let client = Client::builder(emulator.endpoint())
        .server_timeout(600)
        .build()?;
    let work = tempfile::tempdir()?;
    let home = work.path().join("home");
    std::fs::create_dir_all(&home)?;
    run_sfctl(&home, &["settings", "telemetry", "set-telemetry", "--off"])?;
    run_sfctl(
        &home,
        &["cluster", "select", "--endpoint", emulator.endpoint()],
    )?;

    // 1. A package of 500 files and 200 MiB.
    let package = work.path().join("BenchApp");
    let sample = SamplePackage {
        small_files: 500,
        small_file_bytes: 200 * 1024 * 1024 / 500,
        large_file_bytes: 0,
        ..SamplePackage::default()
    };
    let summary = write_sample_package(&package, &sample)?;
    println!(
        "package: {} files, {:.1} MiB; {rounds} rounds",
        summary.files,
        summary.bytes as f64 / 1048576.0
    );
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut ours = Duration::ZERO;
        let mut theirs = Duration::ZERO;
        for side in [round % 2, 1 - round % 2] {
            if side == 0 {
                let options = PackageOptions {
                    parallel: 8,
                    resume_dir: Some(work.path().join(format!("resume{round}"))),
                    ..PackageOptions::default()
                };
                let started = Instant::now();
                client
                    .upload_package(&package, "BenchApp", &options)
                    .await?;
                ours = started.elapsed();
            } else {
                let dir = package.to_string_lossy().into_owned();
                let home = home.clone();
                let started = Instant::now();
                tokio::task::spawn_blocking(move || {
                    run_sfctl(&home, &["application", "upload", "--path", &dir])
                        .map_err(|e| e.to_string())
                })
                .await??;
                theirs = started.elapsed();
            }
            client.delete_store_content("BenchApp").await?;
        }
        let ratio = theirs.as_secs_f64() / ours.as_secs_f64();
        println!(
            "  round {round}: ours {:.2} s, sfctl {:.2} s: ours is {ratio:.2}x faster",
            ours.as_secs_f64(),
            theirs.as_secs_f64()
        );
        ratios.push(ratio);
    }
    println!(
        "package upload: ours is {:.2}x faster than sfctl (median)",
        median(ratios)
    );
    std::fs::remove_dir_all(&package)?;

    // 2. One 1 GiB file: upload sessions against one raw streaming PUT.
    let big = work.path().join("big.bin");
    {
        let sample = SamplePackage {
            small_files: 0,
            large_file_bytes: 1 << 30,
            services: 1,
            ..SamplePackage::default()
        };
        let dir = work.path().join("big");
        write_sample_package(&dir, &sample)?;
        std::fs::rename(dir.join("FrontEndPkg/Code/big library.dll"), &big)?;
        std::fs::remove_dir_all(dir)?;
    }
    let http = reqwest::Client::new();
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut ours = Duration::ZERO;
        let mut raw = Duration::ZERO;
        for side in [round % 2, 1 - round % 2] {
            let started = Instant::now();
            if side == 0 {
                let options = UploadOptions {
                    chunk_size: 16 * 1024 * 1024,
                    ..UploadOptions::default()
                };
                client.upload_file(&big, "big-ours.bin", &options).await?;
                ours = started.elapsed();
                client.delete_store_content("big-ours.bin").await?;
            } else {
                raw_put(&http, emulator.endpoint(), &big, "big-raw.bin").await?;
                raw = started.elapsed();
                client.delete_store_content("big-raw.bin").await?;
            }
        }
        let ratio = raw.as_secs_f64() / ours.as_secs_f64();
        println!(
            "  round {round}: sessions {:.2} s ({:.0} MiB/s), raw PUT {:.2} s: {ratio:.2}x raw's rate",
            ours.as_secs_f64(),
            1024.0 / ours.as_secs_f64(),
            raw.as_secs_f64()
        );
        ratios.push(ratio);
    }
    println!(
        "1 GiB file: upload sessions reach {:.2}x a raw PUT's rate (median)",
        median(ratios)
    );
    std::fs::remove_file(&big)?;

    // 3. Per file size: one UploadFile request against a session upload (4 MiB chunks).
    println!("UploadFile vs session upload, per file size (median of 5):");
    for mib in [1u64, 4, 16, 64] {
        let file = work.path().join(format!("f{mib}.bin"));
        std::fs::write(&file, vec![7u8; (mib << 20) as usize])?;
        let mut whole = Vec::new();
        let mut sessions = Vec::new();
        for i in 0..5 {
            let started = Instant::now();
            client
                .upload_store_file(&file, &format!("w{i}.bin"))
                .await?;
            whole.push(started.elapsed().as_secs_f64());
            let started = Instant::now();
            client
                .upload_file(&file, &format!("s{i}.bin"), &UploadOptions::default())
                .await?;
            sessions.push(started.elapsed().as_secs_f64());
        }
        let names: Vec<String> = (0..5)
            .flat_map(|i| [format!("w{i}.bin"), format!("s{i}.bin")])
            .collect();
        futures::stream::iter(names)
            .for_each(|n| {
                let client = client.clone();
                async move {
                    let _ = client.delete_store_content(&n).await;
                }
            })
            .await;
        println!(
            "  {mib:>3} MiB: UploadFile {:.1} ms, session {:.1} ms",
            median(whole) * 1e3,
            median(sessions) * 1e3
        );
    }
    Ok(())
}
