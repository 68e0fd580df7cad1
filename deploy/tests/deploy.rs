//! `ClientExt::deploy` against the emulator with a scaled clock: create, upgrade through
//! every domain, the re-run that sends nothing, rollback, a paused manual upgrade, diff
//! packages, parameters, the Visual Studio publish profiles, cleanup of old versions.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use servicefabric_deploy::{
    ClientExt, DeployEvent, DeployEventFn, DeployOptions, Error, Outcome, Step,
};
use servicefabric_emulator::{Emulator, EmulatorBuilder, SamplePackage, write_sample_package};
use servicefabric_rest::{Client, FailureAction, FailureReason, RollingUpgradeMode};

const APP: &str = "fabric:/SampleApp";

fn fast() -> EmulatorBuilder {
    Emulator::builder()
        .seeded(false)
        .upgrade_domains(3)
        .time_scale(2000.0)
}

async fn start(builder: EmulatorBuilder) -> (Emulator, Client) {
    let emulator = builder.start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    (emulator, client)
}

/// A sample package of `version` whose first `changed` services carry that version.
fn package(root: &Path, version: &str, changed: usize) -> PathBuf {
    let dir = root.join(format!("pkg-{version}"));
    write_sample_package(
        &dir,
        &SamplePackage {
            type_version: version.into(),
            small_files: 12,
            small_file_bytes: 2048,
            large_file_bytes: 0,
            changed_services: changed,
            ..SamplePackage::default()
        },
    )
    .expect("sample");
    dir
}

fn options(resume: &Path) -> DeployOptions {
    let mut options = DeployOptions {
        poll_interval: Duration::from_millis(20),
        ..DeployOptions::default()
    };
    options.package.resume_dir = Some(resume.to_path_buf());
    options
}

/// Requests of the operations that change the cluster.
fn changes(emulator: &Emulator) -> BTreeMap<String, u64> {
    emulator
        .requests()
        .into_iter()
        .filter(|(op, _)| {
            matches!(
                op.as_str(),
                "UploadFile"
                    | "UploadFileChunk"
                    | "CommitImageStoreUploadSession"
                    | "ProvisionApplicationType"
                    | "CreateApplication"
                    | "StartApplicationUpgrade"
                    | "UnprovisionApplicationType"
                    | "DeleteImageStoreContent"
                    | "RollbackApplicationUpgrade"
            )
        })
        .collect()
}

