//! The one error type of the typed layer.

use std::{error::Error as _, time::Duration};

use reqwest::StatusCode;

use crate::ErrorCode;

/// Everything that can go wrong in a call, in a form callers can match on.
///
/// ```no_run
/// use servicefabric_rest::{Client, Error, ErrorCode};
///
/// # async fn demo(client: Client) {
/// match client.sub_names_page("fabric:/nope", false, None).await {
///     Ok(page) => println!("{} names", page.names.len()),
///     Err(Error::Gateway { code: ErrorCode::NameDoesNotExist, .. }) => println!("no such name"),
///     Err(e) if e.is_transient() => println!("try again later: {e}"),
///     Err(e) => println!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway answered with a `FabricError` body.
    #[error("gateway error {status}{}: {code}: {message}", about(.resource))]
    #[non_exhaustive]
    Gateway {
        /// HTTP status of the answer.
        status: StatusCode,
        /// The error code; codes the spec does not list are kept in [`ErrorCode::Unhandled`].
        code: ErrorCode,
        /// The gateway's message (`"Null"` for codes without a text).
        message: String,
        /// What the call was about (`name fabric:/x`, `content path a\b`, `upload session
        /// <id>`), when it was about one thing.
        resource: Option<String>,
        /// The answer's `Retry-After`, when it had one (seconds or an HTTP date).
        retry_after: Option<Duration>,
    },
    /// A failure status whose body is not a `FabricError`: a proxy's HTML page, an empty body.
    #[error(
        "HTTP {status}{} without a Service Fabric error body: {body_snippet:?}",
        about(.resource)
    )]
    #[non_exhaustive]
    UnexpectedResponse {
        /// HTTP status of the answer.
        status: StatusCode,
        /// The start of the body, lossily decoded (empty when there was none).
        body_snippet: String,
        /// What the call was about, as in [`Error::Gateway`].
        resource: Option<String>,
        /// The answer's `Retry-After`, when it had one.
        retry_after: Option<Duration>,
    },
    /// The gateway, or something in front of it, answered with a redirect (3xx). It is never
    /// followed: a chunk or a commit must not be re-sent to wherever a server points.
    #[error("HTTP {status} redirect to {location:?}{}: not followed", about(.resource))]
    #[non_exhaustive]
    Redirect {
        /// HTTP status of the answer.
        status: StatusCode,
        /// The `Location` header, when there was one.
        location: Option<String>,
        /// What the call was about, as in [`Error::Gateway`].
        resource: Option<String>,
    },
    /// The request did not complete within the client-side HTTP timeout.
    #[error("request timed out: {}", chain(.0))]
    Timeout(#[source] reqwest::Error),
    /// No connection could be made to the endpoint.
    #[error("cannot connect: {}", chain(.0))]
    Connect(#[source] reqwest::Error),
    /// The connection failed mid-request or mid-body (reset, truncated body).
    #[error("transport error: {}", chain(.0))]
    Transport(#[source] reqwest::Error),
    /// The gateway's certificate did not pass the configured validation (a pinned
    /// thumbprint or common name, or expiry): nothing was sent. Not retried.
    #[cfg(any(feature = "tls", feature = "native-tls"))]
    #[error("{mismatch} (endpoint {endpoint})")]
    ServerCertificate {
        /// What was expected and what the server showed.
        mismatch: crate::tls::CertificateMismatch,
        /// The gateway that showed it.
        endpoint: String,
    },
    /// A certificate or key file could not be used: it names the file and what is wrong
    /// (unreadable, no key, wrong password, no certificate, expired).
    #[error("certificate file {file}: {problem}")]
    Certificate {
        /// The file (or the source given for a buffer).
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The token provider gave no token (its own error), or one no header can carry. Not
    /// retried.
    #[error("no bearer token: {0}")]
    Token(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The gateway closed the connection right after a request was sent with a client
    /// certificate over rustls: most likely a Windows cluster that asks for the certificate
    /// after the handshake (TLS renegotiation), which rustls cannot do.
    #[cfg(feature = "tls")]
    #[error(
        "the gateway {endpoint} closed the connection right after the request was sent ({}). \
         A Windows cluster that asks for the client certificate after the handshake does this \
         (TLS renegotiation), which rustls cannot do: use the `native-tls` feature with \
         `TlsBackend::NativeTls` (sfrest: --tls-backend native), or have the cluster ask at the \
         handshake (`netsh http update sslcert ... clientcertnegotiation=enable`)",
        chain(.source)
    )]
    Renegotiation {
        /// The gateway.
        endpoint: String,
        /// What the connection did.
        #[source]
        source: reqwest::Error,
    },
    /// A success answer whose body does not decode (not JSON, truncated JSON, a 64-bit number
    /// that is not a number, a missing field).
    #[error("cannot decode the {status} answer: {detail} (body starts {body_snippet:?})")]
    Decode {
        /// HTTP status of the answer.
        status: StatusCode,
        /// What did not decode and why.
        detail: String,
        /// The start of the body, lossily decoded.
        body_snippet: String,
    },
    /// A success body longer than the client's limit
    /// ([`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes)); it
    /// was not read further.
    #[error("the {status} answer{} is larger than the limit of {limit} bytes", about(.resource))]
    #[non_exhaustive]
    BodyTooLarge {
        /// HTTP status of the answer.
        status: StatusCode,
        /// The limit in force.
        limit: u64,
        /// What the call was about, as in [`Error::Gateway`].
        resource: Option<String>,
    },
    /// Every chunk of an upload was acknowledged, twice over, and the session still misses
    /// bytes: the file was not committed.
    #[error(
        "upload session {session_id} still misses {missing:?} after every chunk was acknowledged; not committed"
    )]
    UploadIncomplete {
        /// The session.
        session_id: uuid::Uuid,
        /// The ranges it still expects.
        missing: Vec<crate::ChunkRange>,
    },
    /// After a package upload, the image store does not hold a file as it was sent (missing,
    /// or another size): its folders were not marked complete.
    #[error(
        "the image store holds {path} with {found:?} bytes, expected {expected}; the package was not marked complete"
    )]
    StoreMismatch {
        /// The file's path in the store.
        path: String,
        /// Its size on disk.
        expected: u64,
        /// Its size in the store; `None` when it is not there.
        found: Option<u64>,
    },
    /// Input refused before anything was sent.
    #[error("invalid {what} {value:?}: expected {expected}")]
    InvalidInput {
        /// Which input (`"name"`, `"content path"`, `"timeout"`, `"endpoint"`).
        what: &'static str,
        /// The value given.
        value: String,
        /// What was expected instead.
        expected: String,
    },
    /// The gateway handed back a continuation token it had already given in this enumeration;
    /// following it would loop forever.
    #[error("the gateway repeated continuation token {token:?}; stopping instead of looping")]
    RepeatedContinuationToken {
        /// The repeated token.
        token: String,
    },
    /// A workflow refused to act because the cluster's state says the step would do harm
    /// (an upgrade toward another version is running, say); `reason` says what stands and
    /// what to do.
    #[error("{reason}")]
    Refused {
        /// What stands and what to do.
        reason: String,
    },
}

