//! Request bodies streamed to disk, never into memory: whole files and chunks.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::AsyncWriteExt;

use crate::fabric_error::{Code, FabricError};

/// Streams a request body into `file`, counting every byte in `received`; returns the bytes
/// written. A body that stops sending for `idle` is cut (504), one past `limit` gets
/// `too_long`, and a client that disconnects mid-body gets E_INVALIDARG (nobody reads it).
pub(crate) async fn body_to_file(
    mut body: Incoming,
    file: &mut tokio::fs::File,
    idle: Duration,
    limit: u64,
    too_long: FabricError,
    received: &AtomicU64,
) -> Result<u64, FabricError> {
    let mut written = 0u64;
    while let Some(frame) = tokio::time::timeout(idle, body.frame())
        .await
        .map_err(|_| FabricError::of(Code::Timeout))?
    {
        let frame = frame.map_err(|_| FabricError::invalid_arg())?;
        if let Ok(data) = frame.into_data() {
            written += data.len() as u64;
            received.fetch_add(data.len() as u64, Ordering::Relaxed);
            if written > limit {
                return Err(too_long);
            }
            file.write_all(&data).await.map_err(FabricError::io)?;
        }
    }
    Ok(written)
}