#[tokio::test]
async fn creates_then_upgrades_through_every_domain_then_has_nothing_to_do() {
    let (emulator, client) = start(fast()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = package(dir.path(), "1.0.0", 0);
    let v2 = package(dir.path(), "2.0.0", 1);
    let steps = Arc::new(Mutex::new(Vec::new()));
    let mut options = options(dir.path());
    let seen = steps.clone();
    options.events = Some(DeployEventFn::new(move |e| {
        if let DeployEvent::Step(step) = e {
            seen.lock().expect("lock").push(*step);
        }
    }));

    let first = client.deploy(&v1, &options).await.expect("first deploy");
    assert_eq!(first.outcome, Outcome::Created);
    assert_eq!(first.application, APP);
    assert!(first.provisioned && first.package_deleted);
    let app = client
        .application(APP)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(app.type_version, "1.0.0");
    assert_eq!(
        emulator.application_types(),
        vec![("SampleAppType".to_string(), "1.0.0".to_string())]
    );
    // Deleted from the store once provisioned.
    assert!(
        !emulator
            .data_dir()
            .join("store")
            .join("SampleAppType_1.0.0")
            .exists()
    );

    steps.lock().expect("lock").clear();
    let second = client.deploy(&v2, &options).await.expect("upgrade");
    assert_eq!(second.outcome, Outcome::Upgraded, "{second:?}");
    assert_eq!(second.previous_version.as_deref(), Some("1.0.0"));
    assert!(second.upgrade_started);
    let upgrade = second.upgrade.expect("followed");
    assert_eq!(upgrade.domains.len(), 3);
    assert!(
        upgrade
            .domains
            .iter()
            .all(|d| d.state.as_str() == "Completed")
    );
    assert_eq!(
        client
            .application(APP)
            .await
            .expect("read")
            .expect("exists")
            .type_version,
        "2.0.0"
    );
    // Every declared parameter is sent: none is left to revert silently.
    assert_eq!(
        second.parameters.keys().collect::<Vec<_>>(),
        vec!["Greeting", "InstanceCount"]
    );
    assert_eq!(
        *steps.lock().expect("lock"),
        vec![
            Step::Read,
            Step::Upload,
            Step::Provision,
            Step::Upgrade,
            Step::Follow
        ]
    );

    let before = changes(&emulator);
    let third = client.deploy(&v2, &options).await.expect("re-run");
    assert_eq!(third.outcome, Outcome::Unchanged);
    assert!(third.upload.is_none() && !third.provisioned && !third.upgrade_started);
    assert_eq!(changes(&emulator), before, "a re-run changes nothing");
}

#[tokio::test]
async fn an_undeclared_parameter_is_refused_before_any_request() {
    let (emulator, client) = start(fast()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = package(dir.path(), "1.0.0", 0);
    let mut options = options(dir.path());
    options.parameters = vec![("InstanceCuont".into(), "3".into())];
    let e = client.deploy(&v1, &options).await.expect_err("refused");
    let text = e.to_string();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(
        text.contains("InstanceCuont") && text.contains("InstanceCount, Greeting"),
        "{text}"
    );
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());
}

#[tokio::test]
async fn parameters_left_out_revert_unless_kept() {
    let (_emulator, client) = start(fast()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = package(dir.path(), "1.0.0", 0);
    let mut options = options(dir.path());
    options.parameters = vec![("Greeting".into(), "hi".into())];
    client.deploy(&v1, &options).await.expect("create");
    let app = client
        .application(APP)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        app.parameters.get("Greeting").map(String::as_str),
        Some("hi")
    );

    // Same version, InstanceCount changed, Greeting kept: a parameter-only upgrade.
    options.parameters = vec![("InstanceCount".into(), "2".into())];
    options.keep_current_parameters = true;
    let kept = client.deploy(&v1, &options).await.expect("upgrade");
    assert_eq!(kept.outcome, Outcome::Upgraded);
    assert_eq!(
        kept.parameters.get("Greeting").map(String::as_str),
        Some("hi")
    );
    let app = client
        .application(APP)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        app.parameters.get("Greeting").map(String::as_str),
        Some("hi")
    );
    assert_eq!(
        app.parameters.get("InstanceCount").map(String::as_str),
        Some("2")
    );

    // Without keeping, Greeting goes back to the manifest's default, as the runtime would.
    options.keep_current_parameters = false;
    let reverted = client.deploy(&v1, &options).await.expect("upgrade");
    assert_eq!(reverted.outcome, Outcome::Upgraded);
    assert_eq!(
        reverted.parameters.get("Greeting").map(String::as_str),
        Some("hello")
    );
}

