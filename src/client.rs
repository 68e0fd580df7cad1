//! The typed client: the three operations with Rust types, over the generated client.

use std::{sync::Arc, time::Duration};

use progenitor_client::{ClientInfo, ResponseValue};
use reqwest::StatusCode;

use crate::{
    Error, Result,
    generated::{self, types},
    hooks::CallState,
};

/// The gateway's own default server timeout, in seconds.
pub const DEFAULT_SERVER_TIMEOUT: u64 = 60;
/// How much longer than the server timeout the client waits, so the server gives up first and
/// says why.
const HTTP_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);
const MAX_SERVER_TIMEOUT: u64 = u32::MAX as u64;

/// A client for one cluster's HTTP gateway. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    endpoint: String,
    http: reqwest::Client,
    server_timeout: u64,
    http_timeout: Duration,
}

/// Configures a [`Client`]; see [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    endpoint: String,
    http: Option<reqwest::Client>,
    server_timeout: u64,
    http_timeout: Option<Duration>,
}

impl ClientBuilder {
    /// Uses a caller-built `reqwest::Client` (TLS identity, proxies, pool settings). Its own
    /// timeout is overridden per request by [`Self::http_timeout`].
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The `timeout` sent to the gateway, in seconds (1 ..= 4294967295; default 60).
    pub fn server_timeout(mut self, seconds: u64) -> Self {
        self.server_timeout = seconds;
        self
    }

    /// How long the client waits for an answer. Default: the server timeout plus 10 seconds.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        let endpoint = check_endpoint(&self.endpoint)?;
        if !(1..=MAX_SERVER_TIMEOUT).contains(&self.server_timeout) {
            return Err(Error::invalid(
                "timeout",
                self.server_timeout,
                "seconds in 1..=4294967295",
            ));
        }
        let http_timeout = self.http_timeout.unwrap_or_else(|| {
            Duration::from_secs(self.server_timeout).saturating_add(HTTP_TIMEOUT_MARGIN)
        });
        if http_timeout.is_zero() {
            return Err(Error::invalid("HTTP timeout", "0s", "a positive duration"));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .tcp_nodelay(true)
                .build()
                .map_err(Error::Transport)?,
        };
        Ok(Client {
            shared: Arc::new(Shared {
                endpoint,
                http,
                server_timeout: self.server_timeout,
                http_timeout,
            }),
        })
    }
}

fn check_endpoint(endpoint: &str) -> Result<String> {
    let expected = "an http(s) URL such as http://localhost:19080";
    let url = reqwest::Url::parse(endpoint)
        .map_err(|_| Error::invalid("endpoint", endpoint, expected))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::invalid("endpoint", endpoint, expected));
    }
    if url.scheme() == "https" && !cfg!(feature = "tls") {
        return Err(Error::invalid(
            "endpoint",
            endpoint,
            "an http:// URL (https needs this crate's `tls` feature)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            "endpoint",
            endpoint,
            "a URL without query or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A decoded success body, or the gateway's "nothing" (204, or 200 with an empty body).
pub(crate) enum Answer<T> {
    Body(T),
    Empty,
}

impl Client {
    /// A client for the gateway at `endpoint` (`http://localhost:19080` style), with defaults.
    pub fn new(endpoint: &str) -> Result<Self> {
        Self::builder(endpoint).build()
    }

    /// Starts configuring a client for the gateway at `endpoint`.
    pub fn builder(endpoint: &str) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.to_string(),
            http: None,
            server_timeout: DEFAULT_SERVER_TIMEOUT,
            http_timeout: None,
        }
    }

    /// The gateway URL, without a trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// The generated client for the same endpoint and connection pool, for the raw surface
    /// (every operation of the spec, progenitor's types and errors). It applies the same wire
    /// rules and HTTP timeout.
    pub fn raw(&self) -> generated::Client {
        generated::Client::new_with_client(
            &self.shared.endpoint,
            self.shared.http.clone(),
            CallState::new(self.shared.http_timeout),
        )
    }

    pub(crate) fn timeout(&self) -> u64 {
        self.shared.server_timeout
    }
}

/// Turns the generated client's outcome into the typed layer's.
pub(crate) async fn finish<T>(
    answer: std::result::Result<ResponseValue<T>, generated::Error<types::FabricError>>,
    raw: &generated::Client,
) -> Result<Answer<T>> {
    use generated::Error as E;
    let error = match answer {
        Ok(value) => return Ok(Answer::Body(value.into_inner())),
        Err(error) => error,
    };
    if let Some((status, body)) = raw.inner().take_failure() {
        return Err(Error::from_failure(status, &body));
    }
    match error {
        E::UnexpectedResponse(response) if response.status() == StatusCode::NO_CONTENT => {
            Ok(Answer::Empty)
        }
        E::UnexpectedResponse(response) => {
            let status = response.status();
            let body = response.bytes().await.map_err(Error::from_reqwest)?;
            Err(Error::decode(
                status,
                format!("unexpected status {status}"),
                &body,
            ))
        }
        E::InvalidResponsePayload(body, _) if body.iter().all(u8::is_ascii_whitespace) => {
            Ok(Answer::Empty)
        }
        E::InvalidResponsePayload(body, e) => Err(Error::decode(StatusCode::OK, e, &body)),
        E::CommunicationError(e) | E::ResponseBodyError(e) | E::InvalidUpgrade(e) => {
            Err(Error::from_reqwest(e))
        }
        E::ErrorResponse(value) => Err(Error::UnexpectedResponse {
            status: value.status(),
            body_snippet: String::new(),
        }),
        E::InvalidRequest(detail) | E::Custom(detail) => Err(Error::invalid(
            "request",
            detail,
            "a request the generated client accepts",
        )),
    }
}
