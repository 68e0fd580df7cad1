//! Upload sessions (read, send a chunk, commit, delete), with their 64-bit numbers as `u64`
//! (the gateway writes them as strings).

use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use reqwest::StatusCode;

use bytes::Bytes;

use crate::{
    Client, Error, Result,
    generated::types,
    paths,
    transport::{
        answer::Answer,
        call::{Resend, note_resent},
    },
};

/// Where a chunk stands after a failure of unknown outcome.
enum ChunkState {
    /// The session still expects all of it: send it again.
    Expected,
    /// The session has all of it: it arrived.
    Received,
    /// Part of it arrived: cannot happen with one gateway; not re-sent.
    Unclear,
}

/// An image-store upload session: a file being uploaded in chunks. The gateway keeps a
/// committed session listed, complete, until it is deleted or expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// Path relative to the image store root, with Windows backslashes (`SwaggerTest\Common.dll`).
    pub store_relative_path: String,
    /// The session's id, chosen by the uploader.
    pub session_id: Uuid,
    /// When the session last changed (its last chunk); `None` if the gateway left it out.
    pub modified_date: Option<DateTime<Utc>>,
    /// Size of the whole file in bytes.
    pub file_size: u64,
    /// The byte ranges not yet received ("missing ranges"), inclusive, in the gateway's
    /// order; the gateway's name for them, `ExpectedRanges`, is used throughout this crate
    /// and `sfrest`.
    pub expected_ranges: Vec<ChunkRange>,
}

/// A range of bytes of the file, both ends inclusive (`0..=2097151` is a whole 2 MiB file).
///
/// ```
/// use servicefabric_rest::ChunkRange;
///
/// let range = ChunkRange { start: 730_105, end: 2_097_151 };
/// assert_eq!(range.len(), 1_367_047);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRange {
    /// First byte of the range.
    pub start: u64,
    /// Last byte of the range (inclusive).
    pub end: u64,
}

impl ChunkRange {
    /// The range as a Rust inclusive range.
    ///
    /// ```
    /// # use servicefabric_rest::ChunkRange;
    /// assert!(ChunkRange { start: 0, end: 9 }.as_range().contains(&9));
    /// ```
    pub fn as_range(&self) -> RangeInclusive<u64> {
        self.start..=self.end
    }

    /// Number of bytes in the range: 0 when `start > end`, and `u64::MAX` for `0..=u64::MAX`
    /// (one more than a `u64` holds). Never panics, whatever the server sent.
    ///
    /// ```
    /// # use servicefabric_rest::ChunkRange;
    /// assert_eq!(ChunkRange { start: 5, end: 5 }.len(), 1);
    /// assert_eq!(ChunkRange { start: 0, end: u64::MAX }.len(), u64::MAX);
    /// ```
    pub fn len(&self) -> u64 {
        self.end
            .checked_sub(self.start)
            .map_or(0, |d| d.saturating_add(1))
    }

    /// Whether the range holds no byte (only when `start > end`).
    ///
    /// ```
    /// # use servicefabric_rest::ChunkRange;
    /// assert!(!ChunkRange { start: 0, end: 0 }.is_empty());
    /// assert!(ChunkRange { start: 1, end: 0 }.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }
}

