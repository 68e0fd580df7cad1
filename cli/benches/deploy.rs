//! A deploy end to end, same run, same emulator, same time scale: `sfrest app deploy` (create)
//! then `sfrest app deploy --diff` (an upgrade to a version with one changed service
//! package), against the sfctl sequence a user scripts today (`application upload`,
//! `provision`, `create`; then `upload`, `provision`, `upgrade`, and `upgrade-status` polled
//! every 5 s until done). Also the bytes our diff upgrade sends against the changed code
//! package plus the manifests.
//!
//! ```sh
//! cargo test -p servicefabric-deploy --test interop_sfctl   # makes target/tmp/sfctl-venv once
//! cargo bench -p sfrest --bench deploy
//! ```
//!
//! `DEPLOY_ROUNDS` (3), `DEPLOY_FILES` (500), `DEPLOY_MIB` (200), `DEPLOY_TIME_SCALE` (100:
//! the runtime's default 2-minute health check stable time takes 1.2 s), `SFCTL` (another
//! sfctl executable). Rounds alternate which side goes first.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use servicefabric_emulator::{Emulator, SamplePackage, write_sample_package};

type Failure = Box<dyn std::error::Error>;

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn sfctl_path() -> PathBuf {
    std::env::var_os("SFCTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp/sfctl-venv/bin/sfctl")
        })
}