/// ` (name fabric:/x)`, or nothing.
fn about(resource: &Option<String>) -> String {
    resource
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

/// An error and its causes, `: `-joined: reqwest's own message names only the URL, the cause
/// ("Connection refused") is further down. A cause its parent already quotes is skipped.
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

const SNIPPET_BYTES: usize = 256;

impl Error {
    /// An [`Error::InvalidInput`]: `what` names the input, `value` is what was given, and
    /// `expected` says what to give instead (for crates that build on this one).
    ///
    /// ```
    /// use servicefabric_rest::Error;
    ///
    /// let e = Error::invalid("chunk size", 0, "at least 1 byte");
    /// assert_eq!(e.to_string(), r#"invalid chunk size "0": expected at least 1 byte"#);
    /// ```
    pub fn invalid(what: &'static str, value: impl ToString, expected: &str) -> Self {
        Self::InvalidInput {
            what,
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// HTTP status of the answer, when there was one.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) {
    /// if let Err(e) = client.create_name("fabric:/samples").await {
    ///     println!("{:?}", e.status()); // Some(409) when it exists
    /// }
    /// # }
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Gateway { status, .. }
            | Self::UnexpectedResponse { status, .. }
            | Self::Redirect { status, .. }
            | Self::BodyTooLarge { status, .. }
            | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the gateway said the thing asked about does not exist (HTTP 404, with or
    /// without a `FabricError` body).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// match client.store_content_page(Some("MyApp"), None).await {
    ///     Err(e) if e.is_not_found() => println!("not in the store"),
    ///     other => println!("{:?}", other?.files),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// The gateway's error code, when the answer carried one.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) {
    /// if let Err(e) = client.delete_name("fabric:/samples").await {
    ///     if e.code().is_some_and(|c| c.as_str() == "FABRIC_E_NAME_NOT_EMPTY") {
    ///         println!("delete its children first");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Gateway { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether a retry may succeed: the 503/504 family (busy, failing over, timed out), proxy
    /// 502/503/504 pages, client timeouts and broken connections.
    ///
    /// The client has already retried such failures as its
    /// [`RetryPolicy`](crate::RetryPolicy) allows; this tells whether trying later may help.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) {
    /// match client.upload_sessions_by_path("Store\\App\\Code.zip").await {
    ///     Err(e) if e.is_transient() => eprintln!("the cluster is busy, try later: {e}"),
    ///     Err(e) => eprintln!("{e}"),
    ///     Ok(sessions) => println!("{} sessions", sessions.len()),
    /// }
    /// # }
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Gateway { status, code, .. } => {
                code.is_transient() || matches!(status.as_u16(), 503 | 504)
            }
            Self::UnexpectedResponse { status, .. } => matches!(status.as_u16(), 502..=504),
            Self::Timeout(_) | Self::Connect(_) | Self::Transport(_) => true,
            #[cfg(feature = "tls")]
            Self::Renegotiation { .. } => true,
            _ => false,
        }
    }

    /// Builds the error for a failure status from its raw body.
    /// How long the server asked to wait before trying again (`Retry-After`), if it did.
    ///
    /// ```
    /// # use servicefabric_rest::Error;
    /// # fn demo(error: &Error) {
    /// if let Some(wait) = error.retry_after() {
    ///     println!("the gateway asks for {} s", wait.as_secs());
    /// }
    /// # }
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Gateway { retry_after, .. } | Self::UnexpectedResponse { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    pub(crate) fn from_failure(status: StatusCode, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "Error")]
            error: Inner,
        }
        #[derive(serde::Deserialize)]
        struct Inner {
            #[serde(rename = "Code")]
            code: ErrorCode,
            #[serde(rename = "Message", default)]
            message: Option<String>,
        }
        match serde_json::from_slice::<Body>(body) {
            Ok(Body { error }) => Self::gateway(status, error.code, error.message),
            Err(_) => Self::UnexpectedResponse {
                status,
                body_snippet: snippet(body),
                resource: None,
                retry_after: None,
            },
        }
    }

    pub(crate) fn gateway(status: StatusCode, code: ErrorCode, message: Option<String>) -> Self {
        Self::Gateway {
            status,
            code,
            message: message.unwrap_or_default(),
            resource: None,
            retry_after: None,
        }
    }

    /// Names what the call was about in an answer's error (`name fabric:/x`).
    pub(crate) fn about(mut self, what: impl FnOnce() -> String) -> Self {
        if let Self::Gateway { resource, .. }
        | Self::UnexpectedResponse { resource, .. }
        | Self::Redirect { resource, .. }
        | Self::BodyTooLarge { resource, .. } = &mut self
        {
            *resource = Some(what());
        }
        self
    }

    pub(crate) fn decode(status: StatusCode, detail: impl ToString, body: &[u8]) -> Self {
        Self::Decode {
            status,
            detail: detail.to_string(),
            body_snippet: snippet(body),
        }
    }
}

/// The first bytes of a body, lossily decoded, cut on a character boundary.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(SNIPPET_BYTES)]);
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_decode_and_keep_the_raw_string() {
        let e = Error::from_failure(
            StatusCode::BAD_REQUEST,
            br#"{"Error":{"Code":"FABRIC_E_SOMETHING_NEW","Message":"m"}}"#,
        );
        assert_eq!(
            e.code(),
            Some(&ErrorCode::from_code("FABRIC_E_SOMETHING_NEW"))
        );
        assert_eq!(
            e.code().map(ErrorCode::as_str),
            Some("FABRIC_E_SOMETHING_NEW")
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn html_bodies_keep_status_and_snippet() {
        let e = Error::from_failure(StatusCode::BAD_GATEWAY, b"<html>502 Bad Gateway</html>");
        assert!(
            matches!(&e, Error::UnexpectedResponse { status, body_snippet, .. }
            if status.as_u16() == 502 && body_snippet.contains("502 Bad Gateway"))
        );
        assert!(e.is_transient());
    }
}
