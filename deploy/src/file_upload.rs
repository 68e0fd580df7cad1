//! [`ClientExt::upload_file`](crate::ClientExt::upload_file): resumable uploads of a local file. Send only what the session says
//! is missing, commit only a session the gateway shows complete, and never resume a session
//! with a file that changed since it began.

use std::{
    fmt,
    io::SeekFrom,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::{StreamExt, stream};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use uuid::Uuid;

use servicefabric_rest::{ChunkRange, Error, Result, UploadSession};

use crate::workflow::Workflow;

/// Settings of [`ClientExt::upload_file`](crate::ClientExt::upload_file).
///
/// ```
/// use servicefabric_deploy::{UploadOptions, Uuid};
///
/// let options = UploadOptions {
///     session_id: Some(Uuid::new_v4()), // keep it: it resumes an interrupted upload
///     chunk_size: 8 * 1024 * 1024,
///     ..UploadOptions::default()
/// };
/// ```
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// The session to create or resume; a new random id when `None`. Keep it to resume later,
    /// or let [`Self::resume_record`] keep it.
    pub session_id: Option<Uuid>,
    /// Largest chunk sent in one request (default 4 MiB). Memory use is about one chunk per
    /// chunk in flight.
    pub chunk_size: u64,
    /// Chunks of the session sent at once (default 4, measured: `benches/upload_limit.rs`);
    /// the gateway takes a session's ranges in any order. 1 sends them one after another.
    pub chunks_in_flight: usize,
    /// Failures in a row tolerated before giving up (default 5), on top of the client's
    /// [`RetryPolicy`](servicefabric_rest::RetryPolicy) for each call. A chunk acknowledged resets the count.
    pub max_retries: u32,
    /// Wait before the first of those retries; doubled for each further one in a row
    /// (default 200 ms).
    pub retry_delay: Duration,
    /// Where to keep a small resume record: a file, or an existing directory (the record is
    /// then named after the content path). With it, a later call for the same content path
    /// resumes the session by itself, and starts over in a new session when the local file
    /// changed since (size, modification time or SHA-256), instead of committing a mix of two
    /// files. The record is removed once the file is committed.
    pub resume_record: Option<PathBuf>,
    /// Called with the bytes the gateway has acknowledged, after reading the session and after
    /// each chunk.
    pub progress: Option<ProgressFn>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            session_id: None,
            chunk_size: 4 * 1024 * 1024,
            chunks_in_flight: 4,
            max_retries: 5,
            retry_delay: Duration::from_millis(200),
            resume_record: None,
            progress: None,
        }
    }
}

/// How far an upload is: bytes the gateway holds for the session, of the file's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes acknowledged (received by the gateway), including those of an earlier run.
    pub acknowledged: u64,
    /// Size of the file.
    pub total: u64,
}

/// A progress callback for [`UploadOptions::progress`].
///
/// ```
/// use servicefabric_deploy::{ProgressFn, UploadOptions};
///
/// let options = UploadOptions {
///     progress: Some(ProgressFn::new(|p| eprintln!("{} / {} bytes", p.acknowledged, p.total))),
///     ..UploadOptions::default()
/// };
/// ```
#[derive(Clone)]
pub struct ProgressFn(Arc<dyn Fn(UploadProgress) + Send + Sync>);

impl ProgressFn {
    /// Wraps a callback; it runs on the uploading task, so keep it quick.
    pub fn new(callback: impl Fn(UploadProgress) + Send + Sync + 'static) -> Self {
        Self(Arc::new(callback))
    }
}

impl fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressFn")
    }
}

/// What [`ClientExt::upload_file`](crate::ClientExt::upload_file) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// The session used.
    pub session_id: Uuid,
    /// Size of the file.
    pub file_size: u64,
    /// Bytes sent by this call that the gateway holds: acknowledged, or shown received when
    /// the session was read back after a lost answer (less than the size when resumed).
    pub bytes_sent: u64,
    /// Chunks sent by this call and acknowledged.
    pub chunks_sent: u64,
    /// Bytes the session already held when this call began (a resumed upload).
    pub resumed_bytes: u64,
    /// Requests sent again after a failed attempt (a 503, a timeout, a dropped connection):
    /// by the client's retry policy and by [`UploadOptions::max_retries`] alike.
    pub retries: u32,
    /// The resume record showed the local file had changed since its session began: that
    /// session was dropped and the file sent again in a new one.
    pub started_over: bool,
}

