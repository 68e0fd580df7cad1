//! sfctl (from PyPI, unmodified) against the emulator: `application upload` and
//! `application provision`, then our client reads what sfctl wrote. The venv is made on first
//! run (`python3 -m venv`, `pip install sfctl`); a machine without python3 fails this test
//! rather than skipping it.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};
use support::venv::{run, venv};

use servicefabric_deploy::{ClientExt, PackageOptions};
use servicefabric_emulator::{Emulator, SamplePackage, write_sample_package};
use servicefabric_rest::{ApplicationPackage, CleanupPolicy, Client, ProvisionOptions};

const SFCTL: &str = "sfctl==11.2.1";

/// The venv's `sfctl`, installed once per target directory.
fn sfctl() -> PathBuf {
    static SFCTL_BIN: OnceLock<PathBuf> = OnceLock::new();
    SFCTL_BIN
        .get_or_init(|| venv("sfctl-venv", SFCTL, &["-c", "import sfctl"]).join("sfctl"))
        .clone()
}

/// sfctl with its own home (its cluster selection and settings live in `~/.sfctl`).
fn sfctl_in(home: &Path, args: &[&str]) -> String {
    run(Command::new(sfctl()).env("HOME", home).args(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sfctl_uploads_and_provisions_against_the_emulator() {
    let emulator = Emulator::start().await.expect("emulator");
    let work = tempfile::tempdir().expect("tempdir");
    let home = work.path().join("home");
    fs::create_dir_all(&home).expect("home");
    let local = work.path().join("SfctlApp");
    write_sample_package(&local, &SamplePackage::default()).expect("sample");
    let endpoint = emulator.endpoint().to_string();
    let dir = local.to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || {
        sfctl_in(&home, &["settings", "telemetry", "set-telemetry", "--off"]);
        sfctl_in(&home, &["cluster", "select", "--endpoint", &endpoint]);
        sfctl_in(&home, &["application", "upload", "--path", &dir]);
        sfctl_in(
            &home,
            &[
                "application",
                "provision",
                "--application-type-build-path",
                "SfctlApp",
            ],
        );
    })
    .await
    .expect("sfctl");
    assert_eq!(
        emulator.application_types(),
        [("SampleAppType".to_string(), "1.0.0".to_string())]
    );

    // Our client reads sfctl's upload: every file, with its size, byte for byte on disk.
    let client = Client::new(emulator.endpoint()).expect("client");
    let files = client.store_files(Some("SfctlApp")).await.expect("listing");
    let local_files = walk(&local);
    assert_eq!(files.len(), local_files.len());
    for (relative, bytes) in &local_files {
        let stored = emulator.data_dir().join("store/SfctlApp").join(relative);
        assert!(fs::read(&stored).expect("stored") == *bytes, "{relative}");
    }

    // And our upload over sfctl's skips every file: same sizes, nothing sent.
    let before = emulator.received_bytes();
    let report = client
        .upload_package(
            &local,
            "SfctlApp",
            &PackageOptions {
                resume_dir: Some(work.path().join("resume")),
                ..PackageOptions::default()
            },
        )
        .await
        .expect("upload over sfctl's");
    assert_eq!(report.files_skipped, report.files);
    assert_eq!(emulator.received_bytes(), before);
    let again = client
        .provision_application_type(
            &ApplicationPackage::ImageStore {
                path: "SfctlApp".into(),
                cleanup: CleanupPolicy::Default,
            },
            &ProvisionOptions::default(),
        )
        .await
        .expect_err("sfctl provisioned it already");
    assert_eq!(again.status().map(|s| s.as_u16()), Some(409));
}

/// Every file under `root` as (relative path with `/`, bytes).
fn walk(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("inside");
                out.push((
                    relative.to_string_lossy().replace('\\', "/"),
                    fs::read(&path).expect("readable"),
                ));
            }
        }
    }
    out
}

