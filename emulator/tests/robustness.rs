//! The emulator against bad clients and crashes: each test holds one defect the resilience
//! probe found (issue 7), and failed before its fix.

use std::{path::Path, time::Duration};

use servicefabric_emulator::Emulator;
use servicefabric_rest::{ChunkRange, Client, Error, RetryPolicy};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use uuid::Uuid;

/// An emulator keeping its state in `dir` (a restart with the same `dir` reloads it).
async fn start_in(dir: &Path) -> Emulator {
    Emulator::builder()
        .data_dir(dir)
        .start()
        .await
        .expect("emulator")
}

fn client(emulator: &Emulator) -> Client {
    Client::builder(emulator.endpoint())
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client")
}

/// Opens a chunk request and sends only `sent` of its bytes.
async fn partial_chunk(
    emulator: &Emulator,
    path: &str,
    id: Uuid,
    range: (u64, u64, u64),
    sent: usize,
) -> TcpStream {
    let (start, end, size) = range;
    let len = end - start + 1;
    let head = format!(
        "PUT /ImageStore/{path}/$/UploadChunk?api-version=6.0&session-id={id} HTTP/1.1\r\nHost: x\r\nContent-Range: bytes {start}-{end}/{size}\r\nContent-Length: {len}\r\n\r\n"
    );
    let mut stream = TcpStream::connect(emulator.local_addr())
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&vec![0xEEu8; sent]).await.expect("part");
    stream.flush().await.expect("flush");
    stream
}

async fn answer(stream: &mut TcpStream) -> String {
    let mut out = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut out))
        .await
        .expect("an answer, not a hang")
        .unwrap_or(0);
    String::from_utf8_lossy(&out[..n]).to_string()
}

/// Waits until `check` holds (the server notices a closed connection asynchronously).
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn data_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("sessions"))
        .expect("sessions dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".data"))
        .collect()
}

#[tokio::test]
async fn a_chunk_still_streaming_into_a_deleted_session_never_reaches_its_successor() {
    let e = Emulator::start().await.expect("emulator");
    let c = client(&e);
    let id = Uuid::new_v4();
    let mut old = partial_chunk(&e, "same.bin", id, (0, 99, 200), 50).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.delete_upload_session(id).await.expect("delete");
    // A new session with the same id, written in full.
    let new: Vec<u8> = (0..200u32).map(|i| (i % 251) as u8 + 1).collect();
    c.upload_chunk(
        "same.bin",
        id,
        ChunkRange { start: 0, end: 99 },
        200,
        new[..100].to_vec(),
    )
    .await
    .expect("first chunk of the new session");
    // The old chunk now finishes: it belongs to the deleted session and is refused.
    old.write_all(&[0xEEu8; 50]).await.expect("rest");
    let refused = answer(&mut old).await;
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    c.upload_chunk(
        "same.bin",
        id,
        ChunkRange {
            start: 100,
            end: 199,
        },
        200,
        new[100..].to_vec(),
    )
    .await
    .expect("second chunk");
    c.commit_upload_session(id).await.expect("commit");
    assert_eq!(
        std::fs::read(e.data_dir().join("store/same.bin")).expect("stored"),
        new,
        "no byte of the deleted session's chunk"
    );
    assert!(data_files(e.data_dir()).is_empty(), "no orphan data file");
}

#[tokio::test]
async fn an_aborted_first_chunk_leaves_nothing_a_later_upload_could_commit() {
    let e = Emulator::start().await.expect("emulator");
    let c = client(&e);
    let id = Uuid::new_v4();
    let aborted = partial_chunk(&e, "tail.bin", id, (100, 199, 200), 60).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(aborted);
    let dir = e.data_dir().to_path_buf();
    assert!(
        eventually(|| data_files(&dir).is_empty()).await,
        "the aborted chunk's data file is removed: {:?}",
        data_files(&dir)
    );
    let data = b"a short file".to_vec();
    let last = data.len() as u64 - 1;
    c.upload_chunk(
        "tail.bin",
        id,
        ChunkRange {
            start: 0,
            end: last,
        },
        data.len() as u64,
        data.clone(),
    )
    .await
    .expect("a new upload with the same id");
    c.commit_upload_session(id).await.expect("commit");
    assert_eq!(
        std::fs::read(dir.join("store/tail.bin")).expect("stored"),
        data,
        "no tail from the aborted chunk"
    );
}

#[tokio::test]
async fn orphan_data_files_are_removed_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("sessions")).expect("mkdir");
    std::fs::write(dir.path().join("sessions/stray.data"), b"junk").expect("orphan");
    let e = start_in(dir.path()).await;
    assert!(data_files(e.data_dir()).is_empty());
}

