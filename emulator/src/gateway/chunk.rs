//! UploadChunk: a chunk's body streamed to its place in the session's file.

use std::io::SeekFrom;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming};
use tokio::io::AsyncSeekExt;

use super::{
    State,
    bodies::respond,
    query::{Query, session_id},
    streaming::body_to_file,
};
use crate::{
    fabric_error::{Code, FabricError},
    image_store::sessions::ChunkPlan,
};

/// Streams a chunk's bytes to its place in the session's file; the session changes only once
/// every byte is on disk.
pub(crate) async fn upload_chunk(
    state: &State,
    request: Request<Incoming>,
    path: &str,
    query: &Query<'_>,
) -> Result<Response<Full<Bytes>>, FabricError> {
    let id = session_id(query)?;
    let range = request
        .headers()
        .get(hyper::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Reserve the range under the lock, stream without it, record it under the lock again.
    let plan = state.uploads()?.plan_chunk(path, id, range.as_deref())?;
    let mut reservation = Reservation {
        state,
        plan: Some(plan),
    };
    let plan = reservation
        .plan
        .as_ref()
        .ok_or_else(FabricError::invalid_arg)?;
    let expected = plan.end - plan.start + 1; // the plan has start <= end < size
    if expected > state.config.max_chunk_bytes {
        return Err(FabricError::of(Code::ValueTooLarge));
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&plan.data)
        .await
        .map_err(FabricError::io)?;
    file.seek(SeekFrom::Start(plan.start))
        .await
        .map_err(FabricError::io)?;
    // A body that stops sending is cut after the idle timeout, freeing its range.
    let written = body_to_file(
        request.into_body(),
        &mut file,
        state.config.idle_timeout,
        expected,
        FabricError::invalid_arg(),
        &state.received,
    )
    .await?;
    let zero_byte_quirk = plan.start == 0 && plan.end == 0 && written == 0;
    if written != expected && !zero_byte_quirk {
        return Err(FabricError::invalid_arg());
    }
    file.sync_data().await.map_err(FabricError::io)?;
    let plan = reservation
        .plan
        .take()
        .ok_or_else(FabricError::invalid_arg)?;
    state.uploads()?.finish_chunk(plan)?;
    Ok(respond(200, Vec::new()))
}

/// A reserved chunk range; released if the request ends before the chunk is recorded (a
/// refusal, an I/O error, or a client that disconnects mid-body).
struct Reservation<'a> {
    state: &'a State,
    plan: Option<ChunkPlan>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let (Some(plan), Ok(mut uploads)) = (self.plan.take(), self.state.uploads()) {
            uploads.release(&plan);
        }
    }
}
