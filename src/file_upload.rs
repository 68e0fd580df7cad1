//! [`Client::upload_file`], resumable uploads of a local file: send only what the session says is missing, and after any failure of
//! unknown outcome read the session back before sending again (a re-sent chunk gets 400).

use std::{io::SeekFrom, path::Path, time::Duration};

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use uuid::Uuid;

use crate::{ChunkRange, Client, Error, Result};

/// Settings of [`Client::upload_file`].
///
/// ```
/// use servicefabric_rest::{UploadOptions, Uuid};
///
/// let options = UploadOptions {
///     session_id: Some(Uuid::new_v4()), // keep it: it resumes an interrupted upload
///     chunk_size: 8 * 1024 * 1024,
///     ..UploadOptions::default()
/// };
/// ```
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// The session to create or resume; a new random id when `None`. Keep it to resume later.
    pub session_id: Option<Uuid>,
    /// Largest chunk sent in one request (default 4 MiB). Memory use is about one chunk.
    pub chunk_size: u64,
    /// Transient failures tolerated in a row before giving up (default 5).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one (default 200 ms).
    pub retry_delay: Duration,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            session_id: None,
            chunk_size: 4 * 1024 * 1024,
            max_retries: 5,
            retry_delay: Duration::from_millis(200),
        }
    }
}

/// What [`Client::upload_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// The session used.
    pub session_id: Uuid,
    /// Size of the file.
    pub file_size: u64,
    /// Bytes sent by this call and acknowledged (less than the size when a session was
    /// resumed, or when an answer was lost and the session showed the chunk had arrived).
    pub bytes_sent: u64,
    /// Chunks sent by this call and acknowledged.
    pub chunks_sent: u64,
    /// Transient failures recovered from.
    pub retries: u32,
}

impl Client {
    /// Uploads the local file `local` to `content_path` in the image store and commits it.
    ///
    /// Resumable: with the `session_id` of an earlier, interrupted call, only the ranges the
    /// gateway still expects are sent. Transient failures (503/504, timeouts, resets) are
    /// retried after reading the session back, so a chunk that did arrive is not sent twice.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use servicefabric_rest::{UploadOptions, Uuid};
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let options = UploadOptions { session_id: Some(Uuid::new_v4()), ..Default::default() };
    /// let report = client
    ///     .upload_file(Path::new("pkg.zip"), "Store\\MyApp\\pkg.zip", &options)
    ///     .await?;
    /// println!("sent {} of {} bytes", report.bytes_sent, report.file_size);
    /// # Ok(()) }
    /// ```
    pub async fn upload_file(
        &self,
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
        let file_size = file.metadata().await.map_err(io_error)?.len();
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
        let session_id = options.session_id.unwrap_or_else(Uuid::new_v4);
        let mut report = UploadReport {
            session_id,
            file_size,
            bytes_sent: 0,
            chunks_sent: 0,
            retries: 0,
        };
        let mut failures = 0u32;
        // Once every byte is acknowledged only the commit is retried: a commit whose answer
        // was lost may have happened, and committing again answers 200.
        let mut all_sent = false;
        loop {
            let attempt = async {
                if all_sent {
                    return self.commit_upload_session(session_id).await;
                }
                let missing = self
                    .missing_ranges(session_id, content_path, file_size)
                    .await?;
                for range in missing {
                    let mut start = range.start;
                    while start <= range.end {
                        let end = range.end.min(start.saturating_add(options.chunk_size - 1));
                        let len = usize::try_from(end - start + 1).map_err(|_| {
                            Error::invalid(
                                "chunk size",
                                options.chunk_size,
                                "a size this machine can hold",
                            )
                        })?;
                        let mut buffer = vec![0u8; len];
                        file.seek(SeekFrom::Start(start)).await.map_err(io_error)?;
                        file.read_exact(&mut buffer).await.map_err(io_error)?;
                        self.upload_chunk(
                            content_path,
                            session_id,
                            ChunkRange { start, end },
                            file_size,
                            buffer,
                        )
                        .await?;
                        report.bytes_sent = report.bytes_sent.saturating_add(end - start + 1);
                        report.chunks_sent = report.chunks_sent.saturating_add(1);
                        match end.checked_add(1) {
                            Some(next) => start = next,
                            None => break,
                        }
                    }
                }
                all_sent = true;
                self.commit_upload_session(session_id).await
            };
            match attempt.await {
                Ok(()) => return Ok(report),
                Err(e) if e.is_transient() && failures < options.max_retries => {
                    let delay = options.retry_delay.saturating_mul(1 << failures.min(16));
                    failures += 1;
                    report.retries += 1;
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The ranges still to send: the session's, or the whole file for a new session.
    async fn missing_ranges(
        &self,
        id: Uuid,
        content_path: &str,
        file_size: u64,
    ) -> Result<Vec<ChunkRange>> {
        let Some(session) = self.upload_sessions_by_id(id).await?.into_iter().next() else {
            return Ok(vec![ChunkRange {
                start: 0,
                end: file_size - 1,
            }]);
        };
        if session.file_size != file_size {
            return Err(Error::invalid(
                "local file",
                format!("{file_size} bytes"),
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
        Ok(session.expected_ranges)
    }
}