/// The resume record: which session holds which version of the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Record {
    session_id: Uuid,
    content_path: String,
    size: u64,
    modified_ns: u128,
    sha256: String,
}

impl Workflow<'_> {
    /// See [`ClientExt::upload_file`](crate::ClientExt::upload_file).
    pub(crate) async fn upload_file(
        self,
        local: &Path,
        content_path: &str,
        options: &UploadOptions,
    ) -> Result<UploadReport> {
        let io_error = |e: std::io::Error| {
            Error::invalid(
                "local file",
                local.display(),
                &format!("a readable file ({e})"),
            )
        };
        let mut file = tokio::fs::File::open(local).await.map_err(io_error)?;
        let metadata = file.metadata().await.map_err(io_error)?;
        let file_size = metadata.len();
        if !metadata.is_file() {
            return Err(Error::invalid(
                "local file",
                local.display(),
                "a regular file",
            ));
        }
        if file_size == 0 {
            return Err(Error::invalid(
                "local file",
                local.display(),
                "a non-empty file (the gateway never completes a 0-byte upload)",
            ));
        }
        if options.chunk_size == 0 {
            return Err(Error::invalid("chunk size", 0, "at least 1 byte"));
        }
        if options.chunks_in_flight == 0 {
            return Err(Error::invalid("chunks in flight", 0, "at least 1 chunk"));
        }
        servicefabric_rest::paths::content_path(content_path)?;
        let (session_id, record, started_over) = self
            .choose_session(local, &mut file, &metadata, content_path, options)
            .await?;
        let mut report = UploadReport {
            session_id,
            file_size,
            bytes_sent: 0,
            chunks_sent: 0,
            resumed_bytes: 0,
            retries: 0,
            started_over,
        };
        let mut state = Job {
            local,
            content_path,
            options,
            committing: false,
            complete_passes: 0,
            first_read: true,
        };
        let mut failures = 0u32;
        loop {
            let step = self
                .upload_step(&mut state, &mut report, &mut failures)
                .await;
            match step {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) if e.is_transient() && failures < options.max_retries => {
                    let delay = options.retry_delay.saturating_mul(1 << failures.min(16));
                    failures += 1;
                    report.retries += 1;
                    tracing::info!(%session_id, failures, error = %e, "upload_file retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(record) = record {
            let _ = tokio::fs::remove_file(record).await;
        }
        Ok(report)
    }

    /// One pass: read the session back, commit it if complete, otherwise send what it misses.
    /// `Ok(true)` once committed.
    async fn upload_step(
        &self,
        state: &mut Job<'_>,
        report: &mut UploadReport,
        failures: &mut u32,
    ) -> Result<bool> {
        let (local, content_path, options) = (state.local, state.content_path, state.options);
        let id = report.session_id;
        let size = report.file_size;
        let session = self.upload_sessions_by_id(id).await?.into_iter().next();
        let missing = match &session {
            // The commit was sent and its answer lost: the session is gone. Committing again
            // answers 200 only if it did happen.
            None if state.committing => {
                self.commit_upload_session(id).await?;
                return Ok(true);
            }
            None => vec![ChunkRange {
                start: 0,
                end: size - 1,
            }],
            Some(session) => {
                check_session(session, content_path, size)?;
                session.expected_ranges.clone()
            }
        };
        let acknowledged = size - missing.iter().map(ChunkRange::len).sum::<u64>().min(size);
        let complete = session.as_ref().is_some_and(UploadSession::is_complete);
        if state.first_read {
            state.first_read = false;
            // The gateway keeps a committed session listed, complete, until it expires: found
            // at the start of a run, it may be an upload an earlier run finished. The store
            // tells: the file there with the session's size means done, with no second commit
            // and nothing counted as resumed.
            if complete && self.stored_size(content_path).await? == Some(size) {
                notify(options, size, size);
                return Ok(true);
            }
            report.resumed_bytes = acknowledged;
        }
        notify(options, acknowledged, size);
        if complete {
            state.committing = true;
            self.commit_upload_session(id).await?;
            return Ok(true);
        }
        if state.complete_passes >= 2 {
            // Every chunk was acknowledged twice over and the gateway still misses bytes.
            return Err(Error::UploadIncomplete {
                session_id: id,
                missing,
            });
        }
        let mut chunks = Vec::new();
        for range in missing {
            let mut start = range.start;
            while start <= range.end {
                let end = range.end.min(start.saturating_add(options.chunk_size - 1));
                chunks.push(ChunkRange { start, end });
                match end.checked_add(1) {
                    Some(next) => start = next,
                    None => break,
                }
            }
        }
        // Several chunks in flight, each read from its own handle. After a failure no new
        // chunk starts, and those in flight finish, so that their bytes count; the next
        // pass reads the session back.
        let failed = std::sync::atomic::AtomicBool::new(false);
        let failed = &failed;
        let mut sent = stream::iter(chunks)
            .map(|chunk| async move {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(None);
                }
                let result = async {
                    let buffer = read_chunk(local, chunk)
                        .await
                        .map_err(|e| Error::invalid("local file", local.display(), &e))?;
                    self.upload_chunk(content_path, id, chunk, size, buffer)
                        .await
                }
                .await;
                if result.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                result.map(|()| Some(chunk))
            })
            .buffer_unordered(options.chunks_in_flight);
        let mut acknowledged = acknowledged;
        let mut first_error = None;
        while let Some(outcome) = sent.next().await {
            match outcome {
                Ok(Some(chunk)) => {
                    // A chunk acknowledged resets the failures in a row.
                    *failures = 0;
                    report.bytes_sent = report.bytes_sent.saturating_add(chunk.len());
                    report.chunks_sent = report.chunks_sent.saturating_add(1);
                    acknowledged = acknowledged.saturating_add(chunk.len()).min(size);
                    notify(options, acknowledged, size);
                }
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        state.complete_passes += 1;
        Ok(false)
    }

    /// The session to use, from the options and the resume record; writes the record.
    async fn choose_session(
        &self,
        local: &Path,
        file: &mut tokio::fs::File,
        metadata: &std::fs::Metadata,
        content_path: &str,
        options: &UploadOptions,
    ) -> Result<(Uuid, Option<PathBuf>, bool)> {
        let Some(location) = &options.resume_record else {
            return Ok((options.session_id.unwrap_or_else(Uuid::new_v4), None, false));
        };
        let record_path = record_location(location, content_path);
        let current = Record {
            session_id: Uuid::nil(),
            content_path: content_path.to_string(),
            size: metadata.len(),
            modified_ns: metadata
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos()),
            sha256: sha256_file(file, local).await?,
        };
        let previous = tokio::fs::read(&record_path)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
            .filter(|r| r.content_path == content_path);
        let (session_id, started_over) = match previous {
            Some(previous)
                if Record {
                    session_id: Uuid::nil(),
                    ..previous.clone()
                } == current =>
            {
                (previous.session_id, false)
            }
            Some(previous) => {
                tracing::warn!(
                    session_id = %previous.session_id,
                    file = %local.display(),
                    "the local file changed since its upload session began; starting over"
                );
                // Best effort: the old session would otherwise linger until it expires.
                let _ = self.delete_upload_session(previous.session_id).await;
                let fresh = options
                    .session_id
                    .filter(|id| *id != previous.session_id)
                    .unwrap_or_else(Uuid::new_v4);
                (fresh, true)
            }
            None => (options.session_id.unwrap_or_else(Uuid::new_v4), false),
        };
        let record = Record {
            session_id,
            ..current
        };
        write_record(&record_path, &record).await?;
        Ok((session_id, Some(record_path), started_over))
    }
}

/// Where the resume record for `content_path` lives, given a file or a directory.
pub(crate) fn record_location(location: &Path, content_path: &str) -> PathBuf {
    if location.is_dir() {
        let digest = Sha256::digest(content_path.as_bytes());
        location.join(format!("sfrest-upload-{}.json", hex(&digest[..16])))
    } else {
        location.to_path_buf()
    }
}

/// The session a resume record names, if it is readable and for this content path (not
/// checked against the local file: [`ClientExt::upload_file`](crate::ClientExt::upload_file) does that).
pub(crate) async fn recorded_session(record: &Path, content_path: &str) -> Option<Uuid> {
    let bytes = tokio::fs::read(record).await.ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    (record.content_path == content_path).then_some(record.session_id)
}

/// One upload: what it is, and where it stands between passes.
struct Job<'a> {
    local: &'a Path,
    content_path: &'a str,
    options: &'a UploadOptions,
    /// The commit was sent at least once.
    committing: bool,
    /// Passes that had every chunk they sent acknowledged.
    complete_passes: u32,
    /// The next read-back is the first of this call.
    first_read: bool,
}

