//! Resumable uploads against the emulator, through a proxy that loses answers: the chunk or
//! commit happened, but the client sees 503/504 and must find out before sending again.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use servicefabric_deploy::{ClientExt, UploadOptions};
use servicefabric_emulator::Emulator;
use servicefabric_rest::{ChunkRange, Client, Error, reqwest};

#[path = "../../tests/support/mod.rs"]
mod support;
use servicefabric_rest::Uuid;

struct Faults {
    /// Every n-th UploadChunk is forwarded but answered 503 (0: never).
    chunk_every: usize,
    /// Every n-th UploadChunk is answered 503 without being forwarded (0: never).
    refuse_every: usize,
    /// How many commits are forwarded but answered 504.
    lost_commits: usize,
    chunks: AtomicUsize,
    commits: AtomicUsize,
    status_400: AtomicUsize,
    refused: AtomicUsize,
}

/// A proxy in front of `upstream` that applies `faults`; returns its URL.
async fn lossy_proxy(upstream: String, faults: Arc<Faults>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (http, upstream, faults) = (http.clone(), upstream.clone(), faults.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (http, upstream, faults) = (http.clone(), upstream.clone(), faults.clone());
                    async move {
                        let target = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        let method = req.method().clone();
                        if target.contains("UploadChunk") && faults.refuse_every > 0 {
                            let n = faults.refused.fetch_add(1, Ordering::SeqCst) + 1;
                            if n % faults.refuse_every == 0 {
                                let mut busy = Response::new(Full::new(Bytes::from_static(
                                    br#"{"Error":{"Code":"E_ABORT","Message":"Null"}}"#,
                                )));
                                *busy.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                                return Ok(busy);
                            }
                        }
                        let range = req.headers().get("content-range").cloned();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let mut forward = http
                            .request(method, format!("{upstream}{target}"))
                            .body(body);
                        if let Some(range) = range {
                            forward = forward.header("content-range", range);
                        }
                        let answer = forward.send().await.expect("upstream");
                        let status = answer.status().as_u16();
                        if status == 400 {
                            faults.status_400.fetch_add(1, Ordering::SeqCst);
                        }
                        let bytes = answer.bytes().await.unwrap_or_default();
                        let lost = if target.contains("UploadChunk") {
                            let n = faults.chunks.fetch_add(1, Ordering::SeqCst) + 1;
                            faults.chunk_every > 0 && n % faults.chunk_every == 0
                        } else if target.contains("CommitUploadSession") {
                            faults.commits.fetch_add(1, Ordering::SeqCst) < faults.lost_commits
                        } else {
                            false
                        };
                        let (status, bytes) = if lost && status == 200 {
                            (
                                if target.contains("Commit") { 504 } else { 503 },
                                Bytes::from_static(
                                    br#"{"Error":{"Code":"E_ABORT","Message":"Null"}}"#,
                                ),
                            )
                        } else {
                            (status, bytes)
                        };
                        let mut response = Response::new(Full::new(bytes));
                        *response.status_mut() =
                            hyper::StatusCode::from_u16(status).expect("status");
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

fn file_of(size: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &data).expect("write");
    (file, data)
}

fn options(chunk_size: u64) -> UploadOptions {
    UploadOptions {
        chunk_size,
        retry_delay: std::time::Duration::from_millis(1),
        ..UploadOptions::default()
    }
}

#[tokio::test]
async fn uploads_in_chunks_and_commits() {
    let e = Emulator::start().await.expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let (file, data) = file_of(1_000_000);
    let report = client
        .upload_file(file.path(), "apps/big.bin", &options(64 * 1024))
        .await
        .expect("upload");
    assert_eq!(
        (report.bytes_sent, report.chunks_sent, report.retries),
        (1_000_000, 16, 0)
    );
    assert_eq!(
        std::fs::read(e.data_dir().join("store/apps/big.bin")).expect("stored"),
        data
    );
}

#[tokio::test]
async fn resumes_an_interrupted_session_sending_only_what_is_missing() {
    let e = Emulator::start().await.expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let (file, data) = file_of(300_000);
    let id = Uuid::new_v4();
    // An earlier run got the middle third across, then died.
    client
        .upload_chunk(
            "r.bin",
            id,
            ChunkRange {
                start: 100_000,
                end: 199_999,
            },
            300_000,
            data[100_000..200_000].to_vec(),
        )
        .await
        .expect("chunk");
    let report = client
        .upload_file(
            file.path(),
            "r.bin",
            &UploadOptions {
                session_id: Some(id),
                ..options(50_000)
            },
        )
        .await
        .expect("resume");
    assert_eq!(report.bytes_sent, 200_000, "only the missing two thirds");
    assert_eq!(
        std::fs::read(e.data_dir().join("store/r.bin")).expect("stored"),
        data
    );
}

#[tokio::test]
async fn lost_answers_are_recovered_without_resending_a_chunk() {
    let e = Emulator::start().await.expect("emulator");
    let faults = Arc::new(Faults {
        chunk_every: 3,
        refuse_every: 0,
        refused: AtomicUsize::new(0),
        lost_commits: 1,
        chunks: AtomicUsize::new(0),
        commits: AtomicUsize::new(0),
        status_400: AtomicUsize::new(0),
    });
    let proxy = lossy_proxy(e.endpoint().to_string(), faults.clone()).await;
    let client = Client::new(&proxy).expect("client");
    let (file, data) = file_of(500_000);
    let report = client
        .upload_file(file.path(), "flaky.bin", &options(50_000))
        .await
        .expect("upload despite lost answers");
    assert_eq!(
        faults.status_400.load(Ordering::SeqCst),
        0,
        "no chunk was sent twice"
    );
    assert_eq!(
        faults.chunks.load(Ordering::SeqCst),
        10,
        "each of the 10 chunks went over the wire exactly once"
    );
    assert_eq!(
        report.bytes_sent, 500_000,
        "the 3 chunks whose answers were lost count once the session shows them"
    );
    assert_eq!(
        faults.commits.load(Ordering::SeqCst),
        2,
        "the commit whose answer was lost was sent once more, and only once"
    );
    assert_eq!(
        std::fs::read(e.data_dir().join("store/flaky.bin")).expect("stored"),
        data
    );
}

#[tokio::test]
async fn refuses_what_cannot_work() {
    let e = Emulator::start().await.expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let empty = tempfile::NamedTempFile::new().expect("temp");
    let err = client
        .upload_file(empty.path(), "e.bin", &options(10))
        .await
        .expect_err("0 bytes");
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                what: "local file",
                ..
            }
        ),
        "{err}"
    );
    let err = client
        .upload_file(std::path::Path::new("/no/such/file"), "x", &options(10))
        .await
        .expect_err("missing");
    assert!(err.to_string().contains("/no/such/file"), "{err}");
    let (file, _) = file_of(100);
    let id = Uuid::new_v4();
    client
        .upload_chunk(
            "s.bin",
            id,
            ChunkRange { start: 0, end: 9 },
            200,
            vec![0u8; 10],
        )
        .await
        .expect("chunk");
    let err = client
        .upload_file(
            file.path(),
            "s.bin",
            &UploadOptions {
                session_id: Some(id),
                ..options(10)
            },
        )
        .await
        .expect_err("size differs");
    assert!(err.to_string().contains("200 bytes"), "{err}");
}

