//! What the generated client runs on every call (progenitor's `ClientHooks`), and the decoder
//! build.rs puts in place of progenitor's for failure answers.
//!
//! - `pre`: writes the query the way the official clients do (spec order, continuation tokens
//!   verbatim), drops progenitor's extra `api-version` header, and sets the HTTP timeout.
//! - [`error_response`]: a failure answer whose body is not the spec's error schema (a proxy's
//!   HTML page, a bodiless 404) stays `UnexpectedResponse` with its status and body, where
//!   progenitor would report `InvalidResponsePayload` and lose the status.

use std::time::Duration;

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo, ResponseValue};

use crate::generated::Client as RawClient;

/// progenitor adds `api-version: <spec version>` to every request; no official client sends it.
static API_VERSION_HEADER: reqwest::header::HeaderName =
    reqwest::header::HeaderName::from_static("api-version");

/// Failure bodies longer than this are cut: enough for any `FabricError` and a snippet.
pub(crate) const MAX_FAILURE_BODY: usize = 64 * 1024;

/// What every request of a generated [`RawClient`] shares: the HTTP timeout to apply.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct CallState {
    http_timeout: Duration,
}

impl CallState {
    pub(crate) fn new(http_timeout: Duration) -> Self {
        Self { http_timeout }
    }
}

impl ClientHooks<CallState> for RawClient {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        crate::wire::rewrite_query(request.url_mut(), info.operation_id);
        request.headers_mut().remove(&API_VERSION_HEADER);
        *request.timeout_mut() = Some(self.inner().http_timeout);
        Ok(())
    }
}

/// Decodes a 4xx/5xx answer (build.rs routes the generated code here). The body is read up to
/// [`MAX_FAILURE_BODY`]; one that is not `E` comes back as `UnexpectedResponse`, status intact.
pub(crate) async fn error_response<E: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Error<E> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = match read_bounded(response, MAX_FAILURE_BODY).await {
        Ok(body) => body,
        Err(e) => return Error::ResponseBodyError(e),
    };
    if let Ok(value) = serde_json::from_slice::<E>(&body) {
        return Error::ErrorResponse(ResponseValue::new(value, status, headers));
    }
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    Error::UnexpectedResponse(reqwest::Response::from(rebuilt))
}

/// Reads at most `limit` bytes of a body; the rest is left unread.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> reqwest::Result<Bytes> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    Ok(Bytes::from(body))
}
