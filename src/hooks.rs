//! The request hooks the generated client runs on every call (progenitor's `ClientHooks`).
//!
//! - `pre`: writes the query the way the official clients do (spec order, continuation tokens
//!   verbatim), drops progenitor's extra `api-version` header, and sets the HTTP timeout.
//! - `exec`: keeps the status and body of failure answers, so that an HTML page or an empty
//!   body still reaches the caller with its status (progenitor would report only a JSON error).

use std::{sync::Mutex, time::Duration};

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::StatusCode;

use crate::generated::Client as RawClient;

/// progenitor adds `api-version: <spec version>` to every request; no official client sends it.
static API_VERSION_HEADER: reqwest::header::HeaderName =
    reqwest::header::HeaderName::from_static("api-version");

/// Failure bodies longer than this are cut: enough for any `FabricError` and a snippet.
const MAX_FAILURE_BODY: usize = 64 * 1024;

/// Per-call state of a generated [`RawClient`]: the HTTP timeout to apply, and what the
/// failure answer held (read back by the typed layer).
#[derive(Debug)]
pub struct CallState {
    http_timeout: Duration,
    failure: Mutex<Option<(StatusCode, Bytes)>>,
}

impl CallState {
    pub(crate) fn new(http_timeout: Duration) -> Self {
        Self {
            http_timeout,
            failure: Mutex::new(None),
        }
    }

    /// Status and body of the failure answer, if the call got one.
    pub(crate) fn take_failure(&self) -> Option<(StatusCode, Bytes)> {
        self.failure.lock().ok()?.take()
    }
}

impl Clone for CallState {
    /// A clone starts a new call: same timeout, no failure recorded.
    fn clone(&self) -> Self {
        Self::new(self.http_timeout)
    }
}

impl ClientHooks<CallState> for RawClient {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        crate::wire::rewrite_query(request.url_mut(), info.operation_id);
        request.headers_mut().remove(&API_VERSION_HEADER);
        *request.timeout_mut() = Some(self.inner().http_timeout);
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let mut response = self.client().execute(request).await?;
        let status = response.status();
        if status.is_success() || status.is_informational() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_FAILURE_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_FAILURE_BODY {
                break;
            }
        }
        let body = Bytes::from(body);
        if let Ok(mut slot) = self.inner().failure.lock() {
            *slot = Some((status, body.clone()));
        }
        // Hand progenitor an equivalent answer; the typed layer reads the failure from the slot.
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.headers_mut() = headers;
        Ok(reqwest::Response::from(rebuilt))
    }
}
