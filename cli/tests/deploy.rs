//! `sfrest app deploy` from outside, against an emulator with a scaled clock: exit codes,
//! `--json` events, the commands that finish a paused upgrade, and `kill -9` at each step
//! followed by a re-run that finishes the job without a second upgrade start.

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use servicefabric_emulator::{
    Emulator, EmulatorBuilder, FaultPlan, Faults, SamplePackage, write_sample_package,
};
use tokio::process::Command;

const APP: &str = "fabric:/SampleApp";

fn fast() -> EmulatorBuilder {
    Emulator::builder()
        .seeded(false)
        .upgrade_domains(3)
        .time_scale(2000.0)
}

fn package(root: &Path, version: &str) -> PathBuf {
    let dir = root.join(format!("pkg-{version}"));
    write_sample_package(
        &dir,
        &SamplePackage {
            type_version: version.into(),
            small_files: 40,
            small_file_bytes: 4096,
            large_file_bytes: 0,
            changed_services: 1,
            ..SamplePackage::default()
        },
    )
    .expect("sample");
    dir
}

fn deploy_command(emulator: &Emulator, work: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfrest"));
    command
        .args(["app", "deploy"])
        .arg(dir)
        .args([
            "--endpoint",
            emulator.endpoint(),
            "--poll-interval",
            "20ms",
            "--resume-dir",
        ])
        .arg(work.join("resume"))
        .args(extra)
        .env_remove("SF_ENDPOINT")
        .env("XDG_CONFIG_HOME", work.join("config"))
        .kill_on_drop(true);
    command
}

async fn deploy(emulator: &Emulator, work: &Path, dir: &Path, extra: &[&str]) -> Output {
    deploy_command(emulator, work, dir, extra)
        .output()
        .await
        .expect("run sfrest")
}

async fn sfrest(emulator: &Emulator, work: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(args)
        .args(["--endpoint", emulator.endpoint()])
        .env("XDG_CONFIG_HOME", work.join("config"))
        .output()
        .await
        .expect("run sfrest")
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn text(output: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every stdout line is a JSON object with an `event`; gives them.
fn events(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            assert!(value["event"].is_string(), "no event field: {line}");
            value
        })
        .collect()
}