impl UploadSession {
    /// Bytes the gateway still expects: the sum of [`Self::expected_ranges`], at most the file
    /// size (the gateway shows a 0-byte file as missing `0..=0` forever). Saturates rather
    /// than overflow.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client, id: servicefabric_rest::Uuid) -> servicefabric_rest::Result<()> {
    /// for session in client.upload_sessions_by_id(id).await? {
    ///     println!("{} of {} bytes missing", session.missing_bytes(), session.file_size);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn missing_bytes(&self) -> u64 {
        let sum = self
            .expected_ranges
            .iter()
            .fold(0u64, |acc, r| acc.saturating_add(r.len()));
        sum.min(self.file_size)
    }

    /// Whether every byte has arrived, so the session can be committed.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client, id: servicefabric_rest::Uuid) -> servicefabric_rest::Result<()> {
    /// if client.upload_sessions_by_id(id).await?.iter().any(|s| s.is_complete()) {
    ///     client.commit_upload_session(id).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_complete(&self) -> bool {
        self.file_size > 0 && self.checked_missing_bytes() == Some(0)
    }

    /// Bytes the gateway still expects, or `None` when its answer does not add up: a range
    /// that ends before it starts or reaches past the file, or ranges whose sum overflows.
    /// (The 0-byte file's `0..=0`, a known quirk of the gateway, counts as nothing missing.)
    /// [`Self::missing_bytes`] clamps such an answer instead; show this one to people, so that
    /// an inconsistent answer is never reported as "0 missing".
    ///
    /// ```
    /// # use servicefabric_rest::{ChunkRange, UploadSession, Uuid};
    /// let session = UploadSession {
    ///     store_relative_path: "a.bin".into(),
    ///     session_id: Uuid::nil(),
    ///     modified_date: None,
    ///     file_size: 0,
    ///     expected_ranges: vec![ChunkRange { start: 0, end: u64::MAX }],
    /// };
    /// assert_eq!(session.missing_bytes(), 0); // clamped to the file size
    /// assert_eq!(session.checked_missing_bytes(), None); // the answer is inconsistent
    /// assert!(!session.is_complete());
    /// ```
    pub fn checked_missing_bytes(&self) -> Option<u64> {
        let zero_byte_quirk =
            self.file_size == 0 && self.expected_ranges == [ChunkRange { start: 0, end: 0 }];
        if zero_byte_quirk {
            return Some(0);
        }
        self.expected_ranges.iter().try_fold(0u64, |sum, r| {
            (r.start <= r.end && r.end < self.file_size)
                .then(|| sum.checked_add(r.len()))
                .flatten()
        })
    }

    /// Converts the generated type, checking every field the gateway must send.
    pub(crate) fn from_raw(raw: types::UploadSessionInfo) -> Result<Self, String> {
        let session_id = raw.session_id.ok_or("SessionId is missing")?;
        let file_size = u64_field("FileSize", raw.file_size.as_deref())?;
        let modified_date = raw
            .modified_date
            .map(|d| {
                DateTime::parse_from_rfc3339(&d)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|e| {
                        format!("ModifiedDate: expected an RFC 3339 date-time, got {d:?} ({e})")
                    })
            })
            .transpose()?;
        let expected_ranges = raw
            .expected_ranges
            .into_iter()
            .map(|r| {
                let start = u64_field("StartPosition", r.start_position.as_deref())?;
                let end = u64_field("EndPosition", r.end_position.as_deref())?;
                if start > end {
                    return Err(format!(
                        "range {start}-{end}: StartPosition is after EndPosition"
                    ));
                }
                if file_size > 0 && end >= file_size {
                    return Err(format!(
                        "range {start}-{end} ends past FileSize {file_size}"
                    ));
                }
                Ok(ChunkRange { start, end })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            store_relative_path: raw
                .store_relative_path
                .ok_or("StoreRelativePath is missing")?,
            session_id,
            modified_date,
            file_size,
            expected_ranges,
        })
    }
}