#[tokio::test]
async fn max_retries_counts_failures_in_a_row() {
    let e = Emulator::start().await.expect("emulator");
    let faults = Arc::new(Faults {
        chunk_every: 0,
        refuse_every: 2,
        refused: AtomicUsize::new(0),
        lost_commits: 0,
        chunks: AtomicUsize::new(0),
        commits: AtomicUsize::new(0),
        status_400: AtomicUsize::new(0),
    });
    let proxy = lossy_proxy(e.endpoint().to_string(), faults.clone()).await;
    // No retries inside calls: every lost answer reaches upload_file.
    let client = Client::builder(&proxy)
        .retry_policy(servicefabric_rest::RetryPolicy::none())
        .build()
        .expect("client");
    let (file, data) = file_of(100_000);
    let report = client
        .upload_file(
            file.path(),
            "alternate.bin",
            &UploadOptions {
                max_retries: 1,
                // One chunk at a time, so that "every second request" is "every second chunk".
                chunks_in_flight: 1,
                ..options(10_000)
            },
        )
        .await
        .expect("9 failures in all (every chunk after the first fails once), never 2 in a row");
    assert_eq!(report.retries, 9, "{report:?}");
    assert_eq!(faults.status_400.load(Ordering::SeqCst), 0);
    assert_eq!(
        std::fs::read(e.data_dir().join("store/alternate.bin")).expect("stored"),
        data
    );
}