fn run(command: &mut Command) -> Result<String, Failure> {
    let out = command.output()?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sfctl(home: &Path, args: &[&str]) -> Result<String, Failure> {
    run(Command::new(sfctl_path()).env("HOME", home).args(args))
}

fn sfrest(endpoint: &str, work: &Path, args: &[&str]) -> Result<String, Failure> {
    run(Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(["app", "deploy"])
        .args(args)
        .args(["--endpoint", endpoint, "--progress", "none", "--resume-dir"])
        .arg(work.join("resume"))
        .env("XDG_CONFIG_HOME", work.join("config")))
}

fn package(
    dir: &Path,
    type_name: &str,
    version: &str,
    files: usize,
    mib: usize,
) -> Result<PathBuf, Failure> {
    let folder = dir.join(format!("{type_name}-{version}"));
    write_sample_package(
        &folder,
        &SamplePackage {
            type_name: type_name.into(),
            type_version: version.into(),
            small_files: files,
            small_file_bytes: mib * 1024 * 1024 / files.max(1),
            large_file_bytes: 0,
            changed_services: usize::from(version != "1.0.0"),
            ..SamplePackage::default()
        },
    )?;
    Ok(folder)
}

fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => bytes_under(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The sfctl sequence, as a deploy script runs it.
fn sfctl_deploy(home: &Path, v1: &Path, v2: &Path) -> Result<(), Failure> {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    sfctl(
        home,
        &["application", "upload", "--path", &v1.to_string_lossy()],
    )?;
    sfctl(
        home,
        &[
            "application",
            "provision",
            "--application-type-build-path",
            &name(v1),
        ],
    )?;
    sfctl(
        home,
        &[
            "application",
            "create",
            "--app-name",
            "fabric:/SfctlApp",
            "--app-type",
            "SfctlAppType",
            "--app-version",
            "1.0.0",
        ],
    )?;
    sfctl(
        home,
        &["application", "upload", "--path", &v2.to_string_lossy()],
    )?;
    sfctl(
        home,
        &[
            "application",
            "provision",
            "--application-type-build-path",
            &name(v2),
        ],
    )?;
    sfctl(
        home,
        &[
            "application",
            "upgrade",
            "--application-id",
            "SfctlApp",
            "--application-version",
            "2.0.0",
            "--parameters",
            "{}",
            "--mode",
            "Monitored",
            "--failure-action",
            "Rollback",
        ],
    )?;
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let status = sfctl(
            home,
            &[
                "application",
                "upgrade-status",
                "--application-id",
                "SfctlApp",
            ],
        )?;
        if status.contains("RollingForwardCompleted") {
            return Ok(());
        }
        if status.contains("RollingBackCompleted") || status.contains("\"Failed\"") {
            return Err(format!("sfctl's upgrade did not complete: {status}").into());
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let rounds = (env_or("DEPLOY_ROUNDS", 3.0) as usize).max(1);
    let files = env_or("DEPLOY_FILES", 500.0) as usize;
    let mib = env_or("DEPLOY_MIB", 200.0) as usize;
    let scale = env_or("DEPLOY_TIME_SCALE", 100.0);
    if !sfctl_path().exists() {
        return Err(format!(
            "no sfctl at {}: run `cargo test -p servicefabric-deploy --test interop_sfctl` once, or set SFCTL",
            sfctl_path().display()
        )
        .into());
    }
    let work = tempfile::tempdir()?;
    let ours_v1 = package(work.path(), "SampleAppType", "1.0.0", files, mib)?;
    let ours_v2 = package(work.path(), "SampleAppType", "2.0.0", files, mib)?;
    let theirs_v1 = package(work.path(), "SfctlAppType", "1.0.0", files, mib)?;
    let theirs_v2 = package(work.path(), "SfctlAppType", "2.0.0", files, mib)?;
    let changed = bytes_under(&ours_v2.join("FrontEndPkg").join("Code"))
        + std::fs::metadata(ours_v2.join("ApplicationManifest.xml"))?.len()
        + std::fs::metadata(ours_v2.join("FrontEndPkg").join("ServiceManifest.xml"))?.len();
    println!(
        "package: {files} files, {mib} MiB; changed code package + manifests: {:.1} MiB; time scale {scale}; {rounds} rounds",
        changed as f64 / 1048576.0
    );
    let (mut ratios, mut ours_all, mut theirs_all, mut diff_bytes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let emulator = Emulator::builder()
            .seeded(false)
            .upgrade_domains(3)
            .time_scale(scale)
            .start()
            .await?;
        let endpoint = emulator.endpoint().to_string();
        let home = work.path().join(format!("home{round}"));
        std::fs::create_dir_all(&home)?;
        sfctl(&home, &["settings", "telemetry", "set-telemetry", "--off"])?;
        sfctl(&home, &["cluster", "select", "--endpoint", &endpoint])?;
        let sides = if round % 2 == 0 {
            ["ours", "sfctl"]
        } else {
            ["sfctl", "ours"]
        };
        let (mut ours, mut theirs) = (0.0, 0.0);
        for side in sides {
            let started = Instant::now();
            if side == "ours" {
                let (endpoint, work_dir, v1, v2) = (
                    endpoint.clone(),
                    work.path().join(format!("ours{round}")),
                    ours_v1.clone(),
                    ours_v2.clone(),
                );
                let before = std::sync::Arc::new(std::sync::Mutex::new(0u64));
                let created = tokio::task::spawn_blocking({
                    let (endpoint, work_dir) = (endpoint.clone(), work_dir.clone());
                    move || {
                        sfrest(&endpoint, &work_dir, &[&v1.to_string_lossy()])
                            .map_err(|e| e.to_string())
                    }
                })
                .await??;
                assert!(created.contains("created"), "{created}");
                if let Ok(mut b) = before.lock() {
                    *b = emulator.received_bytes();
                }
                let upgraded = tokio::task::spawn_blocking(move || {
                    sfrest(&endpoint, &work_dir, &[&v2.to_string_lossy(), "--diff"])
                        .map_err(|e| e.to_string())
                })
                .await??;
                assert!(upgraded.contains("upgraded"), "{upgraded}");
                ours = started.elapsed().as_secs_f64();
                let sent = emulator.received_bytes() - before.lock().map(|b| *b).unwrap_or(0);
                diff_bytes.push(sent as f64);
            } else {
                let (home, v1, v2) = (home.clone(), theirs_v1.clone(), theirs_v2.clone());
                tokio::task::spawn_blocking(move || {
                    sfctl_deploy(&home, &v1, &v2).map_err(|e| e.to_string())
                })
                .await??;
                theirs = started.elapsed().as_secs_f64();
            }
        }
        println!(
            "  round {round}: sfrest {ours:.2} s, sfctl sequence {theirs:.2} s: {:.2}x less wall time; diff upgrade sent {:.1} MiB",
            theirs / ours,
            diff_bytes.last().copied().unwrap_or(0.0) / 1048576.0
        );
        ratios.push(theirs / ours);
        ours_all.push(ours);
        theirs_all.push(theirs);
    }
    let sent = median(diff_bytes);
    println!(
        "deploy end to end: sfrest {:.2} s, sfctl sequence {:.2} s (medians): {:.2}x less wall time (median of paired ratios; target >= 3x)",
        median(ours_all),
        median(theirs_all),
        median(ratios)
    );
    println!(
        "diff upgrade: {:.2} MiB sent for {:.2} MiB changed (code package + manifests): {:.4}x (target <= 1.01x)",
        sent / 1048576.0,
        changed as f64 / 1048576.0,
        sent / changed as f64
    );
    Ok(())
}
