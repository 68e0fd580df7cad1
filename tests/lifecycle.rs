//! Applications and upgrades through the typed layer: what the gateway's answers decode to
//! (open enums, durations, the never-upgraded shape), and calls that must not act twice read
//! the state back after a failure of unknown outcome instead of sending again blindly.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use servicefabric_rest::{
    ApplicationStatus, Client, FailureReason, RetryPolicy, RollingUpgradeMode, UpgradeDomainState,
    UpgradeRequest, UpgradeState,
};

fn client(url: &str) -> Client {
    Client::builder(url)
        .retry_policy(
            RetryPolicy::default()
                .max_retries(3)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(2)),
        )
        .build()
        .expect("client")
}

const TIMEOUT_504: &str =
    r#"{"Error":{"Code":"FABRIC_E_TIMEOUT","Message":"Operation timed out."}}"#;

#[tokio::test]
async fn an_upgrade_in_flight_decodes_with_open_enums_and_durations() {
    let body = r#"{"Name":"fabric:\/shop","TypeName":"ShopType","TargetApplicationTypeVersion":"2.0.0",
        "UpgradeDomains":[{"Name":"UD1","State":"InProgress"},{"Name":"UD2","State":"Pending"},{"Name":"UD0","State":"Completed"},{"Name":"UD3","State":"Paused"}],
        "UpgradeState":"RollingBackPending","NextUpgradeDomain":"UD2","RollingUpgradeMode":"Monitored",
        "UpgradeDescription":{"Name":"fabric:\/shop","TargetApplicationTypeVersion":"2.0.0","Parameters":[{"Key":"A","Value":"1"}],"UpgradeKind":"Rolling"},
        "UpgradeDurationInMilliseconds":"PT0H2M30S","UpgradeDomainDurationInMilliseconds":"45000",
        "UnhealthyEvaluations":[{"HealthEvaluation":{"Kind":"Event","AggregatedHealthState":"Error"}}],
        "CurrentUpgradeDomainProgress":{"DomainName":"UD1","NodeUpgradeProgressList":[{"NodeName":"_Node_1","UpgradePhase":"Upgrading","PendingSafetyChecks":[]}]},
        "StartTimestampUtc":"2026-12-06T10:00:00.000Z","FailureTimestampUtc":"2026-12-06T10:02:00.000Z",
        "FailureReason":"HealthCheck","UpgradeDomainProgressAtFailure":{"DomainName":"UD1","NodeUpgradeProgressList":[]},
        "UpgradeStatusDetails":"rolling back"}"#;
    let stub = support::serve(move |_| support::reply(200, "OK", body)).await;
    let progress = client(&stub.url)
        .application_upgrade("fabric:/shop")
        .await
        .expect("decodes");
    assert_eq!(progress.state, UpgradeState::RollingBackPending);
    assert!(!progress.is_terminal());
    assert_eq!(progress.mode, RollingUpgradeMode::Monitored);
    let states: Vec<&str> = progress.domains.iter().map(|d| d.state.as_str()).collect();
    assert_eq!(
        states,
        ["InProgress", "Pending", "Completed", "Paused"],
        "the gateway's order"
    );
    assert!(
        matches!(progress.domains[3].state, UpgradeDomainState::Other(_)),
        "kept, not refused"
    );
    assert_eq!(progress.next_domain.as_deref(), Some("UD2"));
    assert_eq!(
        progress.current_domain.as_ref().map(|d| d.nodes.len()),
        Some(1)
    );
    assert_eq!(progress.failure_reason, Some(FailureReason::HealthCheck));
    assert!(progress.failed_at.is_some() && progress.started_at.is_some());
    assert_eq!(progress.upgrade_duration, Duration::from_secs(150));
    assert_eq!(progress.domain_duration, Duration::from_secs(45));
    assert_eq!(progress.unhealthy_evaluations.len(), 1);
    assert_eq!(
        progress
            .parameters
            .as_ref()
            .and_then(|p| p.get("A"))
            .map(String::as_str),
        Some("1")
    );
    assert!(!progress.never_upgraded());
}

