//! Durability of the emulator under `kill -9`: concurrent uploaders and name creators against
//! `sfrest emulator --data-dir`, killed at random moments and restarted. After every restart,
//! every committed file is in the store byte for byte, every acknowledged chunk is still
//! received, and every acknowledged name exists. `SFREST_KILL_ROUNDS` runs more rounds.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use servicefabric_rest::{ChunkRange, Client, RetryPolicy, Uuid};

/// What the server acknowledged.
#[derive(Default, Clone)]
struct Acknowledged {
    names: Vec<String>,
    /// Chunks of sessions not (yet) committed: session, path, range.
    chunks: Vec<(Uuid, ChunkRange)>,
    /// Committed store paths and their bytes.
    files: HashMap<String, Vec<u8>>,
    committed: Vec<Uuid>,
    /// Commits sent whose answer may have been lost: session, store path, bytes.
    commits_sent: HashMap<Uuid, (String, Vec<u8>)>,
}

/// Kills the emulator when dropped, so a failing assertion does not leave it running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--no-seed",
            "--data-dir",
        ])
        .arg(data)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut banner = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut banner)
        .expect("banner");
    let endpoint = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("endpoint in banner")
        .to_string();
    (Running(child), endpoint)
}

/// One uploader: files of a few chunks, each committed, and a name per file; stops at the
/// first failure (the server was killed).
async fn uploader(client: Client, worker: usize, round: usize, acked: Arc<Mutex<Acknowledged>>) {
    for file in 0.. {
        let path = format!("w{worker}\\r{round}\\f{file}.bin");
        let id = Uuid::new_v4();
        let size = 48 * 1024 + (worker * 977 + file * 131) % 4096;
        let data: Vec<u8> = (0..size)
            .map(|i| ((i * 31 + worker + file) % 251) as u8)
            .collect();
        let chunk = 8 * 1024;
        let mut start = 0;
        while start < size {
            let end = (start + chunk).min(size) - 1;
            let range = ChunkRange {
                start: start as u64,
                end: end as u64,
            };
            let sent = client
                .upload_chunk(&path, id, range, size as u64, data[start..=end].to_vec())
                .await;
            if sent.is_err() {
                return;
            }
            acked.lock().expect("acked").chunks.push((id, range));
            start = end + 1;
        }
        acked
            .lock()
            .expect("acked")
            .commits_sent
            .insert(id, (path.replace('\\', "/"), data.clone()));
        if client.commit_upload_session(id).await.is_err() {
            return;
        }
        {
            let mut acked = acked.lock().expect("acked");
            acked.files.insert(path.replace('\\', "/"), data);
            acked.committed.push(id);
        }
        let name = format!("fabric:/durable/w{worker}/r{round}/f{file}");
        if client.create_name(&name).await.is_err() {
            return;
        }
        acked.lock().expect("acked").names.push(name);
    }
}

async fn verify(client: &Client, data: &Path, acked: &Acknowledged) {
    for name in &acked.names {
        assert!(
            client.name_exists(name).await.expect("exists"),
            "acknowledged name {name} lost"
        );
    }
    for (path, bytes) in &acked.files {
        let stored = std::fs::read(data.join("store").join(path))
            .unwrap_or_else(|e| panic!("committed file {path} lost: {e}"));
        assert!(stored == *bytes, "committed file {path} differs");
    }
    for (id, range) in &acked.chunks {
        if acked.committed.contains(id) {
            continue;
        }
        let sessions = client.upload_sessions_by_id(*id).await.expect("read");
        let Some(session) = sessions.first() else {
            // Gone: only a commit whose answer the kill cut off may explain it, and then the
            // file is in the store, whole.
            let (path, bytes) = acked
                .commits_sent
                .get(id)
                .unwrap_or_else(|| panic!("session {id} with acknowledged chunks lost"));
            let stored = std::fs::read(data.join("store").join(path)).unwrap_or_default();
            assert!(
                stored == *bytes,
                "session {id} gone but {path} not committed whole"
            );
            continue;
        };
        assert!(
            !session
                .expected_ranges
                .iter()
                .any(|r| r.start <= range.end && range.start <= r.end),
            "acknowledged chunk {range:?} of {id} expected again: {:?}",
            session.expected_ranges
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_to_kill_9() {
    let rounds: usize = std::env::var("SFREST_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().expect("data dir");
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..rounds {
        let (mut child, endpoint) = start(dir.path());
        let client = Client::builder(&endpoint)
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("client");
        let snapshot = acked.lock().expect("acked").clone();
        verify(&client, dir.path(), &snapshot).await;
        let workers: Vec<_> = (0..6)
            .map(|w| tokio::spawn(uploader(client.clone(), w, round, acked.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.u64(80..400))).await;
        child.0.kill().expect("kill -9");
        let _ = child.0.wait();
        for worker in workers {
            worker.await.expect("uploader");
        }
    }
    let (child, endpoint) = start(dir.path());
    let client = Client::new(&endpoint).expect("client");
    let acked = acked.lock().expect("acked").clone();
    verify(&client, dir.path(), &acked).await;
    println!(
        "{rounds} kills: {} names, {} committed files, {} chunks acknowledged, all present",
        acked.names.len(),
        acked.files.len(),
        acked.chunks.len()
    );
    assert!(
        !acked.files.is_empty(),
        "the harness got work done between kills"
    );
    drop(child);
}
