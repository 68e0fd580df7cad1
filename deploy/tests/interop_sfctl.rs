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