fn starts(emulator: &Emulator) -> u64 {
    emulator
        .requests()
        .get("StartApplicationUpgrade")
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_events_parse_and_end_with_the_report() {
    let emulator = fast().start().await.expect("emulator");
    let work = tempfile::tempdir().expect("tempdir");
    let v1 = package(work.path(), "1.0.0");
    let created = deploy(&emulator, work.path(), &v1, &["--json"]).await;
    assert_eq!(code(&created), 0, "{}", text(&created));
    let list = events(&created);
    let report = list.last().expect("events");
    assert_eq!(report["event"], "report");
    assert_eq!(report["outcome"], "created");
    assert_eq!(report["application"], APP);
    assert_eq!(report["typeName"], "SampleAppType");
    assert_eq!(report["typeVersion"], "1.0.0");
    let steps: Vec<&str> = list
        .iter()
        .filter(|e| e["event"] == "step")
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert_eq!(steps, vec!["read", "upload", "provision", "create"]);

    let upgraded = deploy(
        &emulator,
        work.path(),
        &package(work.path(), "2.0.0"),
        &["--json"],
    )
    .await;
    assert_eq!(code(&upgraded), 0, "{}", text(&upgraded));
    let list = events(&upgraded);
    assert!(
        list.iter().any(|e| e["event"] == "upgrade"),
        "no upgrade event"
    );
    assert_eq!(list.last().expect("report")["outcome"], "upgraded");

    let again = deploy(
        &emulator,
        work.path(),
        &package(work.path(), "2.0.0"),
        &["--json"],
    )
    .await;
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert_eq!(
        events(&again).last().expect("report")["outcome"],
        "unchanged"
    );
    assert_eq!(starts(&emulator), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_say_how_it_ended() {
    let rule = "SampleAppType@2.0.0=Error:from=UD2".parse().expect("rule");
    let emulator = fast().health(rule).start().await.expect("emulator");
    let work = tempfile::tempdir().expect("tempdir");
    let v1 = package(work.path(), "1.0.0");

    // No gateway: refused on the command line.
    let refused = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(["app", "deploy"])
        .arg(&v1)
        .env_remove("SF_ENDPOINT")
        .env("XDG_CONFIG_HOME", work.path().join("config"))
        .output()
        .await
        .expect("run");
    assert_eq!(code(&refused), 2, "{}", text(&refused));

    // An undeclared parameter: exit 1, and nothing reached the gateway.
    let undeclared = deploy(&emulator, work.path(), &v1, &["--param", "Nope=1"]).await;
    assert_eq!(code(&undeclared), 1, "{}", text(&undeclared));
    let said = String::from_utf8_lossy(&undeclared.stderr);
    assert!(
        said.contains("Nope") && said.contains("InstanceCount"),
        "{said}"
    );
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());

    assert_eq!(code(&deploy(&emulator, work.path(), &v1, &[]).await), 0);
    let v2 = package(work.path(), "2.0.0");
    let rolled_back = deploy(&emulator, work.path(), &v2, &[]).await;
    assert_eq!(code(&rolled_back), 3, "{}", text(&rolled_back));
    let said = String::from_utf8_lossy(&rolled_back.stdout);
    assert!(
        said.contains("rolled back") && said.contains("HealthCheck"),
        "{said}"
    );
    let show = sfrest(&emulator, work.path(), &["app", "show", APP, "--json"]).await;
    let app: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(app["TypeVersion"], "1.0.0");

    // Manual: paused (5); the rollback command the report names finishes it.
    let paused = deploy(
        &emulator,
        work.path(),
        &v2,
        &["--failure-action", "manual", "--json"],
    )
    .await;
    assert_eq!(code(&paused), 5, "{}", text(&paused));
    let report = events(&paused).pop().expect("report");
    assert_eq!(report["outcome"], "paused");
    assert!(
        report["nextAction"]
            .as_str()
            .is_some_and(|n| n.contains("sfrest app resume")),
        "{report}"
    );
    let rollback = sfrest(&emulator, work.path(), &["app", "rollback", APP]).await;
    assert_eq!(code(&rollback), 0, "{}", text(&rollback));
    let watched = sfrest(&emulator, work.path(), &["app", "status", APP, "--watch"]).await;
    assert!(
        String::from_utf8_lossy(&watched.stdout).contains("RollingBackCompleted"),
        "{}",
        text(&watched)
    );

    // A deadline already passed: exit 6, the upgrade goes on.
    let slow = Emulator::builder()
        .seeded(false)
        .upgrade_domains(3)
        .time_scale(5.0)
        .start()
        .await
        .expect("emulator");
    assert_eq!(code(&deploy(&slow, work.path(), &v1, &[]).await), 0);
    let late = deploy(&slow, work.path(), &v2, &["--deadline", "0s"]).await;
    assert_eq!(code(&late), 6, "{}", text(&late));
    let back = deploy(
        &slow,
        work.path(),
        &v2,
        &["--deadline", "0s", "--rollback-on-deadline"],
    )
    .await;
    assert_eq!(code(&back), 3, "{}", text(&back));
    assert_eq!(
        starts(&slow),
        1,
        "the second run followed the first one's upgrade"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_upgrade_is_resumed_domain_by_domain() {
    let emulator = fast().start().await.expect("emulator");
    let work = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        code(&deploy(&emulator, work.path(), &package(work.path(), "1.0.0"), &[]).await),
        0
    );
    let v2 = package(work.path(), "2.0.0");
    let mut resumed = 0;
    loop {
        let run = deploy(
            &emulator,
            work.path(),
            &v2,
            &["--mode", "unmonitored-manual", "--json"],
        )
        .await;
        let report = events(&run).pop().expect("report");
        match code(&run) {
            0 => break,
            5 => {
                // `sfrest app resume fabric:/SampleApp --domain UDn  (or: …)`
                let next = report["nextAction"]
                    .as_str()
                    .expect("next action")
                    .to_string();
                let domain = next.split_whitespace().nth(5).expect("domain").to_string();
                let resume = sfrest(
                    &emulator,
                    work.path(),
                    &["app", "resume", APP, "--domain", &domain],
                )
                .await;
                assert_eq!(code(&resume), 0, "{}", text(&resume));
                resumed += 1;
                assert!(resumed <= 3, "{report}");
            }
            other => panic!("exit {other}: {}", text(&run)),
        }
    }
    assert!(resumed >= 2, "paused after each domain: {resumed}");
    assert_eq!(starts(&emulator), 1);
}

/// Starts a deploy, waits until `reached` holds on the emulator, kills it (SIGKILL), then
/// runs the same deploy again: it must finish with one upgrade start in all.
async fn killed_then_rerun(emulator: &Emulator, reached: impl Fn(&Emulator) -> bool, what: &str) {
    let work = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        code(&deploy(emulator, work.path(), &package(work.path(), "1.0.0"), &[]).await),
        0
    );
    let v2 = package(work.path(), "2.0.0");
    let mut child = deploy_command(emulator, work.path(), &v2, &["--parallel", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !reached(emulator) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: never reached: {:?}",
            emulator.requests()
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what}: the deploy ended before the kill: {status}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.expect("kill -9");
    let rerun = deploy(emulator, work.path(), &v2, &["--json"]).await;
    assert_eq!(code(&rerun), 0, "{what}: {}", text(&rerun));
    let outcome = events(&rerun).pop().expect("report")["outcome"].clone();
    assert!(
        outcome == "upgraded" || outcome == "unchanged",
        "{what}: {outcome}"
    );
    assert_eq!(starts(emulator), 1, "{what}: one upgrade start in all");
}

fn count(emulator: &Emulator, operation: &str) -> u64 {
    emulator.requests().get(operation).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_upload_the_rerun_resumes() {
    let plan = FaultPlan::new(1)
        .operation(
            "UploadFile",
            Faults {
                latency: Duration::from_millis(40),
                ..Faults::default()
            },
        )
        .expect("plan");
    let emulator = fast().faults(plan).start().await.expect("emulator");
    // The first deploy uploads ~83 files; the second's upload is well under way at +20.
    let first = std::sync::OnceLock::new();
    killed_then_rerun(
        &emulator,
        |e| {
            let uploads = count(e, "UploadFile");
            let base = *first.get_or_init(|| {
                if count(e, "CreateApplication") > 0 {
                    uploads
                } else {
                    u64::MAX
                }
            });
            base != u64::MAX && uploads >= base + 20
        },
        "upload",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_provision_the_rerun_finds_it() {
    let plan = FaultPlan::new(1)
        .operation(
            "ProvisionApplicationType",
            Faults {
                latency: Duration::from_millis(800),
                ..Faults::default()
            },
        )
        .expect("plan");
    let emulator = fast().faults(plan).start().await.expect("emulator");
    killed_then_rerun(
        &emulator,
        |e| count(e, "ProvisionApplicationType") >= 2,
        "provision",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_upgrade_the_rerun_follows_it() {
    let emulator = Emulator::builder()
        .seeded(false)
        .upgrade_domains(3)
        .time_scale(100.0)
        .start()
        .await
        .expect("emulator");
    killed_then_rerun(
        &emulator,
        |e| count(e, "StartApplicationUpgrade") == 1 && count(e, "GetApplicationUpgrade") >= 3,
        "upgrade",
    )
    .await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_during_the_upgrade_exits_130_with_a_started_report() {
    let emulator = Emulator::builder()
        .seeded(false)
        .upgrade_domains(3)
        .time_scale(5.0)
        .start()
        .await
        .expect("emulator");
    let work = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        code(&deploy(&emulator, work.path(), &package(work.path(), "1.0.0"), &[]).await),
        0
    );
    let v2 = package(work.path(), "2.0.0");
    let child = deploy_command(&emulator, work.path(), &v2, &["--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().expect("pid").to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count(&emulator, "GetApplicationUpgrade") < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            emulator.requests()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let output = child.wait_with_output().await.expect("wait");
    assert_eq!(code(&output), 130, "{}", text(&output));
    let report = events(&output).pop().expect("report");
    assert_eq!(report["outcome"], "started", "{report}");
    assert_eq!(report["typeName"], "SampleAppType");
    assert_eq!(report["typeVersion"], "2.0.0");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("sfrest app status fabric:/SampleApp --watch"),
        "{said}"
    );
}