#[tokio::test]
async fn the_never_upgraded_shape_is_told_apart() {
    // The published example GetApplicationUpgrade.json.
    let body = r#"{"Name":"fabric:/VisualObjects","TypeName":"VisualObjectsApplicationType","TargetApplicationTypeVersion":"33.0.0","UpgradeDomains":[],"UpgradeUnits":[],"UpgradeState":"RollingForwardCompleted","NextUpgradeDomain":"","RollingUpgradeMode":"Invalid","UpgradeDurationInMilliseconds":"PT0H0M0S","UpgradeDomainDurationInMilliseconds":"PT0H0M0S","UnhealthyEvaluations":[],"CurrentUpgradeDomainProgress":{"NodeUpgradeProgressList":[]},"CurrentUpgradeUnitsProgress":{"NodeUpgradeProgressList":[]},"StartTimestampUtc":"0001-01-01T00:00:00.000Z","FailureTimestampUtc":"0001-01-01T00:00:00.000Z","FailureReason":"None","UpgradeDomainProgressAtFailure":{"NodeUpgradeProgressList":[]},"UpgradeStatusDetails":"","IsNodeByNode":false}"#;
    let stub = support::serve(move |_| support::reply(200, "OK", body)).await;
    let progress = client(&stub.url)
        .application_upgrade("fabric:/VisualObjects")
        .await
        .expect("decodes");
    assert!(progress.never_upgraded() && progress.is_terminal());
    assert_eq!(progress.next_domain, None);
    assert_eq!((progress.started_at, progress.failure_reason), (None, None));
    assert_eq!(progress.current_domain, None);
}

#[tokio::test]
async fn a_missing_application_is_none_and_an_unknown_status_is_kept() {
    let stub = support::serve(|target| {
        if target.starts_with("/Applications/gone?") {
            support::reply(204, "No Content", "")
        } else {
            support::reply(
                200,
                "OK",
                r#"{"Id":"shop~orders","Name":"fabric:\/shop\/orders","TypeName":"ShopType","TypeVersion":"1.0.0","Status":"Hibernating","Parameters":[{"Key":"A","Value":"1"}],"HealthState":"Ok","ApplicationDefinitionKind":"ServiceFabricApplicationDescription"}"#,
            )
        }
    })
    .await;
    let client = client(&stub.url);
    assert_eq!(client.application("fabric:/gone").await.expect("204"), None);
    let app = client
        .application("fabric:/shop/orders")
        .await
        .expect("200")
        .expect("an application");
    assert_eq!(app.status.as_str(), "Hibernating");
    assert!(matches!(app.status, ApplicationStatus::Other(_)));
    assert_eq!(app.parameters.get("A").map(String::as_str), Some("1"));
    assert_eq!(
        stub.targets()[1],
        "/Applications/shop~orders?api-version=6.0&ExcludeApplicationParameters=false&timeout=60"
    );
}

/// A create whose answer is lost (504) but that acted: the application is read back and the
/// create is not sent again.
#[tokio::test]
async fn a_create_that_timed_out_is_read_back_not_resent() {
    let creates = Arc::new(AtomicUsize::new(0));
    let seen = creates.clone();
    let stub = support::serve(move |target| {
        if target.contains("/$/Create") {
            seen.fetch_add(1, Ordering::SeqCst);
            support::reply(504, "FABRIC_E_TIMEOUT", TIMEOUT_504)
        } else {
            support::reply(
                200,
                "OK",
                r#"{"Id":"shop","Name":"fabric:\/shop","TypeName":"ShopType","TypeVersion":"1.0.0","Status":"Creating","Parameters":[],"HealthState":"Ok"}"#,
            )
        }
    })
    .await;
    client(&stub.url)
        .create_application("fabric:/shop", "ShopType", "1.0.0", &Default::default())
        .await
        .expect("the read-back shows it acted");
    assert_eq!(creates.load(Ordering::SeqCst), 1, "{:?}", stub.targets());

    // Read back and not there: sent again (within the policy), then the last error.
    let creates = Arc::new(AtomicUsize::new(0));
    let seen = creates.clone();
    let stub = support::serve(move |target| {
        if target.contains("/$/Create") {
            seen.fetch_add(1, Ordering::SeqCst);
            support::reply(504, "FABRIC_E_TIMEOUT", TIMEOUT_504)
        } else {
            support::reply(204, "No Content", "")
        }
    })
    .await;
    let err = client(&stub.url)
        .create_application("fabric:/shop", "ShopType", "1.0.0", &Default::default())
        .await
        .expect_err("never acted");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(504));
    assert_eq!(
        creates.load(Ordering::SeqCst),
        4,
        "1 + 3 retries, each after a read-back"
    );
    let targets = stub.targets();
    assert!(
        targets
            .windows(2)
            .all(|w| !(w[0].contains("/$/Create") && w[1].contains("/$/Create"))),
        "never two creates without a read-back between: {targets:?}"
    );
}

