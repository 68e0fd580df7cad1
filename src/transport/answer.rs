//! Turns the generated client's outcome into the typed layer's.

use progenitor_client::ResponseValue;
use reqwest::StatusCode;

use super::{
    hooks::{BODY_TOO_LARGE, MAX_FAILURE_BODY, TOKEN_FAILED, read_bounded},
    policy::parse_retry_after,
};
use crate::{
    Error, Result,
    generated::{self, types},
};

/// A decoded success body, or the gateway's "nothing" (204, or 200 with an empty body).
pub(crate) enum Answer<T> {
    Body(T),
    Empty,
}

/// Maps a generated call's outcome; `max_body` is the success-body limit it ran with.
pub(crate) async fn finish<T>(
    answer: std::result::Result<ResponseValue<T>, generated::Error<types::FabricError>>,
    max_body: u64,
) -> Result<Answer<T>> {
    use generated::Error as E;
    let error = match answer {
        Ok(value) => return Ok(Answer::Body(value.into_inner())),
        Err(error) => error,
    };
    let error = match error {
        E::ErrorResponse(value) => {
            let status = value.status();
            let headers = value.headers().clone();
            let error = value.into_inner().error;
            with_retry_after(Error::gateway(status, error.code, error.message), &headers)
        }
        E::UnexpectedResponse(response) if response.status() == StatusCode::NO_CONTENT => {
            return Ok(Answer::Empty);
        }
        E::UnexpectedResponse(response) if response.status().is_redirection() => Error::Redirect {
            status: response.status(),
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            resource: None,
        },
        E::UnexpectedResponse(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_bounded(response, MAX_FAILURE_BODY)
                .await
                .map_err(from_reqwest)?;
            if status.is_success() || status.is_informational() {
                Error::decode(status, format!("unexpected status {status}"), &body)
            } else {
                with_retry_after(Error::from_failure(status, &body), &headers)
            }
        }
        E::InvalidResponsePayload(body, _) if body.iter().all(u8::is_ascii_whitespace) => {
            return Ok(Answer::Empty);
        }
        E::InvalidResponsePayload(body, e) => Error::decode(StatusCode::OK, e, &body),
        E::CommunicationError(e) | E::ResponseBodyError(e) | E::InvalidUpgrade(e) => {
            from_reqwest(e)
        }
        E::Custom(detail) if detail.starts_with(BODY_TOO_LARGE) => Error::BodyTooLarge {
            status: StatusCode::OK,
            limit: max_body,
            resource: None,
        },
        E::Custom(detail) if detail.starts_with(TOKEN_FAILED) => {
            Error::Token(detail[TOKEN_FAILED.len()..].to_string().into())
        }
        E::InvalidRequest(detail) | E::Custom(detail) => {
            Error::invalid("request", detail, "a request the generated client accepts")
        }
    };
    Err(error)
}

/// Keeps the answer's `Retry-After` in a status error.
fn with_retry_after(mut error: Error, headers: &reqwest::header::HeaderMap) -> Error {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| parse_retry_after(v.as_bytes()));
    if let Error::Gateway { retry_after, .. } | Error::UnexpectedResponse { retry_after, .. } =
        &mut error
    {
        *retry_after = value;
    }
    error
}

/// A connection's failure: a certificate the validation refused, a timeout, no connection, or
/// a connection that broke.
pub(crate) fn from_reqwest(e: reqwest::Error) -> Error {
    #[cfg(any(feature = "tls", feature = "native-tls"))]
    if let Some(mismatch) = super::tls::mismatch_in(&e) {
        let endpoint = e
            .url()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        return Error::ServerCertificate { mismatch, endpoint };
    }
    if e.is_timeout() {
        Error::Timeout(e)
    } else if e.is_connect() {
        Error::Connect(e)
    } else {
        Error::Transport(e)
    }
}