fn notify(options: &UploadOptions, acknowledged: u64, total: u64) {
    if let Some(progress) = &options.progress {
        (progress.0)(UploadProgress {
            acknowledged,
            total,
        });
    }
}

/// Refuses to resume a session started for another size or path.
fn check_session(session: &UploadSession, content_path: &str, size: u64) -> Result<()> {
    let id = session.session_id;
    if session.file_size != size {
        return Err(Error::invalid(
            "local file",
            format!("{size} bytes"),
            &format!(
                "the size session {id} was started with ({} bytes)",
                session.file_size
            ),
        ));
    }
    let wanted = content_path.replace('/', "\\");
    if session.store_relative_path != wanted && session.store_relative_path != content_path {
        return Err(Error::invalid(
            "content path",
            content_path,
            &format!(
                "the path session {id} was started with ({})",
                session.store_relative_path
            ),
        ));
    }
    Ok(())
}

/// Reads one chunk; the error says what was expected of the file. The buffer is allocated
/// here, on the async worker that later frees it, and only filled on a blocking thread:
/// buffers allocated on the many blocking threads spread over glibc's per-thread arenas,
/// and peak memory then grew with the file's size (BENCHMARKS.md, issue 21).
async fn read_chunk(local: &Path, chunk: ChunkRange) -> std::result::Result<Vec<u8>, String> {
    use std::io::{Read, Seek};
    let len = usize::try_from(chunk.len())
        .map_err(|_| format!("chunks this machine can hold ({} bytes)", chunk.len()))?;
    let mut buffer = vec![0u8; len];
    let local = local.to_path_buf();
    let read = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&local)?;
        file.seek(SeekFrom::Start(chunk.start))?;
        file.read_exact(&mut buffer)?;
        Ok::<_, std::io::Error>(buffer)
    })
    .await
    .map_err(|e| format!("a read that completes ({e})"))?;
    read.map_err(|e| {
        format!(
            "a file whose bytes {}-{} can be read ({e}); did it shrink?",
            chunk.start, chunk.end
        )
    })
}

async fn sha256_file(file: &mut tokio::fs::File, local: &Path) -> Result<String> {
    let io = |e: std::io::Error| {
        Error::invalid(
            "local file",
            local.display(),
            &format!("a readable file ({e})"),
        )
    };
    file.seek(SeekFrom::Start(0)).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).await.map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

async fn write_record(path: &Path, record: &Record) -> Result<()> {
    let io = |e: std::io::Error| {
        Error::invalid(
            "resume record",
            path.display(),
            &format!("a writable file ({e})"),
        )
    };
    let text = serde_json::to_vec_pretty(record)
        .map_err(std::io::Error::other)
        .map_err(io)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = path.with_extension(format!("tmp{nanos}"));
    tokio::fs::write(&tmp, text).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