/// An upgrade start whose answer is lost: the progress shows it running toward the target
/// with the same parameters, so it is not sent again (a changed one would interrupt).
#[tokio::test]
async fn an_upgrade_start_that_timed_out_is_read_back_not_resent() {
    let starts = Arc::new(AtomicUsize::new(0));
    let seen = starts.clone();
    let stub = support::serve(move |target| {
        if target.contains("/$/Upgrade?") {
            seen.fetch_add(1, Ordering::SeqCst);
            support::reply(504, "FABRIC_E_TIMEOUT", TIMEOUT_504)
        } else {
            support::reply(
                200,
                "OK",
                r#"{"Name":"fabric:\/shop","TargetApplicationTypeVersion":"2.0.0","UpgradeDomains":[{"Name":"UD0","State":"InProgress"}],"UpgradeState":"RollingForwardInProgress","RollingUpgradeMode":"Monitored","UpgradeDescription":{"Name":"fabric:\/shop","TargetApplicationTypeVersion":"2.0.0","Parameters":[],"UpgradeKind":"Rolling"},"UpgradeDurationInMilliseconds":"PT0H0M5S"}"#,
            )
        }
    })
    .await;
    client(&stub.url)
        .start_application_upgrade("fabric:/shop", &UpgradeRequest::new("2.0.0"))
        .await
        .expect("running toward 2.0.0");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_input_is_refused_before_sending() {
    let stub = support::serve(|_| support::reply(200, "OK", "")).await;
    let client = client(&stub.url);
    assert!(client.application("fabric:/a~b").await.is_err());
    assert!(
        client
            .create_application("fabric:/a", "", "1.0", &Default::default())
            .await
            .is_err()
    );
    assert!(
        client
            .resume_application_upgrade("fabric:/a", " ")
            .await
            .is_err()
    );
    assert!(client.unprovision_application_type("T", "").await.is_err());
    assert!(stub.targets().is_empty(), "{:?}", stub.targets());
}

#[tokio::test]
async fn manifests_are_asked_for_as_the_reference_pages_write_them() {
    let stub =
        support::serve(|_| support::reply(200, "OK", r#"{"Manifest":"<ApplicationManifest />"}"#))
            .await;
    let client = client(&stub.url);
    let text = client
        .application_manifest("ShopType", "2.0.0")
        .await
        .expect("manifest");
    assert_eq!(text, "<ApplicationManifest />");
    client
        .service_manifest("ShopType", "2.0.0", "WebPkg")
        .await
        .expect("manifest");
    assert!(
        client
            .service_manifest("ShopType", "2.0.0", " ")
            .await
            .is_err()
    );
    assert_eq!(
        stub.targets(),
        vec![
            "/ApplicationTypes/ShopType/$/GetApplicationManifest?api-version=6.0&ApplicationTypeVersion=2.0.0&timeout=60",
            "/ApplicationTypes/ShopType/$/GetServiceManifest?api-version=6.0&ApplicationTypeVersion=2.0.0&ServiceManifestName=WebPkg&timeout=60",
        ]
    );
}

#[tokio::test]
async fn an_upgrade_carries_the_health_policy_when_given() {
    let stub = support::serve(|_| support::reply(200, "OK", "")).await;
    let mut request = UpgradeRequest::new("2.0.0");
    request.health_policy = Some(servicefabric_rest::HealthPolicy {
        consider_warning_as_error: true,
        max_percent_unhealthy_deployed_applications: 5,
        default_service_type: Some(servicefabric_rest::ServiceTypeHealthPolicy {
            max_percent_unhealthy_services: 10,
            max_percent_unhealthy_partitions_per_service: 20,
            max_percent_unhealthy_replicas_per_partition: 30,
        }),
        service_types: Vec::new(),
    });
    client(&stub.url)
        .start_application_upgrade("fabric:/shop", &request)
        .await
        .expect("started");
    let body: serde_json::Value = serde_json::from_slice(&stub.bodies()[0]).expect("json body");
    let policy = &body["ApplicationHealthPolicy"];
    assert_eq!(policy["ConsiderWarningAsError"], true);
    assert_eq!(policy["MaxPercentUnhealthyDeployedApplications"], 5);
    assert_eq!(
        policy["DefaultServiceTypeHealthPolicy"]["MaxPercentUnhealthyReplicasPerPartition"],
        30
    );
}