#[tokio::test]
async fn a_session_that_stays_incomplete_is_reported_never_committed() {
    // Acknowledges every chunk, yet the session never shows them.
    let stub = support::serve(|target| {
        if target.contains("GetUploadSession") {
            support::reply(
                200,
                "OK",
                r#"{"UploadSessions":[{"StoreRelativePath":"lost.bin","SessionId":"4a2340e8-d8d8-497c-95fe-cdaa1052f33b","FileSize":"1000","ModifiedDate":"2017-09-28T17:06:37.26Z","ExpectedRanges":[{"StartPosition":"0","EndPosition":"999"}]}]}"#,
            )
        } else {
            support::reply(200, "OK", "")
        }
    })
    .await;
    let client = Client::new(&stub.url).expect("client");
    let (file, _) = file_of(1000);
    let err = client
        .upload_file(
            file.path(),
            "lost.bin",
            &UploadOptions {
                session_id: Some("4a2340e8-d8d8-497c-95fe-cdaa1052f33b".parse().expect("id")),
                ..options(1000)
            },
        )
        .await
        .expect_err("never complete");
    assert!(
        matches!(&err, Error::UploadIncomplete { missing, .. } if missing.len() == 1),
        "{err}"
    );
    let targets = stub.targets();
    assert!(
        !targets.iter().any(|t| t.contains("CommitUploadSession")),
        "{targets:?}"
    );
    let chunks = targets.iter().filter(|t| t.contains("UploadChunk")).count();
    assert_eq!(chunks, 2, "sent, re-sent once, then reported");
}

