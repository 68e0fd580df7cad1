//! Requests a package upload sends, counted on the emulator: a fresh upload sends one
//! request per file, one per marker and one listing per folder; a re-run of a complete
//! upload sends listings only; a resumed one looks up only what the first run had sent.

use std::collections::BTreeMap;

use servicefabric_deploy::{ClientExt, PackageOptions};
use servicefabric_emulator::{Emulator, SamplePackage, write_sample_package};
use servicefabric_rest::Client;

/// Requests since `before`, per operation, zero counts left out.
fn since(emulator: &Emulator, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    emulator
        .requests()
        .into_iter()
        .map(|(op, n)| {
            let earlier = before.get(&op).copied().unwrap_or(0);
            (op, n - earlier)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn count(requests: &BTreeMap<String, u64>, op: &str) -> u64 {
    requests.get(op).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_ask_per_folder_not_per_file() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    let sample = SamplePackage {
        services: 2,
        small_files: 60,
        small_file_bytes: 4 * 1024,
        large_file_bytes: 0,
        ..SamplePackage::default()
    };
    let summary = write_sample_package(&local, &sample).expect("sample");
    let options = PackageOptions {
        resume_dir: Some(work.path().join("resume")),
        ..PackageOptions::default()
    };

    let report = client
        .upload_package(&local, "App", &options)
        .await
        .expect("upload");
    let fresh = emulator.requests();
    let (files, folders) = (report.files, report.folders);
    assert_eq!(files, summary.files);
    assert_eq!(count(&fresh, "UploadFile"), files + folders, "{fresh:?}");
    // The package's folder once before (404), every folder but the root once after its
    // marker, the root's own files one by one (only ApplicationManifest.xml here).
    assert_eq!(
        count(&fresh, "GetImageStoreContent"),
        1 + (folders - 1) + 1,
        "{fresh:?}"
    );
    let total: u64 = fresh.values().sum();
    assert_eq!(total, files + 2 * folders + 1, "{fresh:?}");

    // A re-run of a complete upload only lists, one page per folder.
    let rerun = client
        .upload_package(&local, "App", &options)
        .await
        .expect("rerun");
    assert_eq!(rerun.files_sent, 0);
    let again = since(&emulator, &fresh);
    assert_eq!(
        again,
        BTreeMap::from([("GetImageStoreContent".to_string(), folders)]),
        "a re-run of a complete upload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upload_looks_up_only_what_was_acknowledged() {
    let emulator = Emulator::start().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let local = work.path().join("pkg");
    let sample = SamplePackage {
        small_files: 30,
        small_file_bytes: 4 * 1024,
        large_file_bytes: 0,
        ..SamplePackage::default()
    };
    write_sample_package(&local, &sample).expect("sample");
    let resume = work.path().join("resume");
    let options = PackageOptions {
        resume_dir: Some(resume.clone()),
        ..PackageOptions::default()
    };
    let first = client
        .upload_package(&local, "App", &options)
        .await
        .expect("upload");
    // As if the first run had been killed before its markers: take them out, and write
    // the log it would have left, naming every file but one.
    let store = emulator.data_dir().join("store").join("App");
    let mut markers = 0;
    for entry in walk(&store) {
        if entry.ends_with("_.dir") {
            std::fs::remove_file(&entry).expect("remove marker");
            markers += 1;
        }
    }
    assert_eq!(markers, first.folders);
    let mut names: Vec<String> = walk(&local)
        .iter()
        .map(|p| {
            let relative = p.strip_prefix(&local).expect("inside");
            let size = std::fs::metadata(p).expect("size").len();
            format!(
                "{size}\t{}\n",
                relative.to_string_lossy().replace('/', "\\")
            )
        })
        .collect();
    names.sort();
    let left_out = names.pop().expect("a file");
    let logs: Vec<_> = std::fs::read_dir(&resume)
        .expect("resume dir")
        .flatten()
        .collect();
    assert!(
        logs.iter().all(|e| !e
            .file_name()
            .to_string_lossy()
            .starts_with("sfrest-package-")),
        "a completed upload leaves no package log behind"
    );
    let digest_name = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(b"App");
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("sfrest-package-{hex}.log")
    };
    std::fs::write(resume.join(digest_name), names.concat()).expect("log");

    let before = emulator.requests();
    let report = client
        .upload_package(&local, "App", &options)
        .await
        .expect("resume");
    let resumed = since(&emulator, &before);
    assert_eq!(
        report.files_sent, 1,
        "only the file the log left out: {left_out}"
    );
    assert_eq!(report.files_skipped, first.files - 1);
    assert_eq!(
        count(&resumed, "UploadFile"),
        1 + first.folders,
        "{resumed:?}"
    );
    // One 404 for the package, one look-up per logged file, one listing per folder but the
    // root after its marker, the root's own file.
    assert_eq!(
        count(&resumed, "GetImageStoreContent"),
        1 + (first.files - 1) + (first.folders - 1) + 1,
        "{resumed:?}"
    );
    assert!(store.join("_.dir").is_file());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