/// sfctl expected to fail: its exit status and stderr.
fn sfctl_failing(home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(sfctl())
        .env("HOME", home)
        .args(args)
        .output()
        .expect("sfctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sfctl_is_told_what_the_emulator_does_not_implement() {
    let emulator = Emulator::start().await.expect("emulator");
    let work = tempfile::tempdir().expect("tempdir");
    let home = work.path().to_path_buf();
    let endpoint = emulator.endpoint().to_string();
    let (ok, output) = tokio::task::spawn_blocking(move || {
        sfctl_in(&home, &["settings", "telemetry", "set-telemetry", "--off"]);
        sfctl_in(&home, &["cluster", "select", "--endpoint", &endpoint]);
        sfctl_failing(&home, &["chaos", "schedule", "get"])
    })
    .await
    .expect("sfctl");
    assert!(!ok, "{output}");
    assert!(
        output.contains("not implemented by the emulator")
            && output.contains("GET /Tools/Chaos/Schedule"),
        "sfctl shows the emulator's message: {output}"
    );
}

/// sfctl's output as JSON.
fn sfctl_json(home: &Path, args: &[&str]) -> serde_json::Value {
    let out = sfctl_in(home, args);
    serde_json::from_str(out.trim()).unwrap_or(serde_json::Value::Null)
}

/// Polls `sfctl application upgrade-status` until `done` holds (at most 30 s).
fn sfctl_until(home: &Path, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = sfctl_json(
            home,
            &["application", "upgrade-status", "--application-id", "shop"],
        );
        if done(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "stuck: {status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sfctl_runs_the_application_lifecycle_against_the_emulator() {
    let emulator = Emulator::builder()
        .upgrade_domains(3)
        .time_scale(1000.0)
        .start()
        .await
        .expect("emulator");
    let work = tempfile::tempdir().expect("tempdir");
    let home = work.path().join("home");
    fs::create_dir_all(&home).expect("home");
    let client = Client::new(emulator.endpoint()).expect("client");
    for version in ["1.0.0", "2.0.0"] {
        let local = work.path().join(format!("App{}", version.replace('.', "")));
        let sample = SamplePackage {
            type_version: version.into(),
            small_files: 2,
            large_file_bytes: 0,
            ..SamplePackage::default()
        };
        write_sample_package(&local, &sample).expect("sample");
        let path = local
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        client
            .upload_package(
                &local,
                &path,
                &PackageOptions {
                    resume_dir: None,
                    ..PackageOptions::default()
                },
            )
            .await
            .expect("upload");
        client
            .provision_application_type(
                &ApplicationPackage::ImageStore {
                    path,
                    cleanup: CleanupPolicy::Default,
                },
                &ProvisionOptions::default(),
            )
            .await
            .expect("provision");
    }
    let endpoint = emulator.endpoint().to_string();
    tokio::task::spawn_blocking(move || {
        let home = home.as_path();
        sfctl_in(home, &["settings", "telemetry", "set-telemetry", "--off"]);
        sfctl_in(home, &["cluster", "select", "--endpoint", &endpoint]);

        let types = sfctl_json(home, &["application", "type-list"]);
        assert_eq!(types["items"].as_array().map(Vec::len), Some(2), "{types}");
        let one = sfctl_json(
            home,
            &[
                "application",
                "type",
                "--application-type-name",
                "SampleAppType",
            ],
        );
        assert_eq!(one["items"][0]["version"], "1.0.0", "{one}");

        sfctl_in(
            home,
            &[
                "application",
                "create",
                "--app-name",
                "fabric:/shop",
                "--app-type",
                "SampleAppType",
                "--app-version",
                "1.0.0",
                "--parameters",
                r#"{"InstanceCount": "2"}"#,
            ],
        );
        let list = sfctl_json(home, &["application", "list"]);
        assert_eq!(list["items"][0]["name"], "fabric:/shop", "{list}");
        let info = sfctl_json(home, &["application", "info", "--application-id", "shop"]);
        assert_eq!(
            (info["typeVersion"].as_str(), info["status"].as_str()),
            (Some("1.0.0"), Some("Ready")),
            "{info}"
        );

        // Monitored, with short health checks.
        sfctl_in(
            home,
            &[
                "application",
                "upgrade",
                "--application-id",
                "shop",
                "--application-version",
                "2.0.0",
                "--parameters",
                r#"{"InstanceCount": "2"}"#,
                "--mode",
                "Monitored",
                "--failure-action",
                "Rollback",
                "--health-check-stable-duration",
                "PT0H0M5S",
                "--health-check-retry-timeout",
                "PT0H0M10S",
                "--upgrade-domain-timeout",
                "PT1H",
                "--upgrade-timeout",
                "PT2H",
            ],
        );
        let done = sfctl_until(home, |s| s["upgradeState"] == "RollingForwardCompleted");
        assert_eq!(done["targetApplicationTypeVersion"], "2.0.0", "{done}");
        let info = sfctl_json(home, &["application", "info", "--application-id", "shop"]);
        assert_eq!(info["typeVersion"], "2.0.0", "{info}");

        // Back to 1.0.0 by hand, domain by domain, then rolled back.
        sfctl_in(
            home,
            &[
                "application",
                "upgrade",
                "--application-id",
                "shop",
                "--application-version",
                "1.0.0",
                "--parameters",
                "{}",
                "--mode",
                "UnmonitoredManual",
            ],
        );
        let paused = sfctl_until(home, |s| s["upgradeState"] == "RollingForwardPending");
        assert_eq!(paused["nextUpgradeDomain"], "UD1", "{paused}");
        sfctl_in(
            home,
            &[
                "application",
                "upgrade-resume",
                "--application-id",
                "shop",
                "--upgrade-domain-name",
                "UD1",
            ],
        );
        sfctl_until(home, |s| {
            s["nextUpgradeDomain"] == "UD2" && s["upgradeState"] == "RollingForwardPending"
        });
        sfctl_in(
            home,
            &[
                "application",
                "upgrade-rollback",
                "--application-id",
                "shop",
            ],
        );
        let back = sfctl_until(home, |s| s["upgradeState"] == "RollingBackCompleted");
        assert_eq!(back["targetApplicationTypeVersion"], "2.0.0", "{back}");

        // UnmonitoredAuto with no parameters: every one back to its default.
        sfctl_in(
            home,
            &[
                "application",
                "upgrade",
                "--application-id",
                "shop",
                "--application-version",
                "1.0.0",
                "--parameters",
                "{}",
                "--mode",
                "UnmonitoredAuto",
            ],
        );
        sfctl_until(home, |s| {
            s["upgradeState"] == "RollingForwardCompleted"
                && s["targetApplicationTypeVersion"] == "1.0.0"
        });

        let health = sfctl_json(home, &["application", "health", "--application-id", "shop"]);
        assert_eq!(health["aggregatedHealthState"], "Ok", "{health}");
        let (ok, output) = sfctl_failing(
            home,
            &[
                "application",
                "unprovision",
                "--application-type-name",
                "SampleAppType",
                "--application-type-version",
                "1.0.0",
            ],
        );
        assert!(
            !ok && output.contains("FABRIC_E_APPLICATION_TYPE_IN_USE"),
            "{output}"
        );
        sfctl_in(home, &["application", "delete", "--application-id", "shop"]);
        sfctl_in(
            home,
            &[
                "application",
                "unprovision",
                "--application-type-name",
                "SampleAppType",
                "--application-type-version",
                "1.0.0",
            ],
        );
        let types = sfctl_json(home, &["application", "type-list"]);
        assert_eq!(types["items"].as_array().map(Vec::len), Some(1), "{types}");
    })
    .await
    .expect("sfctl");
}