#[tokio::test]
async fn a_resume_record_resumes_and_starts_over_when_the_file_changed() {
    let e = Emulator::start().await.expect("emulator");
    let records = tempfile::tempdir().expect("records");
    let (file, data) = file_of(200_000);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let progress = seen.clone();
    let with_record = UploadOptions {
        resume_record: Some(records.path().to_path_buf()),
        progress: Some(servicefabric_deploy::ProgressFn::new(move |p| {
            progress
                .lock()
                .expect("progress")
                .push((p.acknowledged, p.total));
        })),
        ..options(50_000)
    };

    // A first run whose gateway refuses its first chunk: the record stays behind.
    let refusing = support::serve(|target| {
        if target.contains("GetUploadSession") {
            support::reply(204, "No Content", "")
        } else {
            support::reply(
                400,
                "E_INVALIDARG",
                r#"{"Error":{"Code":"E_INVALIDARG","Message":"Invalid argument"}}"#,
            )
        }
    })
    .await;
    Client::new(&refusing.url)
        .expect("client")
        .upload_file(file.path(), "rec.bin", &with_record)
        .await
        .expect_err("refused");
    let records_left: Vec<_> = std::fs::read_dir(records.path())
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(records_left.len(), 1);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(records_left[0].path()).expect("read"))
            .expect("json");
    let first_id: Uuid = record["session_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");

    // The session got its first chunk on the real gateway before the run died.
    let client = Client::new(e.endpoint()).expect("client");
    client
        .upload_chunk(
            "rec.bin",
            first_id,
            ChunkRange {
                start: 0,
                end: 49_999,
            },
            200_000,
            data[..50_000].to_vec(),
        )
        .await
        .expect("first chunk");

    // Same file: the record's session is resumed, without being told its id.
    seen.lock().expect("progress").clear();
    let report = client
        .upload_file(file.path(), "rec.bin", &with_record)
        .await
        .expect("resume");
    assert_eq!(report.session_id, first_id);
    assert!(!report.started_over);
    assert_eq!((report.resumed_bytes, report.bytes_sent), (50_000, 150_000));
    let progress = seen.lock().expect("progress").clone();
    assert!(
        progress.windows(2).all(|w| w[0].0 <= w[1].0),
        "{progress:?}"
    );
    assert_eq!(progress.first(), Some(&(50_000, 200_000)));
    assert_eq!(progress.last(), Some(&(200_000, 200_000)));
    assert_eq!(
        std::fs::read_dir(records.path()).expect("dir").count(),
        0,
        "record removed once committed"
    );

    // Again, but the file changes between runs: same size, same modification time.
    Client::new(&refusing.url)
        .expect("client")
        .upload_file(file.path(), "rec2.bin", &with_record)
        .await
        .expect_err("refused");
    let record_path = std::fs::read_dir(records.path())
        .expect("dir")
        .flatten()
        .next()
        .expect("record")
        .path();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).expect("read")).expect("json");
    let old_id: Uuid = record["session_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    client
        .upload_chunk(
            "rec2.bin",
            old_id,
            ChunkRange {
                start: 0,
                end: 49_999,
            },
            200_000,
            data[..50_000].to_vec(),
        )
        .await
        .expect("chunk of the old version");
    let mtime = std::fs::metadata(file.path())
        .expect("meta")
        .modified()
        .expect("mtime");
    let changed: Vec<u8> = data.iter().map(|b| b.wrapping_add(1)).collect();
    std::fs::write(file.path(), &changed).expect("edit");
    std::fs::File::options()
        .write(true)
        .open(file.path())
        .and_then(|f| f.set_modified(mtime))
        .expect("keep mtime");
    let report = client
        .upload_file(file.path(), "rec2.bin", &with_record)
        .await
        .expect("start over");
    assert!(report.started_over, "{report:?}");
    assert_ne!(report.session_id, old_id);
    assert_eq!(
        (report.resumed_bytes, report.bytes_sent),
        (0, 200_000),
        "all of the new version"
    );
    assert!(
        client
            .upload_sessions_by_id(old_id)
            .await
            .expect("read")
            .is_empty(),
        "the old session was dropped"
    );
    assert_eq!(
        std::fs::read(e.data_dir().join("store/rec2.bin")).expect("stored"),
        changed
    );
}

/// A gateway that keeps every session forever, complete: GetUploadSession shows `lost.bin`
/// with nothing missing; the store holds `stored` bytes of it (`None`: not there).
async fn keeps_sessions_forever(stored: Option<u64>) -> support::Stub {
    support::serve(move |target| {
        if target.contains("GetUploadSession") {
            support::reply(
                200,
                "OK",
                r#"{"UploadSessions":[{"StoreRelativePath":"lost.bin","SessionId":"4a2340e8-d8d8-497c-95fe-cdaa1052f33b","FileSize":"1000","ModifiedDate":"2017-09-28T17:06:37.26Z","ExpectedRanges":[]}]}"#,
            )
        } else if target.starts_with("/ImageStore/lost.bin?") {
            match stored {
                Some(size) => support::reply(
                    200,
                    "OK",
                    &format!(
                        r#"{{"StoreFiles":[{{"FileSize":"{size}","FileVersion":{{"VersionNumber":"1","EpochDataLossNumber":"1","EpochConfigurationNumber":"1"}},"ModifiedDate":"2017-09-28T17:06:38.00Z","StoreRelativePath":"lost.bin"}}],"StoreFolders":[],"ContinuationToken":""}}"#
                    ),
                ),
                None => support::reply(404, "Not Found", ""),
            }
        } else {
            support::reply(200, "OK", "")
        }
    })
    .await
}

