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
use servicefabric_emulator::Emulator;
use servicefabric_rest::{ChunkRange, Client, Error, UploadOptions};
use uuid::Uuid;

struct Faults {
    /// Every n-th UploadChunk is forwarded but answered 503 (0: never).
    chunk_every: usize,
    /// How many commits are forwarded but answered 504.
    lost_commits: usize,
    chunks: AtomicUsize,
    commits: AtomicUsize,
    status_400: AtomicUsize,
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
    assert!(report.retries >= 3, "{report:?}");
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
        report.bytes_sent,
        500_000 - 3 * 50_000,
        "acknowledged: 3 answers were lost"
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
