//! The emulator's Cluster Manager through the client: application types, applications, and
//! rolling upgrades transition by transition under a scaled clock.

use std::{collections::BTreeMap, path::Path, time::Duration};

use servicefabric_emulator::{Emulator, EmulatorBuilder, SamplePackage, write_sample_package};
use servicefabric_rest::{
    ApplicationPackage, CleanupPolicy, Client, ErrorCode, FailureAction, FailureReason,
    ProvisionOptions, RollingUpgradeMode, UpgradeProgress, UpgradeRequest, UpgradeState,
};

const APP: &str = "fabric:/shop";

/// Writes the sample package of `version` straight into the store, marked complete, and
/// provisions it.
async fn provision(emulator: &Emulator, client: &Client, version: &str) {
    let folder = format!("Sample_{}", version.replace('.', "_"));
    let root = emulator.data_dir().join("store").join(&folder);
    let sample = SamplePackage {
        type_version: version.into(),
        small_files: 2,
        large_file_bytes: 0,
        ..SamplePackage::default()
    };
    write_sample_package(&root, &sample).expect("sample");
    mark(&root);
    client
        .provision_application_type(
            &ApplicationPackage::ImageStore {
                path: folder,
                cleanup: CleanupPolicy::Default,
            },
            &ProvisionOptions::default(),
        )
        .await
        .expect("provision");
}

fn mark(dir: &Path) {
    std::fs::write(dir.join("_.dir"), b"").expect("marker");
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        if entry.path().is_dir() {
            mark(&entry.path());
        }
    }
}

async fn cluster(builder: EmulatorBuilder) -> (Emulator, Client) {
    let emulator = builder.start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    provision(&emulator, &client, "1.0.0").await;
    provision(&emulator, &client, "2.0.0").await;
    client
        .create_application(APP, "SampleAppType", "1.0.0", &BTreeMap::new())
        .await
        .expect("create");
    (emulator, client)
}

fn fast() -> EmulatorBuilder {
    Emulator::builder().upgrade_domains(3).time_scale(2000.0)
}