#[tokio::test]
async fn a_listed_complete_session_whose_file_is_stored_is_done_without_a_commit() {
    let (file, _) = file_of(1000);
    let same_session = UploadOptions {
        session_id: Some("4a2340e8-d8d8-497c-95fe-cdaa1052f33b".parse().expect("id")),
        ..options(1000)
    };
    // The store holds the file with the session's size: an earlier run committed it.
    let stub = keeps_sessions_forever(Some(1000)).await;
    let report = Client::new(&stub.url)
        .expect("client")
        .upload_file(file.path(), "lost.bin", &same_session)
        .await
        .expect("already done");
    assert_eq!(
        (report.bytes_sent, report.resumed_bytes, report.chunks_sent),
        (0, 0, 0),
        "{report:?}"
    );
    let targets = stub.targets();
    assert!(
        !targets
            .iter()
            .any(|t| t.contains("CommitUploadSession") || t.contains("UploadChunk")),
        "{targets:?}"
    );

    // Not in the store (or another size): the session is committed, once.
    for stored in [None, Some(999)] {
        let stub = keeps_sessions_forever(stored).await;
        Client::new(&stub.url)
            .expect("client")
            .upload_file(file.path(), "lost.bin", &same_session)
            .await
            .expect("committed");
        let commits = stub
            .targets()
            .iter()
            .filter(|t| t.contains("CommitUploadSession"))
            .count();
        assert_eq!(commits, 1, "{stored:?}");
    }
}

#[tokio::test]
async fn a_run_again_after_a_commit_sends_nothing_against_the_emulator() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let (file, data) = file_of(120_000);
    let first = Emulator::builder()
        .data_dir(data_dir.path())
        .start()
        .await
        .expect("emulator");
    let report = Client::new(first.endpoint())
        .expect("client")
        .upload_file(file.path(), "again\\f.bin", &options(50_000))
        .await
        .expect("first run");
    first.shutdown().await;

    // A second run names the same session (a resume record left by a crash after the
    // commit, or --session-id). The emulator keeps the committed session listed; every
    // commit it would receive now fails, so a second commit would fail the run.
    let plan: servicefabric_emulator::FaultPlan = "seed=1;CommitImageStoreUploadSession:503=1"
        .parse()
        .expect("plan");
    let second = Emulator::builder()
        .data_dir(data_dir.path())
        .faults(plan)
        .start()
        .await
        .expect("emulator");
    let before = second.received_bytes();
    let again = Client::new(second.endpoint())
        .expect("client")
        .upload_file(
            file.path(),
            "again\\f.bin",
            &UploadOptions {
                session_id: Some(report.session_id),
                ..options(50_000)
            },
        )
        .await
        .expect("done, with no second commit");
    assert_eq!((again.bytes_sent, again.resumed_bytes), (0, 0), "{again:?}");
    assert_eq!(second.received_bytes(), before);
    assert_eq!(
        std::fs::read(second.data_dir().join("store/again/f.bin")).expect("stored"),
        data
    );

    // A complete session that was never committed is committed by the next run.
    let client = Client::new(second.endpoint()).expect("client");
    let id = Uuid::new_v4();
    client
        .upload_chunk(
            "again\\g.bin",
            id,
            ChunkRange {
                start: 0,
                end: 119_999,
            },
            120_000,
            data.clone(),
        )
        .await
        .expect("every byte, no commit");
    second.shutdown().await;
    let third = Emulator::builder()
        .data_dir(data_dir.path())
        .start()
        .await
        .expect("emulator");
    Client::new(third.endpoint())
        .expect("client")
        .upload_file(
            file.path(),
            "again\\g.bin",
            &UploadOptions {
                session_id: Some(id),
                ..options(50_000)
            },
        )
        .await
        .expect("committed");
    assert_eq!(
        std::fs::read(third.data_dir().join("store/again/g.bin")).expect("stored"),
        data
    );
}
