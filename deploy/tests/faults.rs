//! The fault matrix's file upload: `upload_file` against the emulator under each fault plan
//! (the library's tests/faults.rs runs names and paging under the same plans). Every cell
//! ends in an upload committed byte for byte, under a guard that fails the test on a hang.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use servicefabric_deploy::{ClientExt, UploadOptions};
use servicefabric_emulator::{Emulator, FaultPlan};
use support::matrix::{self, guarded, patient};

/// A file upload under one fault plan: committed, and byte for byte what was sent.
async fn upload_under(plan: FaultPlan) {
    let emulator = Emulator::builder()
        .faults(plan.clone())
        .start()
        .await
        .expect("emulator");
    let client = patient(emulator.endpoint());
    let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), &data).expect("write");
    let options = UploadOptions {
        chunk_size: 64 * 1024,
        max_retries: 20,
        retry_delay: Duration::from_millis(1),
        ..UploadOptions::default()
    };
    let report = guarded(
        "upload",
        client.upload_file(file.path(), "matrix\\file.bin", &options),
    )
    .await
    .unwrap_or_else(|e| panic!("{plan}: upload failed: {e}"));
    assert_eq!(report.file_size, 600_000);
    assert_eq!(
        std::fs::read(emulator.data_dir().join("store/matrix/file.bin")).expect("stored"),
        data,
        "{plan}: committed byte for byte"
    );
}

#[tokio::test]
async fn uploads_hold_up_under_every_fault_of_the_plan() {
    for plan in matrix::plans() {
        upload_under(plan).await;
    }
}
