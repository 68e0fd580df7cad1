//! The typed client: the three operations with Rust types, over the generated client.

use std::{sync::Arc, time::Duration};

use crate::{Error, Result, generated, hooks::CallState};

/// The gateway's own default server timeout, in seconds.
pub const DEFAULT_SERVER_TIMEOUT: u64 = 60;
/// How much longer than the server timeout the client waits, so the server gives up first and
/// says why.
const HTTP_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);
const MAX_SERVER_TIMEOUT: u64 = u32::MAX as u64;

/// A client for one cluster's HTTP gateway. Cheap to clone: clones share one connection pool.
///
/// ```no_run
/// use servicefabric_rest::Client;
///
/// # async fn demo() -> servicefabric_rest::Result<()> {
/// let client = Client::new("http://localhost:19080")?;
/// let exists = client.name_exists("fabric:/samples").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    endpoint: String,
    /// The generated client every call goes through; it holds the connection pool.
    raw: generated::Client,
    server_timeout: u64,
}

/// Configures a [`Client`]; see [`Client::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use servicefabric_rest::Client;
///
/// # fn demo() -> servicefabric_rest::Result<()> {
/// let client = Client::builder("http://localhost:19080")
///     .server_timeout(300)
///     .http_timeout(Duration::from_secs(320))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    endpoint: String,
    http: Option<reqwest::Client>,
    server_timeout: u64,
    http_timeout: Option<Duration>,
}

impl ClientBuilder {
    /// Uses a caller-built `reqwest::Client` (TLS identity, proxies, pool settings). Its own
    /// timeout is overridden per request by [`Self::http_timeout`]. Use this crate's
    /// re-exported [`reqwest`](crate::reqwest), so the versions match, and build it with
    /// `redirect(Policy::none())` as the default client is: a redirect the client follows
    /// re-sends request bodies elsewhere, and this crate cannot undo that.
    ///
    /// ```no_run
    /// use servicefabric_rest::{Client, reqwest};
    ///
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let http = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .pool_max_idle_per_host(4)
    ///     .build()?;
    /// let client = Client::builder("http://localhost:19080").http_client(http).build()?;
    /// # Ok(()) }
    /// ```
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The `timeout` sent to the gateway, in seconds (1 ..= 4294967295; default 60).
    /// [`Self::build`] refuses a value outside that range.
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// let client = Client::builder("http://localhost:19080").server_timeout(120).build();
    /// assert!(client.is_ok());
    /// assert!(Client::builder("http://localhost:19080").server_timeout(0).build().is_err());
    /// ```
    pub fn server_timeout(mut self, seconds: u64) -> Self {
        self.server_timeout = seconds;
        self
    }

    /// How long the client waits for an answer. Default: the server timeout plus 10 seconds,
    /// so the server gives up first and says why.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use servicefabric_rest::Client;
    /// let client = Client::builder("http://localhost:19080")
    ///     .http_timeout(Duration::from_secs(5))
    ///     .build();
    /// assert!(client.is_ok());
    /// ```
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    /// Checks the settings and builds the client. Nothing is sent yet.
    ///
    /// ```
    /// # use servicefabric_rest::{Client, Error};
    /// let err = Client::builder("localhost:19080").build().unwrap_err();
    /// assert!(matches!(err, Error::InvalidInput { what: "endpoint", .. }));
    /// ```
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
            // Never follow a redirect: reqwest would re-send a chunk body (with a Referer) to
            // wherever a 3xx points, and turn a commit into a GET.
            None => reqwest::Client::builder()
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(Error::Transport)?,
        };
        let raw = generated::Client::new_with_client(&endpoint, http, CallState::new(http_timeout));
        Ok(Client {
            shared: Arc::new(Shared {
                endpoint,
                raw,
                server_timeout: self.server_timeout,
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

impl Client {
    /// A client for the gateway at `endpoint` (`http://localhost:19080` style), with defaults.
    /// Refuses an endpoint that is not an http(s) URL, naming it.
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// let client = Client::new("http://localhost:19080")?;
    /// assert_eq!(client.endpoint(), "http://localhost:19080");
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn new(endpoint: &str) -> Result<Self> {
        Self::builder(endpoint).build()
    }

    /// Starts configuring a client for the gateway at `endpoint`.
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// let client = Client::builder("http://localhost:19080").server_timeout(30).build()?;
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn builder(endpoint: &str) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.to_string(),
            http: None,
            server_timeout: DEFAULT_SERVER_TIMEOUT,
            http_timeout: None,
        }
    }

    /// The gateway URL, without a trailing `/`.
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// assert_eq!(Client::new("http://h:19080/")?.endpoint(), "http://h:19080");
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// The generated client for the same endpoint and connection pool, for the raw surface
    /// (every operation of the spec, progenitor's types and errors). It applies the same wire
    /// rules and HTTP timeout, and fills in each operation's `api-version`. A failure answer
    /// that is not a `FabricError` (an empty 404, a proxy's HTML) comes back as
    /// `UnexpectedResponse`, with its status.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let page = client.raw().get_sub_name_info_list().name_id("samples").send().await?;
    /// println!("{:?}", page.into_inner().sub_names);
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> generated::Client {
        self.shared.raw.clone()
    }

    /// The generated client, borrowed: what the typed methods call.
    pub(crate) fn generated(&self) -> &generated::Client {
        &self.shared.raw
    }

    /// The server `timeout` sent on every call.
    pub(crate) fn timeout(&self) -> u64 {
        self.shared.server_timeout
    }
}