/// Polls the upgrade until `done` holds (at most 20 s).
async fn until(client: &Client, done: impl Fn(&UpgradeProgress) -> bool) -> UpgradeProgress {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let progress = client.application_upgrade(APP).await.expect("progress");
        if done(&progress) {
            return progress;
        }
        assert!(std::time::Instant::now() < deadline, "stuck: {progress:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn types_and_applications_are_created_listed_and_removed() {
    let (e, client) = cluster(Emulator::builder()).await;
    let types = client
        .application_types_page(None, None)
        .await
        .expect("types");
    let versions: Vec<&str> = types.items.iter().map(|t| t.version.as_str()).collect();
    assert_eq!(versions, ["1.0.0", "2.0.0"]);
    assert_eq!(
        types.items[0]
            .default_parameters
            .get("InstanceCount")
            .map(String::as_str),
        Some("1")
    );
    assert!(
        client
            .application_types_page(Some("NopeType"), None)
            .await
            .expect("by name")
            .items
            .is_empty()
    );

    let app = client.application(APP).await.expect("get").expect("exists");
    assert_eq!(
        (app.type_version.as_str(), app.status.as_str()),
        ("1.0.0", "Ready")
    );
    assert!(
        client.name_exists(APP).await.expect("naming"),
        "the name is in Naming"
    );
    assert_eq!(client.application("fabric:/nope").await.expect("204"), None);
    let services = client.services_page(APP, None).await.expect("services");
    assert_eq!(services.items.len(), 3);
    assert_eq!(services.items[0].name, "fabric:/shop/Service0");
    assert_eq!(
        client
            .application_health(APP)
            .await
            .expect("health")
            .state
            .as_str(),
        "Ok"
    );
    let progress = client.application_upgrade(APP).await.expect("progress");
    assert!(progress.never_upgraded(), "{progress:?}");

    // Refusals, with the runtime's codes.
    let taken = client
        .create_application(APP, "SampleAppType", "1.0.0", &BTreeMap::new())
        .await
        .expect_err("taken");
    assert_eq!(taken.code(), Some(&ErrorCode::ApplicationAlreadyExists));
    let missing = client
        .create_application("fabric:/b", "SampleAppType", "9.9", &BTreeMap::new())
        .await
        .expect_err("not provisioned");
    assert_eq!(missing.code(), Some(&ErrorCode::ApplicationTypeNotFound));
    let undeclared = client
        .create_application(
            "fabric:/c",
            "SampleAppType",
            "1.0.0",
            &params(&[("Nope", "1")]),
        )
        .await
        .expect_err("undeclared");
    assert_eq!(
        undeclared.code(),
        Some(&ErrorCode::ImagebuilderValidationError)
    );
    assert!(
        undeclared
            .to_string()
            .contains("Parameter 'Nope' is not defined in the ApplicationManifest file.")
    );
    client
        .create_application(
            "fabric:/d",
            "SampleAppType",
            "1.0.0",
            &params(&[("instancecount", "2")]),
        )
        .await
        .expect("names compare case-insensitively");
    let in_use = client
        .unprovision_application_type("SampleAppType", "1.0.0")
        .await
        .expect_err("in use");
    assert_eq!(in_use.code(), Some(&ErrorCode::ApplicationTypeInUse));

    client.delete_application(APP, false).await.expect("delete");
    client
        .delete_application("fabric:/d", true)
        .await
        .expect("delete");
    assert_eq!(client.application(APP).await.expect("gone"), None);
    let gone = client
        .delete_application(APP, false)
        .await
        .expect_err("gone");
    assert_eq!(gone.code(), Some(&ErrorCode::ApplicationNotFound));
    client
        .unprovision_application_type("SampleAppType", "1.0.0")
        .await
        .expect("unused now");
    assert_eq!(e.application_types().len(), 1);
}

#[tokio::test]
async fn a_healthy_monitored_upgrade_commits_only_at_the_end() {
    let (_e, client) = cluster(fast()).await;
    let mut request = UpgradeRequest::new("2.0.0");
    request.parameters = params(&[("Greeting", "hi")]);
    client
        .start_application_upgrade(APP, &request)
        .await
        .expect("start");
    let running = client.application(APP).await.expect("get").expect("app");
    assert_eq!(
        (running.status.as_str(), running.type_version.as_str()),
        ("Upgrading", "1.0.0")
    );
    assert!(
        running.parameters.is_empty(),
        "parameters commit at the end"
    );
    let mid = until(&client, |p| p.state == UpgradeState::RollingForwardPending).await;
    assert_eq!(mid.mode, RollingUpgradeMode::Monitored);
    let done = until(&client, UpgradeProgress::is_terminal).await;
    assert_eq!(done.state, UpgradeState::RollingForwardCompleted);
    assert!(
        done.domains.iter().all(|d| d.state.as_str() == "Completed"),
        "{done:?}"
    );
    assert_eq!(done.domains.len(), 3);
    let app = client.application(APP).await.expect("get").expect("app");
    assert_eq!(
        (app.type_version.as_str(), app.status.as_str()),
        ("2.0.0", "Ready")
    );
    assert_eq!(app.parameters, params(&[("Greeting", "hi")]));

    let again = client
        .start_application_upgrade(APP, &request)
        .await
        .expect_err("same");
    assert_eq!(
        again.code(),
        Some(&ErrorCode::ApplicationAlreadyInTargetVersion)
    );
    let not = client
        .rollback_application_upgrade(APP)
        .await
        .expect_err("nothing runs");
    assert_eq!(not.code(), Some(&ErrorCode::ApplicationNotUpgrading));
}

#[tokio::test]
async fn error_from_ud2_rolls_back_or_waits_by_failure_action() {
    let sick = "SampleAppType@2.0.0=Error:from=UD2".parse().expect("rule");
    let (_e, client) = cluster(fast().health(sick)).await;
    client
        .start_application_upgrade(APP, &UpgradeRequest::new("2.0.0"))
        .await
        .expect("start");
    let back = until(&client, UpgradeProgress::is_terminal).await;
    assert_eq!(back.state, UpgradeState::RollingBackCompleted);
    assert_eq!(back.failure_reason, Some(FailureReason::HealthCheck));
    assert_eq!(
        back.domain_progress_at_failure
            .as_ref()
            .map(|d| d.domain.as_str()),
        Some("UD2")
    );
    assert_eq!(
        back.mode,
        RollingUpgradeMode::UnmonitoredAuto,
        "mode rewritten for the way back"
    );
    assert_eq!(
        back.target_version, "1.0.0",
        "the old version during and after a rollback"
    );
    assert!(!back.unhealthy_evaluations.is_empty());
    let app = client.application(APP).await.expect("get").expect("app");
    assert_eq!(app.type_version, "1.0.0");

    let mut manual = UpgradeRequest::new("2.0.0");
    manual.failure_action = FailureAction::Manual;
    client
        .start_application_upgrade(APP, &manual)
        .await
        .expect("start");
    let waiting = until(&client, |p| p.mode == RollingUpgradeMode::UnmonitoredManual).await;
    assert_eq!(waiting.state, UpgradeState::RollingForwardPending);
    assert_eq!(waiting.failure_reason, Some(FailureReason::HealthCheck));
    assert_eq!(
        client
            .application_health(APP)
            .await
            .expect("health")
            .state
            .as_str(),
        "Error"
    );
    client
        .rollback_application_upgrade(APP)
        .await
        .expect("user rollback");
    let back = until(&client, UpgradeProgress::is_terminal).await;
    assert_eq!(back.state, UpgradeState::RollingBackCompleted);
}

#[tokio::test]
async fn a_domain_timeout_fails_the_upgrade() {
    // Unhealthy, so the checks run past the domain timeout (a healthy one passes first).
    let sick = "SampleAppType@2.0.0=Error".parse().expect("rule");
    let (_e, client) = cluster(fast().health(sick)).await;
    let mut request = UpgradeRequest::new("2.0.0");
    request.health_check_stable = Some(Duration::from_secs(120));
    request.health_check_retry = Some(Duration::from_secs(130));
    request.upgrade_domain_timeout = Some(Duration::from_secs(140));
    request.upgrade_timeout = Some(Duration::from_secs(3600));
    client
        .start_application_upgrade(APP, &request)
        .await
        .expect("start");
    let failed = until(&client, UpgradeProgress::is_terminal).await;
    assert_eq!(
        failed.failure_reason,
        Some(FailureReason::UpgradeDomainTimeout),
        "{failed:?}"
    );
    assert_eq!(failed.state, UpgradeState::RollingBackCompleted);

    // A policy the runtime refuses: a timeout shorter than wait + stable.
    request.upgrade_domain_timeout = Some(Duration::from_secs(60));
    let refused = client
        .start_application_upgrade(APP, &request)
        .await
        .expect_err("refused");
    assert_eq!(
        refused.code(),
        Some(&ErrorCode::ApplicationUpgradeValidationError)
    );
}

#[tokio::test]
async fn a_manual_upgrade_is_resumed_domain_by_domain() {
    let (_e, client) = cluster(fast()).await;
    let mut request = UpgradeRequest::new("2.0.0");
    request.mode = RollingUpgradeMode::UnmonitoredManual;
    client
        .start_application_upgrade(APP, &request)
        .await
        .expect("start");
    for next in ["UD1", "UD2"] {
        let paused = until(&client, |p| {
            p.state == UpgradeState::RollingForwardPending && p.next_domain.as_deref() == Some(next)
        })
        .await;
        assert_eq!(paused.state, UpgradeState::RollingForwardPending);
        let completed = client
            .resume_application_upgrade(APP, "UD0")
            .await
            .expect_err("done");
        assert_eq!(
            completed.code(),
            Some(&ErrorCode::from_code(
                "FABRIC_E_UPGRADE_DOMAIN_ALREADY_COMPLETED"
            ))
        );
        if next == "UD1" {
            let wrong = client
                .resume_application_upgrade(APP, "UD2")
                .await
                .expect_err("not next");
            assert_eq!(wrong.code(), Some(&ErrorCode::InvalidArg));
        }
        client
            .resume_application_upgrade(APP, next)
            .await
            .expect("resume");
    }
    let done = until(&client, UpgradeProgress::is_terminal).await;
    assert_eq!(done.state, UpgradeState::RollingForwardCompleted);
}

#[tokio::test]
async fn a_different_upgrade_interrupts_rolls_back_then_runs() {
    let (_e, client) = cluster(Emulator::builder().upgrade_domains(3).time_scale(20.0)).await;
    let mut first = UpgradeRequest::new("2.0.0");
    first.mode = RollingUpgradeMode::UnmonitoredAuto;
    client
        .start_application_upgrade(APP, &first)
        .await
        .expect("first");
    let mut second = first.clone();
    second.parameters = params(&[("Greeting", "other")]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    client
        .start_application_upgrade(APP, &second)
        .await
        .expect("second");
    let interrupted = client.application_upgrade(APP).await.expect("progress");
    assert_eq!(interrupted.failure_reason, Some(FailureReason::Interrupted));
    assert!(
        interrupted
            .status_details
            .contains("Upgrade will restart with target version '2.0.0'")
    );
    let done = until(&client, |p| {
        p.state == UpgradeState::RollingForwardCompleted
    })
    .await;
    assert_eq!(done.parameters, Some(params(&[("Greeting", "other")])));
    let app = client.application(APP).await.expect("get").expect("app");
    assert_eq!(app.parameters, params(&[("Greeting", "other")]));
}

#[tokio::test]
async fn an_upgrade_in_flight_survives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let builder = || {
        Emulator::builder()
            .data_dir(dir.path())
            .upgrade_domains(3)
            .time_scale(5.0)
    };
    let (e, client) = cluster(builder()).await;
    let mut request = UpgradeRequest::new("2.0.0");
    request.mode = RollingUpgradeMode::UnmonitoredAuto;
    client
        .start_application_upgrade(APP, &request)
        .await
        .expect("start");
    let before = client.application_upgrade(APP).await.expect("progress");
    assert!(!before.is_terminal());
    e.shutdown().await;
    let e = builder().start().await.expect("restart");
    let client = Client::new(e.endpoint()).expect("client");
    let after = client.application_upgrade(APP).await.expect("progress");
    assert_eq!(after.target_version, "2.0.0");
    let done = until(&client, UpgradeProgress::is_terminal).await;
    assert_eq!(done.state, UpgradeState::RollingForwardCompleted);
}

#[tokio::test]
async fn an_update_changes_a_running_upgrade() {
    let (_e, client) = cluster(fast()).await;
    let mut request = UpgradeRequest::new("2.0.0");
    request.mode = RollingUpgradeMode::UnmonitoredManual;
    client
        .start_application_upgrade(APP, &request)
        .await
        .expect("start");
    until(&client, |p| p.state == UpgradeState::RollingForwardPending).await;
    // Paused after UD0; switched to UnmonitoredAuto it goes on with UD1 after a resume, then
    // runs to the end by itself.
    let update = servicefabric_rest::UpgradeUpdate::new(RollingUpgradeMode::UnmonitoredAuto);
    client
        .update_application_upgrade(APP, &update)
        .await
        .expect("update");
    assert_eq!(
        client
            .application_upgrade(APP)
            .await
            .expect("progress")
            .mode,
        RollingUpgradeMode::UnmonitoredAuto
    );
    client
        .resume_application_upgrade(APP, "UD1")
        .await
        .expect("resume");
    let done = until(&client, UpgradeProgress::is_terminal).await;
    assert_eq!(done.state, UpgradeState::RollingForwardCompleted);
    let none = client
        .update_application_upgrade(APP, &update)
        .await
        .expect_err("ended");
    assert_eq!(none.code(), Some(&ErrorCode::ApplicationNotUpgrading));
}

#[tokio::test]
async fn the_same_start_again_is_409_while_set_up_then_200_and_delete_ends_an_upgrade() {
    // Real time: the set-up window is one second.
    let (_e, client) = cluster(Emulator::builder().upgrade_domains(3)).await;
    let mut request = UpgradeRequest::new("2.0.0");
    request.mode = RollingUpgradeMode::UnmonitoredAuto;
    client
        .start_application_upgrade(APP, &request)
        .await
        .expect("start");
    let busy = client
        .start_application_upgrade(APP, &request)
        .await
        .expect_err("still being set up");
    assert_eq!(busy.code(), Some(&ErrorCode::ApplicationUpgradeInProgress));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .start_application_upgrade(APP, &request)
        .await
        .expect("the same description again changes nothing");
    let progress = client.application_upgrade(APP).await.expect("progress");
    assert_eq!(progress.state, UpgradeState::RollingForwardInProgress);
    client
        .delete_application(APP, false)
        .await
        .expect("deleted during its upgrade");
    assert_eq!(client.application(APP).await.expect("get"), None);
}

#[tokio::test]
async fn manifests_read_back_and_diff_packages_take_the_rest_from_the_provisioned_version() {
    let (emulator, client) = cluster(fast()).await;
    let manifest = client
        .application_manifest("SampleAppType", "2.0.0")
        .await
        .expect("manifest");
    assert!(
        manifest.contains("ApplicationTypeVersion=\"2.0.0\""),
        "{manifest}"
    );
    let service = client
        .service_manifest("SampleAppType", "2.0.0", "FrontEndPkg")
        .await
        .expect("service manifest");
    assert!(service.contains("Name=\"FrontEndPkg\""), "{service}");
    let missing = client
        .application_manifest("SampleAppType", "9.9.9")
        .await
        .expect_err("not provisioned");
    assert_eq!(
        missing.code().map(ErrorCode::as_str),
        Some("FABRIC_E_APPLICATION_TYPE_NOT_FOUND")
    );

    // A diff package: the application manifest and one changed service, nothing else.
    let full = tempfile::tempdir().expect("tempdir");
    write_sample_package(
        full.path(),
        &SamplePackage {
            type_version: "3.0.0".into(),
            changed_services: 1,
            small_files: 2,
            large_file_bytes: 0,
            ..SamplePackage::default()
        },
    )
    .expect("sample");
    let root = emulator.data_dir().join("store").join("Diff_3");
    std::fs::create_dir_all(root.join("FrontEndPkg")).expect("dir");
    std::fs::copy(
        full.path().join("ApplicationManifest.xml"),
        root.join("ApplicationManifest.xml"),
    )
    .expect("copy");
    let service_manifest = full.path().join("FrontEndPkg").join("ServiceManifest.xml");
    std::fs::copy(
        &service_manifest,
        root.join("FrontEndPkg").join("ServiceManifest.xml"),
    )
    .expect("copy");
    mark(&root);
    let package = ApplicationPackage::ImageStore {
        path: "Diff_3".into(),
        cleanup: CleanupPolicy::Default,
    };
    // Its changed Code package (3.0.0) is in no provisioned version: refused.
    let refused = client
        .provision_application_type(&package, &ProvisionOptions::default())
        .await
        .expect_err("refused");
    assert_eq!(
        refused.code().map(ErrorCode::as_str),
        Some("FABRIC_E_IMAGEBUILDER_VALIDATION_ERROR"),
        "{refused}"
    );
    let code = root.join("FrontEndPkg").join("Code");
    std::fs::create_dir_all(&code).expect("dir");
    std::fs::copy(
        full.path().join("FrontEndPkg").join("Code").join("app.exe"),
        code.join("app.exe"),
    )
    .expect("copy");
    mark(&root);
    client
        .provision_application_type(&package, &ProvisionOptions::default())
        .await
        .expect("the rest comes from 2.0.0");
    let front = client
        .service_manifest("SampleAppType", "3.0.0", "FrontEndPkg")
        .await
        .expect("the diff's own");
    assert!(front.contains("Version=\"3.0.0\""), "{front}");
    // The services the diff left out were taken from 2.0.0: 3.0.0 lists them too.
    let type_info = client
        .application_types_page(Some("SampleAppType"), None)
        .await
        .expect("types");
    assert!(type_info.items.iter().any(|t| t.version == "3.0.0"));
}