#[tokio::test]
async fn an_unhealthy_upgrade_rolls_back_and_says_why() {
    let rule = "SampleAppType@2.0.0=Error:from=UD2".parse().expect("rule");
    let (_emulator, client) = start(fast().health(rule)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = options(dir.path());
    client
        .deploy(&package(dir.path(), "1.0.0", 0), &options)
        .await
        .expect("create");
    let report = client
        .deploy(&package(dir.path(), "2.0.0", 1), &options)
        .await
        .expect("deploy");
    assert_eq!(report.outcome, Outcome::RolledBack);
    let upgrade = report.upgrade.expect("followed");
    assert_eq!(upgrade.failure_reason, Some(FailureReason::HealthCheck));
    assert!(
        upgrade.domain_progress_at_failure.is_some() || !upgrade.unhealthy_evaluations.is_empty()
    );
    assert_eq!(
        client
            .application(APP)
            .await
            .expect("read")
            .expect("exists")
            .type_version,
        "1.0.0"
    );
}

#[tokio::test]
async fn a_manual_failure_action_pauses_and_names_the_command_that_resumes() {
    let rule = "SampleAppType@2.0.0=Error:from=UD1".parse().expect("rule");
    let (_emulator, client) = start(fast().health(rule)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = options(dir.path());
    client
        .deploy(&package(dir.path(), "1.0.0", 0), &options)
        .await
        .expect("create");
    options.upgrade.failure_action = Some(FailureAction::Manual);
    let report = client
        .deploy(&package(dir.path(), "2.0.0", 1), &options)
        .await
        .expect("deploy");
    assert_eq!(report.outcome, Outcome::Paused, "{report:?}");
    let next = report.next_action.expect("a command");
    assert!(
        next.contains("sfrest app resume fabric:/SampleApp --domain UD"),
        "{next}"
    );
    assert_eq!(
        report.upgrade.expect("followed").mode,
        RollingUpgradeMode::UnmonitoredManual
    );
    // A deploy of a third version meanwhile is refused, not started over the paused one.
    let e = client
        .deploy(&package(dir.path(), "3.0.0", 1), &options)
        .await
        .expect_err("refused");
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    client
        .rollback_application_upgrade(APP)
        .await
        .expect("rollback");
}

#[tokio::test]
async fn another_running_upgrade_is_refused_or_waited_for() {
    let (_emulator, client) = start(
        Emulator::builder()
            .seeded(false)
            .upgrade_domains(3)
            .time_scale(50.0),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = options(dir.path());
    client
        .deploy(&package(dir.path(), "1.0.0", 0), &options)
        .await
        .expect("create");
    options.no_wait = true;
    let started = client
        .deploy(&package(dir.path(), "2.0.0", 1), &options)
        .await
        .expect("start");
    assert_eq!(started.outcome, Outcome::Started);
    options.no_wait = false;
    let v3 = package(dir.path(), "3.0.0", 1);
    let e = client.deploy(&v3, &options).await.expect_err("refused");
    assert!(e.to_string().contains("--wait-previous"), "{e}");
    options.wait_previous = true;
    let report = client.deploy(&v3, &options).await.expect("waited");
    assert_eq!(report.outcome, Outcome::Upgraded);
    assert_eq!(report.previous_version.as_deref(), Some("1.0.0"));
}

#[tokio::test]
async fn a_diff_package_sends_only_the_changed_service() {
    let (emulator, client) = start(fast()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = options(dir.path());
    options.diff = true;
    // No application yet: the whole package.
    let first = client
        .deploy(&package(dir.path(), "1.0.0", 0), &options)
        .await
        .expect("create");
    assert!(!first.diff);
    let whole = first.upload.expect("uploaded").files;
    let v2 = package(dir.path(), "2.0.0", 1);
    let report = client.deploy(&v2, &options).await.expect("upgrade");
    assert!(report.diff);
    assert_eq!(report.outcome, Outcome::Upgraded);
    let upload = report.upload.expect("uploaded");
    // ApplicationManifest.xml, FrontEndPkg's ServiceManifest.xml, and its Code folder.
    let code: Vec<_> = walk(&v2.join("FrontEndPkg").join("Code"));
    assert_eq!(upload.files, 2 + code.len() as u64, "of {whole}");
    assert!(upload.files < whole);
    // The emulator provisioned it, filling in the rest from 1.0.0.
    assert!(
        emulator
            .application_types()
            .contains(&("SampleAppType".to_string(), "2.0.0".to_string()))
    );
    assert_eq!(
        client
            .application(APP)
            .await
            .expect("read")
            .expect("exists")
            .type_version,
        "2.0.0"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

#[tokio::test]
async fn keep_versions_unprovisions_the_older_unused_ones() {
    let (emulator, client) = start(fast()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = options(dir.path());
    options.keep_versions = Some(2);
    for version in ["1.0.0", "2.0.0", "10.0.0"] {
        let report = client
            .deploy(&package(dir.path(), version, 1), &options)
            .await
            .expect("deploy");
        assert!(report.outcome.is_success(), "{report:?}");
    }
    let versions: Vec<String> = emulator
        .application_types()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(versions, vec!["10.0.0", "2.0.0"]);
}

const VS_PROFILE_LOCAL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<PublishProfile xmlns="http://schemas.microsoft.com/2015/05/fabrictools">
  <ClusterConnectionParameters ConnectionEndpoint="localhost:19000" />
  <ApplicationParameterFile Path="..\ApplicationParameters\NODES.xml" />
  <UpgradeDeployment Mode="UnmonitoredAuto" Enabled="false">
    <Parameters UpgradeReplicaSetCheckTimeoutSec="1" Force="True" />
  </UpgradeDeployment>
</PublishProfile>
"#;

const VS_PROFILE_CLOUD: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<PublishProfile xmlns="http://schemas.microsoft.com/2015/05/fabrictools">
  <ClusterConnectionParameters ConnectionEndpoint="" />
  <ApplicationParameterFile Path="..\ApplicationParameters\Cloud.xml" />
  <UpgradeDeployment Mode="Monitored" Enabled="false">
    <Parameters FailureAction="Rollback" Force="True" />
  </UpgradeDeployment>
</PublishProfile>
"#;

fn parameters_file(name: &str, instances: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Application xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Name="fabric:/{name}" xmlns="http://schemas.microsoft.com/2011/01/fabric">
  <Parameters>
    <Parameter Name="InstanceCount" Value="{instances}" />
  </Parameters>
</Application>
"#
    )
}

#[tokio::test]
async fn the_visual_studio_publish_profiles_work_as_they_are() {
    let (_emulator, client) = start(fast()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("MyApp");
    std::fs::create_dir_all(project.join("PublishProfiles")).expect("dir");
    std::fs::create_dir_all(project.join("ApplicationParameters")).expect("dir");
    for (profile, app, instances) in [
        ("Local.1Node", "Local1", "1"),
        ("Local.5Node", "Local5", "5"),
        ("Cloud", "Cloud", "-1"),
    ] {
        let text = if profile == "Cloud" {
            VS_PROFILE_CLOUD.to_string()
        } else {
            VS_PROFILE_LOCAL.replace("NODES", profile)
        };
        std::fs::write(
            project
                .join("PublishProfiles")
                .join(format!("{profile}.xml")),
            text,
        )
        .expect("profile");
        std::fs::write(
            project
                .join("ApplicationParameters")
                .join(format!("{profile}.xml")),
            parameters_file(app, instances),
        )
        .expect("parameters");
    }
    let v1 = package(dir.path(), "1.0.0", 0);
    let v2 = package(dir.path(), "2.0.0", 1);
    for (profile, app, instances) in [
        ("Local.1Node", "fabric:/Local1", "1"),
        ("Local.5Node", "fabric:/Local5", "5"),
        ("Cloud", "fabric:/Cloud", "-1"),
    ] {
        let mut options = options(dir.path());
        options.publish_profile = Some(
            project
                .join("PublishProfiles")
                .join(format!("{profile}.xml")),
        );
        let created = client.deploy(&v1, &options).await.expect("create");
        assert_eq!(
            (created.application.as_str(), created.outcome),
            (app, Outcome::Created)
        );
        let upgraded = client.deploy(&v2, &options).await.expect("upgrade");
        assert_eq!(upgraded.outcome, Outcome::Upgraded, "{profile}");
        let shown = client
            .application(app)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(shown.type_version, "2.0.0");
        assert_eq!(
            shown.parameters.get("InstanceCount").map(String::as_str),
            Some(instances)
        );
        let mode = upgraded.upgrade.expect("followed").mode;
        let expected = if profile == "Cloud" {
            // Rewritten for the way back only on failure: a healthy one stays Monitored.
            RollingUpgradeMode::Monitored
        } else {
            RollingUpgradeMode::UnmonitoredAuto
        };
        assert_eq!(mode, expected, "{profile}");
    }
}

#[tokio::test]
async fn the_deadline_stops_the_wait_or_rolls_back() {
    let (_emulator, client) = start(
        Emulator::builder()
            .seeded(false)
            .upgrade_domains(3)
            .time_scale(5.0),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = options(dir.path());
    client
        .deploy(&package(dir.path(), "1.0.0", 0), &options)
        .await
        .expect("create");
    options.deadline = Some(std::time::Instant::now());
    let report = client
        .deploy(&package(dir.path(), "2.0.0", 1), &options)
        .await
        .expect("deploy");
    assert_eq!(report.outcome, Outcome::Deadline, "{report:?}");
    // The upgrade goes on; a second deploy with a deadline and a rollback follows it back.
    options.rollback_on_deadline = true;
    let report = client
        .deploy(&package(dir.path(), "2.0.0", 1), &options)
        .await
        .expect("deploy");
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:?}");
    assert!(!report.upgrade_started, "it followed the running upgrade");
    assert_eq!(
        client
            .application(APP)
            .await
            .expect("read")
            .expect("exists")
            .type_version,
        "1.0.0"
    );
}

#[tokio::test]
async fn a_package_left_in_the_store_is_deleted_by_the_next_run() {
    let (emulator, client) = start(fast()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = package(dir.path(), "1.0.0", 0);
    let mut options = options(dir.path());
    options.keep_package = true;
    let kept = client.deploy(&v1, &options).await.expect("create");
    assert!(!kept.package_deleted);
    let stored = emulator
        .data_dir()
        .join("store")
        .join("SampleAppType_1.0.0");
    assert!(stored.exists());
    options.keep_package = false;
    let again = client.deploy(&v1, &options).await.expect("re-run");
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert!(again.package_deleted && !stored.exists());
}
