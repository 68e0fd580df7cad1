//! What the generated client runs on every call (progenitor's `ClientHooks`), and the decoder
//! build.rs puts in place of progenitor's for failure answers.
//!
//! - `pre`: sets the HTTP timeout. (The query is written in spec order by the generated code
//!   itself: see build.rs.)
//! - [`error_response`]: a failure answer whose body is not the spec's error schema (a proxy's
//!   HTML page, a bodiless 404) stays `UnexpectedResponse` with its status and body, where
//!   progenitor would report `InvalidResponsePayload` and lose the status.
//! - [`success_response`]: a success body is read up to the client's limit, never further.
//!   On Entra ID clusters it adds the bearer token (https only).
//! - `post`: the status goes on the current request span (`tracing`).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo, ResponseValue};

use super::auth::{Auth, GET_AAD_METADATA_FN};
use crate::generated::Client as RawClient;

/// Failure bodies longer than this are cut: enough for any `FabricError` and a snippet.
pub(crate) const MAX_FAILURE_BODY: usize = 64 * 1024;

/// Marks the generated `Error::Custom` that [`success_response`] returns for a body over the
/// limit, so the typed layer can tell it apart.
pub(crate) const BODY_TOO_LARGE: &str = "response body larger than the client's limit of ";

/// Marks the generated `Error::Custom` the `pre` hook returns when no token could be had.
pub(crate) const TOKEN_FAILED: &str = "bearer token: ";

tokio::task_local! {
    /// A longer HTTP timeout for the calls of one future (a provision with its own server
    /// timeout); see [`with_http_timeout`].
    static CALL_HTTP_TIMEOUT: Duration;
}

/// Runs `future` with requests allowed at least `timeout` to answer.
pub(crate) async fn with_http_timeout<F: std::future::Future>(
    timeout: Duration,
    future: F,
) -> F::Output {
    CALL_HTTP_TIMEOUT.scope(timeout, future).await
}

/// What every request of a generated [`RawClient`] shares: the HTTP timeout to apply and the
/// largest success body to read.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct CallState {
    http_timeout: Duration,
    max_body: u64,
    /// Entra ID clusters: where the bearer token comes from.
    auth: Option<Arc<Auth>>,
}

impl CallState {
    pub(crate) fn new(http_timeout: Duration, max_body: u64, auth: Option<Arc<Auth>>) -> Self {
        Self {
            http_timeout,
            max_body,
            auth,
        }
    }
}

impl ClientHooks<CallState> for RawClient {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let own = CALL_HTTP_TIMEOUT.try_with(|t| *t).ok();
        *request.timeout_mut() = Some(own.map_or(self.inner().http_timeout, |own| {
            own.max(self.inner().http_timeout)
        }));
        if let Some(auth) = &self.inner().auth
            && info.operation_id != GET_AAD_METADATA_FN
        {
            // build() refuses http endpoints with a token; this holds for any URL whatsoever.
            if request.url().scheme() != "https" {
                return Err(Error::Custom(format!(
                    "{TOKEN_FAILED}not sent over plain http"
                )));
            }
            let (_, header) = auth
                .header()
                .await
                .map_err(|e| Error::Custom(format!("{TOKEN_FAILED}{e}")))?;
            request
                .headers_mut()
                .insert(reqwest::header::AUTHORIZATION, header);
        }
        Ok(())
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
        _info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        if let Ok(response) = result {
            tracing::Span::current().record("status", response.status().as_u16());
        }
        Ok(())
    }
}

/// Decodes a 2xx answer (build.rs routes the generated code here), reading at most the
/// client's limit: a longer body is `Error::Custom` starting with [`BODY_TOO_LARGE`].
pub(crate) async fn success_response<T: serde::de::DeserializeOwned, E>(
    client: &RawClient,
    mut response: reqwest::Response,
) -> Result<ResponseValue<T>, Error<E>> {
    let limit = client.inner().max_body;
    let too_large = || Error::Custom(format!("{BODY_TOO_LARGE}{limit} bytes"));
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let status = response.status();
    // Moved, not cloned: reading the body needs no header (its length comes from the body).
    let headers = std::mem::take(response.headers_mut());
    let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let body = read_bounded(response, cap)
        .await
        .map_err(Error::ResponseBodyError)?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    tracing::Span::current().record("bytes", body.len());
    match serde_json::from_slice(&body) {
        Ok(value) => Ok(ResponseValue::new(value, status, headers)),
        Err(e) => Err(Error::InvalidResponsePayload(body, e)),
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

/// Reads at most `limit` bytes of a body; the rest is left unread. A body that arrives in one
/// piece is returned as it is, without a copy (the common case for a page of names).
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> reqwest::Result<Bytes> {
    let expected = response.content_length();
    let Some(first) = response.chunk().await? else {
        return Ok(Bytes::new());
    };
    if first.len() >= limit {
        return Ok(first.slice(..limit));
    }
    if expected == Some(first.len() as u64) {
        return Ok(first);
    }
    // A Content-Length within the limit is trusted for the first allocation.
    let capacity = expected.map_or(0, |n| usize::try_from(n).unwrap_or(0).min(limit));
    let mut body = Vec::with_capacity(capacity.max(first.len()));
    body.extend_from_slice(&first);
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    Ok(Bytes::from(body))
}