#[tokio::test]
async fn concurrent_create_and_delete_of_one_name_replay_to_the_same_state() {
    let dir = tempfile::tempdir().expect("dir");
    for round in 0..5 {
        let e = start_in(dir.path()).await;
        let c = client(&e);
        let name = format!("fabric:/race/n{round}");
        let mut tasks = Vec::new();
        for worker in 0..4 {
            let (c, name) = (c.clone(), name.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..100 {
                    let _ = if (i + worker) % 2 == 0 {
                        c.create_name(&name).await
                    } else {
                        c.delete_name(&name).await
                    };
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let before = c.name_exists(&name).await.expect("exists");
        e.shutdown().await;
        let again = start_in(dir.path()).await;
        let after = client(&again).name_exists(&name).await.expect("exists");
        assert_eq!(
            before, after,
            "round {round}: the log replays what was served"
        );
        again.shutdown().await;
    }
}

/// A complete session, ready to commit, in a data dir; returns its id and bytes.
async fn complete_session(dir: &Path) -> (Uuid, Vec<u8>) {
    let e = start_in(dir).await;
    let id = Uuid::new_v4();
    let data = b"committed across a crash".to_vec();
    let last = data.len() as u64 - 1;
    client(&e)
        .upload_chunk(
            "crash\\file.bin",
            id,
            ChunkRange {
                start: 0,
                end: last,
            },
            data.len() as u64,
            data.clone(),
        )
        .await
        .expect("chunk");
    e.shutdown().await;
    (id, data)
}

#[tokio::test]
async fn a_commit_cut_by_a_crash_is_finished_at_the_next_start() {
    // Killed after logging the commit, before moving the file.
    let dir = tempfile::tempdir().expect("dir");
    let (id, data) = complete_session(dir.path()).await;
    std::fs::write(dir.path().join("committed.log"), format!("{id}\n")).expect("log");
    let e = start_in(dir.path()).await;
    client(&e)
        .commit_upload_session(id)
        .await
        .expect("commit again: 200");
    assert_eq!(
        std::fs::read(dir.path().join("store/crash/file.bin")).expect("stored"),
        data
    );
    e.shutdown().await;

    // Killed after moving the file, before marking the session committed.
    let dir = tempfile::tempdir().expect("dir");
    let (id, data) = complete_session(dir.path()).await;
    let stray = data_files(dir.path());
    assert_eq!(stray.len(), 1);
    std::fs::create_dir_all(dir.path().join("store/crash")).expect("mkdir");
    std::fs::rename(
        dir.path().join("sessions").join(&stray[0]),
        dir.path().join("store/crash/file.bin"),
    )
    .expect("move");
    std::fs::write(dir.path().join("committed.log"), format!("{id}\n")).expect("log");
    let e = start_in(dir.path()).await;
    let c = client(&e);
    c.commit_upload_session(id)
        .await
        .expect("200, not 500 forever");
    // Committed, and listed complete as the runtime keeps it until it expires.
    let listed = c.upload_sessions_by_id(id).await.expect("read");
    assert!(listed.len() == 1 && listed[0].is_complete(), "{listed:?}");
    assert_eq!(
        std::fs::read(dir.path().join("store/crash/file.bin")).expect("stored"),
        data
    );
}

#[tokio::test]
async fn deleted_seed_state_stays_deleted_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let seed_session: Uuid = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b".parse().expect("id");
    let e = Emulator::builder()
        .data_dir(dir.path())
        .seeded(true)
        .start()
        .await
        .expect("emulator");
    let c = client(&e);
    c.delete_name("fabric:/samples/data").await.expect("delete");
    c.delete_upload_session(seed_session)
        .await
        .expect("delete session");
    e.shutdown().await;
    let e = Emulator::builder()
        .data_dir(dir.path())
        .seeded(true)
        .start()
        .await
        .expect("restart");
    let c = client(&e);
    assert!(!c.name_exists("fabric:/samples/data").await.expect("exists"));
    assert!(
        c.upload_sessions_by_id(seed_session)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        c.name_exists("fabric:/samples/apps/NotepadApp")
            .await
            .expect("exists"),
        "the rest of the seed is kept"
    );
}

#[tokio::test]
async fn idle_connections_are_closed_and_the_cap_queues_instead_of_failing() {
    let e = Emulator::builder()
        .idle_timeout(Duration::from_millis(300))
        .max_connections(2)
        .start()
        .await
        .expect("emulator");
    // An idle connection is closed after the idle timeout.
    let mut idle = TcpStream::connect(e.local_addr()).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut buf))
        .await
        .expect("closed within the idle timeout, not kept forever");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // Two idle connections fill the cap: a third client waits, then is served once they go.
    let _a = TcpStream::connect(e.local_addr()).await.expect("a");
    let _b = TcpStream::connect(e.local_addr()).await.expect("b");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = Client::builder(e.endpoint())
        .retry_policy(RetryPolicy::none())
        .http_timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    assert!(
        !c.name_exists("fabric:/x")
            .await
            .expect("served after the idle ones closed"),
        "answered"
    );
}

