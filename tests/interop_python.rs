//! The official Python SDK against the emulator, and its request targets against ours.
//! The venv is created on first run (`python3 -m venv`, `pip install azure-servicefabric`);
//! a machine without python3 fails this test rather than skipping it.

mod support;

use support::venv::{run, venv};

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use servicefabric_emulator::Emulator;
use servicefabric_rest::Client;

const SDK: &str = "azure-servicefabric==8.2.0.0";

/// The venv's python, with the SDK installed: made once per target directory, and by one
/// test at a time (the tests of this file run in parallel threads of one process).
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            venv(
                "python-sdk-venv",
                SDK,
                &["-c", "import azure.servicefabric"],
            )
            .join("python")
        })
        .clone()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/python_sdk.py")
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_sdk_reads_the_seeded_emulator() {
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let emulator = Emulator::builder()
        .seeded(true)
        .page_max_names(3)
        .start()
        .await
        .expect("emulator");
    let endpoint = emulator.endpoint().to_string();
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(python)
            .arg(script())
            .args(["seeded", &endpoint]))
    })
    .await
    .expect("sdk");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("summary");
    assert_eq!(summary["names"], 11);
    assert_eq!(summary["pages"], 4, "the SDK followed our tokens verbatim");
    assert!(
        summary["raised_on_204"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "the SDK raises on the gateway's 204: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn our_request_targets_equal_the_python_sdks() {
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let stub = support::serve(support::empty_answer).await;
    let url = stub.url.clone();
    tokio::task::spawn_blocking(move || {
        run(Command::new(python).arg(script()).args(["targets", &url]))
    })
    .await
    .expect("sdk");
    let theirs = stub.targets();

    let ours_stub = support::serve(support::empty_answer).await;
    let client = Client::new(&ours_stub.url).expect("client");
    client
        .upload_sessions_by_id(
            "4a2340e8-d8d8-497c-95fe-cdaa1052f33b"
                .parse()
                .expect("uuid"),
        )
        .await
        .expect("1");
    client
        .upload_sessions_by_path("SwaggerTest\\Common.dll")
        .await
        .expect("2");
    client
        .upload_sessions_by_path("Store/MyApp/Code.zip")
        .await
        .expect("3");
    client
        .sub_names_page("fabric:/samples/apps", false, None)
        .await
        .expect("4");
    client
        .sub_names_page(
            "samples",
            true,
            Some("fabric:/samples/apps/PersistentQueueApp$131439231986491349"),
        )
        .await
        .expect("5");
    assert_eq!(
        ours_stub.targets(),
        theirs,
        "byte-identical request targets"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_sdk_sees_the_runtimes_answers() {
    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let emulator = Emulator::start().await.expect("emulator");
    // The SDK cannot upload bytes (the spec gives UploadChunk no body): our client does.
    let client = Client::new(emulator.endpoint()).expect("client");
    let id = servicefabric_rest::Uuid::new_v4();
    let range = servicefabric_rest::ChunkRange { start: 0, end: 2 };
    client
        .upload_chunk("fidelity\\f.bin", id, range, 3, vec![1u8, 2, 3])
        .await
        .expect("chunk");
    client.commit_upload_session(id).await.expect("commit");
    let endpoint = emulator.endpoint().to_string();
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(python).arg(script()).args([
            "fidelity",
            &endpoint,
            &id.to_string(),
            "fidelity\\f.bin",
        ]))
    })
    .await
    .expect("sdk");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("summary");
    assert_eq!(summary["conflicts"]["exists"][1], "Name already exists.");
    assert!(
        summary["not_emulated"]
            .as_str()
            .is_some_and(|m| m.contains("GET /Tools/Chaos/Schedule")),
        "{summary}"
    );
}

/// The lifecycle requests, ours against the official SDK's: the same request lines byte for
/// byte, and the same JSON bodies.
#[tokio::test(flavor = "multi_thread")]
async fn our_lifecycle_requests_equal_the_python_sdks() {
    use servicefabric_rest::{RollingUpgradeMode, UpgradeRequest, UpgradeUpdate};
    use std::collections::BTreeMap;

    let python = tokio::task::spawn_blocking(python).await.expect("venv");
    let theirs = support::serve(|_| support::reply(200, "OK", "")).await;
    let url = theirs.url.clone();
    tokio::task::spawn_blocking(move || {
        run(Command::new(python).arg(script()).args(["lifecycle", &url]))
    })
    .await
    .expect("sdk");

    let ours = support::serve(|_| support::reply(200, "OK", "")).await;
    let client = Client::builder(&ours.url)
        .retry_policy(servicefabric_rest::RetryPolicy::none())
        .build()
        .expect("client");
    let parameters: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
    let app = "fabric:/shop/orders";
    let _ = client.application_types_page(None, None).await;
    let _ = client.application_types_page(Some("ShopType"), None).await;
    let _ = client
        .unprovision_application_type("ShopType", "1.0.0")
        .await;
    let _ = client
        .create_application(app, "ShopType", "1.0.0", &parameters)
        .await;
    let _ = client.applications_page(None, None).await;
    let _ = client.application(app).await;
    let _ = client.delete_application(app, true).await;
    let mut upgrade = UpgradeRequest::new("2.0.0");
    upgrade.parameters = parameters.clone();
    upgrade.health_check_stable = Some(std::time::Duration::from_secs(60));
    let _ = client.start_application_upgrade(app, &upgrade).await;
    let _ = client.application_upgrade(app).await;
    let _ = client
        .update_application_upgrade(
            app,
            &UpgradeUpdate::new(RollingUpgradeMode::UnmonitoredAuto),
        )
        .await;
    let _ = client.resume_application_upgrade(app, "UD1").await;
    let _ = client.rollback_application_upgrade(app).await;
    let _ = client.application_health(app).await;
    let _ = client.services_page(app, None).await;
    let _ = client.cluster_version().await;

    assert_eq!(
        ours.requests(),
        theirs.requests(),
        "request lines byte for byte"
    );
    let json = |bodies: Vec<Vec<u8>>| -> Vec<Option<serde_json::Value>> {
        bodies
            .iter()
            .map(|b| (!b.is_empty()).then(|| serde_json::from_slice(b).expect("a JSON body")))
            .collect()
    };
    assert_eq!(
        json(ours.bodies()),
        json(theirs.bodies()),
        "the same JSON bodies"
    );
    assert_eq!(ours.requests().len(), 15);
}
