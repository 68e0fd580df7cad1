//! Application packages against the emulator: upload byte for byte, refusals before anything
//! is sent, resume after an interruption (counted on the emulator's side), a file changed
//! between runs, faults, and provisioning.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use servicefabric_deploy::{ClientExt, PackageOptions, PackageProgressFn};
use servicefabric_emulator::{Emulator, FaultPlan, Faults, SamplePackage, write_sample_package};
use servicefabric_rest::{
    ApplicationPackage, CleanupPolicy, Client, Error, ProvisionOptions, Provisioned, RetryPolicy,
};

fn options(resume: &Path) -> PackageOptions {
    PackageOptions {
        session_threshold: 1024 * 1024,
        chunk_size: 256 * 1024,
        resume_dir: Some(resume.to_path_buf()),
        ..PackageOptions::default()
    }
}

/// Every local file, as (path relative to the package with `/`, bytes).
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in fs::read_dir(dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let relative = path.strip_prefix(root).expect("inside");
                let name = relative.to_string_lossy().replace('\\', "/");
                out.push((name, fs::read(&path).expect("readable")));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The package as the emulator stores it, markers left out.
fn stored(emulator: &Emulator, path_in_store: &str) -> Vec<(String, Vec<u8>)> {
    tree(&emulator.data_dir().join("store").join(path_in_store))
        .into_iter()
        .filter(|(name, _)| !name.ends_with("_.dir"))
        .collect()
}

/// Every folder of the local package, relative, with `/` ("" for the root).
fn folders(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::new()];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.push(path.strip_prefix(root).expect("inside").to_path_buf());
                stack.push(path);
            }
        }
    }
    out
}

