//! Turns the generated client's outcome into the typed layer's.

use progenitor_client::ResponseValue;
use reqwest::StatusCode;

use crate::{
    Error, Result,
    generated::{self, types},
    transport::hooks::{BODY_TOO_LARGE, MAX_FAILURE_BODY, TOKEN_FAILED, read_bounded},
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
            Error::gateway(status, error.code, error.message).with_retry_after(&headers)
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
                .map_err(Error::from_reqwest)?;
            if status.is_success() || status.is_informational() {
                Error::decode(status, format!("unexpected status {status}"), &body)
            } else {
                Error::from_failure(status, &body).with_retry_after(&headers)
            }
        }
        E::InvalidResponsePayload(body, _) if body.iter().all(u8::is_ascii_whitespace) => {
            return Ok(Answer::Empty);
        }
        E::InvalidResponsePayload(body, e) => Error::decode(StatusCode::OK, e, &body),
        E::CommunicationError(e) | E::ResponseBodyError(e) | E::InvalidUpgrade(e) => {
            Error::from_reqwest(e)
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