impl Client {
    /// The upload session with this id: at most one; empty when there is none (the gateway's
    /// 204).
    ///
    /// ```no_run
    /// use servicefabric_rest::Uuid;
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let id: Uuid = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b".parse()?;
    /// match client.upload_sessions_by_id(id).await?.first() {
    ///     Some(session) => println!("missing {:?}", session.expected_ranges),
    ///     None => println!("no such session"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn upload_sessions_by_id(&self, session_id: Uuid) -> Result<Vec<UploadSession>> {
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetImageStoreUploadSessionById",
                Resend::Safe,
                || format!("upload session {session_id}"),
                move |raw| async move {
                    raw.get_image_store_upload_session_by_id()
                        .session_id(session_id)
                        .timeout(timeout)
                        .send()
                        .await
                },
            )
            .await?;
        sessions(answer)
    }

    /// The upload sessions for this image-store path (exact, case-sensitive match), possibly
    /// several; empty when there is none.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// for session in client.upload_sessions_by_path("SwaggerTest\\Common.dll").await? {
    ///     println!("{}: {} bytes missing", session.session_id, session.missing_bytes());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn upload_sessions_by_path(&self, content_path: &str) -> Result<Vec<UploadSession>> {
        let checked = paths::content_path(content_path)?;
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetImageStoreUploadSessionByPath",
                Resend::Safe,
                || format!("content path {content_path}"),
                move |raw| async move {
                    raw.get_image_store_upload_session_by_path()
                        .content_path(checked)
                        .timeout(timeout)
                        .send()
                        .await
                },
            )
            .await?;
        sessions(answer)
    }

    /// Sends one chunk of a file: bytes `range.start..=range.end` of a file of `file_size`
    /// bytes. The first chunk creates the session. A chunk must fit inside one range the
    /// gateway still expects. After a failure of unknown outcome (503, timeout, reset) the
    /// session is read back: the chunk is re-sent (within the [`RetryPolicy`](crate::RetryPolicy))
    /// only while the session still expects its range, and counts as sent once the session
    /// shows it arrived. servicefabric-deploy's `upload_file` does all of this for a local file.
    ///
    /// ```no_run
    /// use servicefabric_rest::{ChunkRange, Uuid};
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let id = Uuid::new_v4();
    /// let data = b"hello, image store".to_vec();
    /// let whole = ChunkRange { start: 0, end: data.len() as u64 - 1 };
    /// client.upload_chunk("Store\\hello.txt", id, whole, data.len() as u64, data).await?;
    /// client.commit_upload_session(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_chunk(
        &self,
        content_path: &str,
        session_id: Uuid,
        range: ChunkRange,
        file_size: u64,
        bytes: impl Into<Bytes>,
    ) -> Result<()> {
        let checked = paths::content_path(content_path)?;
        let bytes: Bytes = bytes.into();
        if range.start > range.end || range.end >= file_size {
            return Err(Error::invalid(
                "chunk range",
                format!("{}-{}/{file_size}", range.start, range.end),
                "start <= end < file size (a 0-byte file cannot be uploaded in chunks)",
            ));
        }
        if bytes.len() as u64 != range.len() {
            return Err(Error::invalid(
                "chunk",
                format!("{} bytes", bytes.len()),
                &format!(
                    "{} bytes, the length of range {}-{}",
                    range.len(),
                    range.start,
                    range.end
                ),
            ));
        }
        let content_range = format!("bytes {}-{}/{file_size}", range.start, range.end);
        let about = || format!("upload session {session_id} for content path {content_path}");
        let timeout = self.timeout();
        let mut budget = self.policy().start();
        loop {
            let sent = self
                .call("UploadFileChunk", Resend::IfNotSent, about, |raw| {
                    let (bytes, content_range) = (bytes.clone(), content_range.clone());
                    async move {
                        raw.upload_file_chunk()
                            .content_path(checked)
                            .session_id(session_id)
                            .content_range(content_range)
                            .body(bytes)
                            .timeout(timeout)
                            .send()
                            .await
                    }
                })
                .await;
            let error = match sent {
                Ok(_) => return Ok(()),
                Err(error) if error.is_transient() => error,
                Err(error) => return Err(error),
            };
            // The chunk may or may not have arrived: only the session can tell.
            match self.chunk_state(session_id, range).await {
                Ok(ChunkState::Received) => return Ok(()),
                Ok(ChunkState::Expected) => {}
                Ok(ChunkState::Unclear) | Err(_) => return Err(error),
            }
            let Some(wait) = budget.next_wait(&error, false) else {
                return Err(error);
            };
            tracing::info!(%session_id, range = %content_range, error = %error, "re-sending a chunk the session still expects");
            tokio::time::sleep(wait).await;
            note_resent();
        }
    }

    /// Whether the session still expects all of `range`, or has all of it.
    async fn chunk_state(&self, session_id: Uuid, range: ChunkRange) -> Result<ChunkState> {
        let Some(session) = self
            .upload_sessions_by_id(session_id)
            .await?
            .into_iter()
            .next()
        else {
            // No session: the chunk (a first one) did not arrive.
            return Ok(ChunkState::Expected);
        };
        let overlaps = |r: &ChunkRange| r.start <= range.end && range.start <= r.end;
        let within = |r: &ChunkRange| r.start <= range.start && range.end <= r.end;
        Ok(if session.expected_ranges.iter().any(within) {
            ChunkState::Expected
        } else if !session.expected_ranges.iter().any(overlaps) {
            ChunkState::Received
        } else {
            ChunkState::Unclear
        })
    }

    /// Commits a complete session: the file appears in the image store. A session with bytes
    /// still missing, or an unknown id, fails with `E_INVALIDARG` (400).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client, id: servicefabric_rest::Uuid) -> servicefabric_rest::Result<()> {
    /// client.commit_upload_session(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn commit_upload_session(&self, session_id: Uuid) -> Result<()> {
        // Committing again after a success answers 200, so a lost answer is safe to retry.
        let timeout = self.timeout();
        self.call(
            "CommitImageStoreUploadSession",
            Resend::Safe,
            || format!("upload session {session_id}"),
            move |raw| async move {
                raw.commit_image_store_upload_session()
                    .session_id(session_id)
                    .timeout(timeout)
                    .send()
                    .await
            },
        )
        .await
        .map(drop)
    }

    /// Cancels a session and drops the chunks received so far.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client, id: servicefabric_rest::Uuid) -> servicefabric_rest::Result<()> {
    /// client.delete_upload_session(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_upload_session(&self, session_id: Uuid) -> Result<()> {
        let timeout = self.timeout();
        self.call(
            "DeleteImageStoreUploadSession",
            Resend::IfNotSent,
            || format!("upload session {session_id}"),
            move |raw| async move {
                raw.delete_image_store_upload_session()
                    .session_id(session_id)
                    .timeout(timeout)
                    .send()
                    .await
            },
        )
        .await
        .map(drop)
    }
}