#[tokio::test]
async fn a_body_that_stops_sending_is_cut_and_frees_its_range() {
    let e = Emulator::builder()
        .idle_timeout(Duration::from_millis(300))
        .start()
        .await
        .expect("emulator");
    let id = Uuid::new_v4();
    let mut slow = partial_chunk(&e, "slow.bin", id, (0, 99, 100), 10).await;
    let cut = answer(&mut slow).await;
    assert!(cut.starts_with("HTTP/1.1 504"), "{cut}");
    client(&e)
        .upload_chunk(
            "slow.bin",
            id,
            ChunkRange { start: 0, end: 99 },
            100,
            vec![1u8; 100],
        )
        .await
        .expect("the range is free again");
}

#[tokio::test]
async fn requests_the_store_cannot_take_get_4xx_not_500() {
    let e = Emulator::start().await.expect("emulator");
    let c = client(&e);
    let huge = 1u64 << 44;
    let err = c
        .upload_chunk(
            "huge.bin",
            Uuid::new_v4(),
            ChunkRange {
                start: huge,
                end: huge,
            },
            huge + 1,
            vec![1u8],
        )
        .await
        .expect_err("too large");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(413), "{err}");

    let long = "x".repeat(4000);
    let err = c
        .upload_chunk(
            &format!("dir\\{long}"),
            Uuid::new_v4(),
            ChunkRange { start: 0, end: 0 },
            1,
            vec![1u8],
        )
        .await
        .expect_err("refused at chunk time, not at every commit");
    assert!(
        matches!(&err, Error::Gateway { code, status, .. } if code.as_str() == "FABRIC_E_PATH_TOO_LONG" && status.as_u16() == 400),
        "{err}"
    );

    // A CreateName body cut short by the client is a bad request, not "too large".
    let mut stream = TcpStream::connect(e.local_addr()).await.expect("connect");
    stream
        .write_all(b"POST /Names/$/Create?api-version=6.0 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Name\":\"fabric:/tr")
        .await
        .expect("write");
    stream.shutdown().await.expect("half-close");
    let answer = answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

/// Arbitrary bytes after a plausible request line, or none at all.
fn hostile_request() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let line = prop_oneof![
        Just("GET /Names/a/$/GetSubNames?api-version=6.0 HTTP/1.1\r\n".to_string()),
        Just("PUT /ImageStore/a/$/UploadChunk?api-version=6.0&session-id=4a2340e8-d8d8-497c-95fe-cdaa1052f33b HTTP/1.1\r\n".to_string()),
        Just("POST /Names/$/Create?api-version=6.0 HTTP/1.1\r\n".to_string()),
        "[A-Z]{1,7} /\\PC{0,60} HTTP/1.1\r\n",
        Just(String::new()),
    ];
    let headers = prop::collection::vec(
        prop_oneof![
            Just("Host: x\r\n".to_string()),
            "Content-Length: [0-9]{1,20}\r\n",
            "Content-Range: bytes [0-9]{1,20}-[0-9]{1,20}/[0-9]{1,20}\r\n",
            "Transfer-Encoding: chunked\r\n",
            "[a-zA-Z-]{1,20}: \\PC{0,40}\r\n",
        ],
        0..6,
    );
    let tail = prop::collection::vec(any::<u8>(), 0..200);
    (line, headers, any::<bool>(), tail).prop_map(|(line, headers, end_head, tail)| {
        let mut bytes = line.into_bytes();
        for h in headers {
            bytes.extend_from_slice(h.as_bytes());
        }
        if end_head {
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(&tail);
        bytes
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Any bytes a client sends get an answer or a closed connection; the emulator keeps
    /// serving, and its state stays readable.
    #[test]
    fn fuzz_any_request_bytes_leave_the_emulator_serving(requests in proptest::collection::vec(hostile_request(), 1..4)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let e = Emulator::builder()
                .idle_timeout(Duration::from_millis(200))
                .start()
                .await
                .expect("emulator");
            for bytes in &requests {
                let mut stream = TcpStream::connect(e.local_addr()).await.expect("connect");
                let _ = stream.write_all(bytes).await;
                let _ = stream.shutdown().await;
                let mut out = Vec::new();
                let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
                assert!(read.is_ok(), "no answer and no close for {:?}", String::from_utf8_lossy(bytes));
                if !out.is_empty() {
                    assert!(out.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&out));
                    assert!(!out.starts_with(b"HTTP/1.1 500"), "{:?} got a 500", String::from_utf8_lossy(bytes));
                }
            }
            let c = client(&e);
            assert!(!c.name_exists("fabric:/still/serving").await.expect("still serving"));
        });
    }
}