fn image_store_package(path: &str) -> ApplicationPackage {
    ApplicationPackage::ImageStore {
        path: path.into(),
        cleanup: CleanupPolicy::Manual,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_uploads_byte_for_byte_and_provisions_once() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    let summary = write_sample_package(&local, &SamplePackage::default()).expect("sample");
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = PackageOptions {
        progress: Some(PackageProgressFn::new(move |p| {
            seen.lock().expect("lock").push(p.clone());
        })),
        ..options(&work.path().join("resume"))
    };

    let report = client
        .upload_package(&local, "Sample App", &options)
        .await
        .expect("upload");

    assert_eq!(report.files, summary.files);
    assert_eq!(report.files_sent, summary.files);
    assert_eq!(report.bytes_total, summary.bytes);
    assert_eq!(report.bytes_sent, summary.bytes);
    assert_eq!(report.application_type_name, "SampleAppType");
    assert_eq!(
        emulator.received_bytes(),
        summary.bytes,
        "each byte sent once"
    );
    assert_eq!(stored(&emulator, "Sample App"), tree(&local));
    for folder in folders(&local) {
        let marker = emulator
            .data_dir()
            .join("store/Sample App")
            .join(&folder)
            .join("_.dir");
        assert!(marker.is_file(), "no marker in {folder:?}");
    }
    assert_eq!(report.folders, folders(&local).len() as u64);
    {
        let events = events.lock().expect("lock");
        let last = events.last().expect("progress reported");
        assert_eq!(
            (last.files_done, last.bytes_done),
            (summary.files, summary.bytes)
        );
        assert!(
            events
                .windows(2)
                .all(|w| w[0].bytes_done <= w[1].bytes_done)
        );
    }

    // The typed listing sees what was uploaded, sizes as u64.
    let files = client.store_files(Some("Sample App")).await.expect("files");
    assert_eq!(files.len() as u64, summary.files);
    assert_eq!(files.iter().map(|f| f.size).sum::<u64>(), summary.bytes);

    let provisioned = client
        .provision_application_type(
            &image_store_package("Sample App"),
            &ProvisionOptions::default(),
        )
        .await
        .expect("provision");
    assert_eq!(provisioned, Provisioned::Done);
    assert_eq!(
        emulator.application_types(),
        [("SampleAppType".to_string(), "1.0.0".to_string())]
    );
    let again = client
        .provision_application_type(
            &image_store_package("Sample App"),
            &ProvisionOptions::default(),
        )
        .await
        .expect_err("provisioned twice");
    assert_eq!(again.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(
        again.code().map(|c| c.as_str()),
        Some("FABRIC_E_APPLICATION_TYPE_ALREADY_EXISTS")
    );

    // A second run finds everything in the store and sends nothing.
    let before = emulator.received_bytes();
    let rerun = client
        .upload_package(&local, "Sample App", &options)
        .await
        .expect("rerun");
    assert_eq!((rerun.files_sent, rerun.bytes_sent), (0, 0));
    assert_eq!(rerun.files_skipped, summary.files);
    assert_eq!(emulator.received_bytes(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_provisioning_would_refuse_is_refused_before_sending() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let resume = work.path().join("resume");
    let sample = SamplePackage {
        large_file_bytes: 0,
        ..SamplePackage::default()
    };

    let no_manifest = work.path().join("no-manifest");
    write_sample_package(&no_manifest, &sample).expect("sample");
    fs::remove_file(no_manifest.join("ApplicationManifest.xml")).expect("remove");
    let e = client
        .upload_package(&no_manifest, "App", &options(&resume))
        .await
        .expect_err("no manifest");
    assert!(e.to_string().contains("ApplicationManifest.xml"), "{e}");

    let no_service = work.path().join("no-service");
    write_sample_package(&no_service, &sample).expect("sample");
    fs::remove_file(no_service.join("FrontEndPkg/ServiceManifest.xml")).expect("remove");
    let e = client
        .upload_package(&no_service, "App", &options(&resume))
        .await
        .expect_err("no service manifest");
    assert!(e.to_string().contains("FrontEndPkg"), "{e}");

    let no_code = work.path().join("no-code");
    write_sample_package(&no_code, &sample).expect("sample");
    fs::remove_dir_all(no_code.join("Back End Pkg/Code")).expect("remove");
    let e = client
        .upload_package(&no_code, "App", &options(&resume))
        .await
        .expect_err("no code package");
    assert!(e.to_string().contains("CodePackage Code"), "{e}");

    let good = work.path().join("good");
    write_sample_package(&good, &sample).expect("sample");
    for bad in ["Store/App", "WindowsFabricStore", "a/../b", ""] {
        let e = client
            .upload_package(&good, bad, &options(&resume))
            .await
            .expect_err(bad);
        assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{bad}: {e}");
    }
    assert_eq!(emulator.received_bytes(), 0, "nothing was sent");
    let root = client.store_content(None).await.expect("root listing");
    assert_eq!(root, Some(Default::default()), "the store is empty (204)");
}

/// Runs an upload until the progress passes `fraction` of the bytes, then drops it.
async fn interrupt(client: &Client, local: &Path, options: &PackageOptions, fraction: f64) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let options = PackageOptions {
        progress: Some(PackageProgressFn::new(move |p| {
            if p.bytes_done as f64 >= p.bytes_total as f64 * fraction
                && let Some(tx) = tx.lock().expect("lock").take()
            {
                let _ = tx.send(());
            }
        })),
        ..options.clone()
    };
    tokio::select! {
        result = client.upload_package(local, "App", &options) => panic!("finished before the cut: {result:?}"),
        _ = rx => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_sending_only_what_is_missing() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    let sample = SamplePackage {
        small_files: 40,
        small_file_bytes: 64 * 1024,
        large_file_bytes: 6 * 1024 * 1024,
        ..SamplePackage::default()
    };
    let summary = write_sample_package(&local, &sample).expect("sample");
    let options = PackageOptions {
        parallel: 2,
        ..options(&work.path().join("resume"))
    };

    interrupt(&client, &local, &options, 0.5).await;
    let first = settled(&emulator).await;
    assert!(
        first >= summary.bytes / 2 && first < summary.bytes,
        "{first}"
    );
    assert!(
        !emulator.data_dir().join("store/App/_.dir").exists(),
        "an interrupted package is not marked complete"
    );
    let early = client
        .provision_application_type(&image_store_package("App"), &ProvisionOptions::default())
        .await
        .expect_err("an incomplete package cannot be provisioned");
    assert!(e_contains(&early, "not found in the store"), "{early}");

    let report = client
        .upload_package(&local, "App", &options)
        .await
        .expect("resume");
    let second = emulator.received_bytes() - first;
    assert_eq!(
        second, report.bytes_sent,
        "the emulator saw what the report says"
    );
    // What the first run had in flight when it was cut (a small file, or the chunks in
    // flight of a session, per task) may be sent twice; nothing else.
    let slack = options.parallel as u64
        * (options.chunks_in_flight as u64 * options.chunk_size)
            .max(sample.small_file_bytes as u64);
    assert!(
        first + second <= summary.bytes + slack,
        "sent {first} + {second} for {} bytes",
        summary.bytes
    );
    assert!(
        report.bytes_resumed > 0 && report.files_skipped > 0,
        "{report:?}"
    );
    assert_eq!(stored(&emulator, "App"), tree(&local));
    client
        .provision_application_type(&image_store_package("App"), &ProvisionOptions::default())
        .await
        .expect("provision after resume");
}

/// The emulator's received bytes once requests cut by the interruption have drained (their
/// bytes already in socket buffers still arrive after the client let go).
async fn settled(emulator: &Emulator) -> u64 {
    let mut last = emulator.received_bytes();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = emulator.received_bytes();
        if now == last {
            return now;
        }
        last = now;
    }
}

fn e_contains(e: &Error, text: &str) -> bool {
    e.to_string().contains(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_changed_between_runs_is_sent_again_whole() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    let sample = SamplePackage {
        small_files: 0,
        large_file_bytes: 8 * 1024 * 1024,
        ..SamplePackage::default()
    };
    write_sample_package(&local, &sample).expect("sample");
    let options = PackageOptions {
        parallel: 1,
        ..options(&work.path().join("resume"))
    };
    interrupt(&client, &local, &options, 0.4).await;

    // Same size, other bytes: its session must not be resumed.
    let big = local.join("FrontEndPkg/Code/big library.dll");
    let mut bytes = fs::read(&big).expect("read");
    bytes.iter_mut().for_each(|b| *b = b.wrapping_add(1));
    fs::write(&big, &bytes).expect("rewrite");

    client
        .upload_package(&local, "App", &options)
        .await
        .expect("second run");
    let in_store = fs::read(
        emulator
            .data_dir()
            .join("store/App/FrontEndPkg/Code/big library.dll"),
    )
    .expect("stored");
    assert!(
        in_store == bytes,
        "the store holds the file as it is now, not a mix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_503s_and_dropped_connections_it_still_finishes() {
    let plan = FaultPlan::new(42).every_operation(Faults {
        busy: 0.1,
        timeout: 0.05,
        drop: 0.1,
        ..Faults::default()
    });
    let emulator = Emulator::builder()
        .faults(plan)
        .store_page_entries(3)
        .start()
        .await
        .expect("emulator");
    let client = Client::builder(emulator.endpoint())
        .retry_policy(
            RetryPolicy::default()
                .max_retries(8)
                .initial_backoff(Duration::from_millis(5))
                .max_backoff(Duration::from_millis(50)),
        )
        .build()
        .expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    write_sample_package(&local, &SamplePackage::default()).expect("sample");
    let options = PackageOptions {
        max_retries: 10,
        ..options(&work.path().join("resume"))
    };
    let report = client
        .upload_package(&local, "App", &options)
        .await
        .expect("upload through faults");
    assert_eq!(stored(&emulator, "App"), tree(&local));
    assert!(report.files_sent > 0);
    client
        .provision_application_type(&image_store_package("App"), &ProvisionOptions::default())
        .await
        .expect("provision through faults");
    assert_eq!(emulator.application_types().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_uploads_zips_of_a_copy_and_leaves_the_folder_alone() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    write_sample_package(&local, &SamplePackage::default()).expect("sample");
    let before = tree(&local);
    let options = PackageOptions {
        compress: true,
        ..options(&work.path().join("resume"))
    };
    let report = client
        .upload_package(&local, "Zipped", &options)
        .await
        .expect("upload");
    assert!(report.compressed);
    assert_eq!(tree(&local), before, "the user's folder is unchanged");
    let store = emulator.data_dir().join("store/Zipped");
    for service in ["FrontEndPkg", "Back End Pkg", "Wörker·Pkg"] {
        for package in ["Code", "Config", "Data"] {
            let zip = store.join(service).join(format!("{package}.zip"));
            let bytes = fs::read(&zip).unwrap_or_else(|e| panic!("{zip:?}: {e}"));
            assert!(bytes.starts_with(b"PK\x03\x04"), "{zip:?} is a zip");
            assert!(!store.join(service).join(package).exists());
        }
        assert!(store.join(service).join("ServiceManifest.xml").is_file());
    }
    client
        .provision_application_type(&image_store_package("Zipped"), &ProvisionOptions::default())
        .await
        .expect("a compressed package provisions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_and_tell_empty_from_missing() {
    let emulator = Emulator::builder()
        .store_page_entries(2)
        .start()
        .await
        .expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    for i in 0..5 {
        client
            .upload_store_bytes(&format!("dir\\f{i}.txt"), format!("file {i}"))
            .await
            .expect("upload");
    }
    // Without its marker the folder does not exist yet.
    assert_eq!(
        client.store_content(Some("dir")).await.expect("listing"),
        None
    );
    client
        .upload_store_bytes("dir\\_.dir", Vec::new())
        .await
        .expect("marker");
    let content = client
        .store_content(Some("dir"))
        .await
        .expect("listing")
        .expect("exists");
    let names: Vec<&str> = content.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "dir\\f0.txt",
            "dir\\f1.txt",
            "dir\\f2.txt",
            "dir\\f3.txt",
            "dir\\f4.txt"
        ]
    );
    assert!(content.files.iter().all(|f| f.size == 6));
    client
        .upload_store_bytes("empty\\_.dir", Vec::new())
        .await
        .expect("marker");
    let empty = client.store_content(Some("empty")).await.expect("204");
    assert_eq!(empty, Some(Default::default()));
    let missing = client
        .store_content_page(Some("nowhere"), None)
        .await
        .expect_err("404");
    assert!(missing.is_not_found(), "{missing}");

    client
        .copy_store_content("dir", "copy", &Default::default())
        .await
        .expect("copy");
    assert_eq!(
        client.store_files(Some("copy")).await.expect("files").len(),
        5
    );
    client.delete_store_content("dir").await.expect("delete");
    assert_eq!(
        client.store_content(Some("dir")).await.expect("listing"),
        None
    );
    let gone = client.delete_store_content("dir").await.expect_err("404");
    assert!(gone.is_not_found(), "{gone}");
}

/// The report's retries count every request sent again, those the client's retry policy
/// recovered from included (a 503 storm used to report "0 retries").
#[tokio::test]
async fn retries_count_what_the_retry_policy_recovered_from() {
    let dir = tempfile::tempdir().expect("dir");
    let pkg = dir.path().join("Pkg");
    write_sample_package(
        &pkg,
        &SamplePackage {
            small_files: 20,
            large_file_bytes: 0,
            ..SamplePackage::default()
        },
    )
    .expect("sample");
    let mut counted = Vec::new();
    for plan in ["seed=9", "seed=9;*:503=0.3"] {
        let emulator = Emulator::builder()
            .faults(plan.parse().expect("plan"))
            .start()
            .await
            .expect("emulator");
        let client = Client::builder(emulator.endpoint())
            .retry_policy(
                RetryPolicy::default()
                    .max_retries(10)
                    .initial_backoff(Duration::from_millis(1))
                    .max_backoff(Duration::from_millis(2)),
            )
            .build()
            .expect("client");
        let report = client
            .upload_package(&pkg, "Pkg", &options(&dir.path().join("resume")))
            .await
            .expect("upload");
        counted.push(report.retries);
    }
    assert_eq!(counted[0], 0, "no fault, no retry");
    assert!(
        counted[1] > 5,
        "30% of the requests answered 503: {counted:?}"
    );
}

/// `--compress` keeps resumability: the zips are the same bytes from run to run and are
/// built where the next run finds them, so a cut upload resumes the large zip's session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_upload_resumes_after_an_interruption() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    let sample = SamplePackage {
        small_files: 4,
        // Noise does not compress: the Code zip stays large enough for a session upload.
        large_file_bytes: 6 * 1024 * 1024,
        ..SamplePackage::default()
    };
    write_sample_package(&local, &sample).expect("sample");
    let options = PackageOptions {
        compress: true,
        parallel: 1,
        ..options(&work.path().join("resume"))
    };
    interrupt(&client, &local, &options, 0.6).await;
    let first = settled(&emulator).await;
    let zips: Vec<PathBuf> = std::fs::read_dir(work.path().join("resume/compressed"))
        .expect("zips kept in the resume directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    let report = client
        .upload_package(&local, "App", &options)
        .await
        .expect("resume");
    let second = emulator.received_bytes() - first;
    assert!(report.compressed && report.bytes_resumed > 0, "{report:?}");
    assert!(
        first + second
            < report.bytes_total + (options.chunks_in_flight as u64 + 1) * options.chunk_size,
        "only what was missing is sent again: {first} + {second} for {}",
        report.bytes_total
    );
    // The same zips, byte for byte, on a third run: nothing is sent.
    let before = emulator.received_bytes();
    let again = client
        .upload_package(&local, "App", &options)
        .await
        .expect("again");
    assert_eq!(
        (again.files_sent, emulator.received_bytes()),
        (0, before),
        "{again:?}"
    );
}