fn sessions(answer: Answer<types::UploadSession>) -> Result<Vec<UploadSession>> {
    match answer {
        Answer::Empty => Ok(Vec::new()),
        Answer::Body(body) => body
            .upload_sessions
            .into_iter()
            .map(UploadSession::from_raw)
            .collect::<Result<_, String>>()
            .map_err(|detail| Error::decode(StatusCode::OK, detail, b"")),
    }
}

/// Reads a 64-bit number the gateway sent as a JSON string.
pub(crate) fn u64_field(field: &str, value: Option<&str>) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{field} is missing"))?;
    value
        .parse()
        .map_err(|_| format!("{field}: expected a u64 written as a decimal string, got {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(size: &str, ranges: &[(&str, &str)]) -> types::UploadSessionInfo {
        serde_json::from_value(serde_json::json!({
            "StoreRelativePath": "a\\b", "SessionId": "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
            "FileSize": size, "ModifiedDate": "2017-09-28T17:06:37.26Z",
            "ExpectedRanges": ranges.iter().map(|(s, e)| serde_json::json!({"StartPosition": s, "EndPosition": e})).collect::<Vec<_>>(),
        }))
        .expect("test value")
    }

    #[test]
    fn numbers_and_missing_total() {
        let s = UploadSession::from_raw(raw("2097152", &[("0", "402128"), ("730105", "2097151")]))
            .expect("valid");
        assert_eq!(s.file_size, 2_097_152);
        assert_eq!(s.expected_ranges[1].as_range(), 730_105..=2_097_151);
        assert_eq!(s.missing_bytes(), 402_129 + 1_367_047);
        assert!(!s.is_complete());
    }

    #[test]
    fn non_numeric_strings_name_the_field_and_value() {
        let e = UploadSession::from_raw(raw("12ab", &[])).expect_err("bad size");
        assert!(e.contains("FileSize") && e.contains("\"12ab\""), "{e}");
        let e = UploadSession::from_raw(raw("10", &[("0", "-1")])).expect_err("bad end");
        assert!(e.contains("EndPosition") && e.contains("\"-1\""), "{e}");
        assert!(UploadSession::from_raw(raw("10", &[("5", "3")])).is_err());
        assert!(UploadSession::from_raw(raw("10", &[("5", "10")])).is_err());
    }

    #[test]
    fn arithmetic_on_server_numbers_never_panics() {
        let s = UploadSession::from_raw(raw("0", &[("0", "18446744073709551615")])).expect("valid");
        assert_eq!(s.expected_ranges[0].len(), u64::MAX);
        assert_eq!(s.missing_bytes(), 0);
        let huge = UploadSession {
            expected_ranges: vec![
                ChunkRange {
                    start: 0,
                    end: u64::MAX
                };
                3
            ],
            file_size: u64::MAX,
            ..s
        };
        assert_eq!(huge.missing_bytes(), u64::MAX);
        assert_eq!(ChunkRange { start: 9, end: 3 }.len(), 0);
    }

    #[test]
    fn zero_byte_file_quirk_is_not_complete() {
        let s = UploadSession::from_raw(raw("0", &[("0", "0")])).expect("valid");
        assert_eq!(s.missing_bytes(), 0);
        assert!(!s.is_complete());
    }
}
