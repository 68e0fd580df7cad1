//! The typed client: the three operations with Rust types, over the generated client.

use std::{sync::Arc, time::Duration};

use crate::{
    Error, Result, RetryPolicy,
    auth::{Auth, TokenProvider},
    generated,
    transport::{
        answer::Answer,
        call::{Outcome, Resend, Transport},
        endpoints::Endpoints,
        hooks::CallState,
    },
};

/// The gateway's own default server timeout, in seconds.
pub const DEFAULT_SERVER_TIMEOUT: u64 = 60;
/// How much longer than the server timeout the client waits, so the server gives up first and
/// says why.
const HTTP_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);
const MAX_SERVER_TIMEOUT: u64 = u32::MAX as u64;
/// The default limit of a success body: a page of names is a few MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// How long a gateway that failed is left alone when there are others.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);

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
    transport: Arc<Transport>,
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
    endpoints: Vec<String>,
    http: Option<reqwest::Client>,
    server_timeout: u64,
    http_timeout: Option<Duration>,
    policy: RetryPolicy,
    max_body: u64,
    cooldown: Duration,
    token: Option<Arc<dyn TokenProvider>>,
    #[cfg(any(feature = "tls", feature = "native-tls"))]
    tls: Option<crate::tls::TlsSettings>,
}

impl std::fmt::Debug for dyn TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenProvider")
    }
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

    /// The cluster's gateways (one per node), replacing the endpoint given to
    /// [`Client::builder`]. Calls go to one until it cannot be reached or times out, then to
    /// the next; a gateway that failed is tried again after [`Self::endpoint_cooldown`]. Only
    /// calls that may be re-sent move on mid-call (see [`RetryPolicy`]).
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// let client = Client::builder("http://node0:19080")
    ///     .endpoints(["http://node0:19080", "http://node1:19080", "http://node2:19080"])
    ///     .build()?;
    /// assert_eq!(client.endpoints().count(), 3);
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.endpoints = endpoints
            .into_iter()
            .map(|e| e.as_ref().to_string())
            .collect();
        self
    }

    /// How long a gateway that failed is skipped when there are others (default 30 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use servicefabric_rest::Client;
    /// let client = Client::builder("http://node0:19080")
    ///     .endpoints(["http://node0:19080", "http://node1:19080"])
    ///     .endpoint_cooldown(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn endpoint_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// When failed calls are sent again; on by default ([`RetryPolicy::default`]),
    /// off with [`RetryPolicy::none`].
    ///
    /// ```
    /// # use servicefabric_rest::{Client, RetryPolicy};
    /// let client = Client::builder("http://localhost:19080")
    ///     .retry_policy(RetryPolicy::default().max_retries(5))
    ///     .build()?;
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The largest success body read, in bytes (default 64 MiB); a longer one fails with
    /// [`Error::BodyTooLarge`] instead of filling memory.
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// let client = Client::builder("http://localhost:19080")
    ///     .max_response_bytes(16 * 1024 * 1024)
    ///     .build()?;
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// The client certificate for clusters that authenticate clients by certificate.
    ///
    /// ```no_run
    /// use servicefabric_rest::{Client, tls::{Identity, ServerValidation}};
    ///
    /// # fn demo() -> servicefabric_rest::Result<()> {
    /// let client = Client::builder("https://mycluster.westeurope.cloudapp.azure.com:19080")
    ///     .client_identity(Identity::from_pem_files("client.pem", None)?)
    ///     .server_validation(ServerValidation::thumbprints(["6C9F0E41362F7B81D7856E5A6E07423B3E451F0A"])?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg(any(feature = "tls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "native-tls"))))]
    pub fn client_identity(mut self, identity: crate::tls::Identity) -> Self {
        self.tls.get_or_insert_with(Default::default).identity = Some(identity);
        self
    }

    /// How the gateway's certificate is checked (default: the system's roots and the host
    /// name); see [`ServerValidation`](crate::tls::ServerValidation).
    #[cfg(any(feature = "tls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "native-tls"))))]
    pub fn server_validation(mut self, validation: crate::tls::ServerValidation) -> Self {
        self.tls.get_or_insert_with(Default::default).validation = validation;
        self
    }

    /// Which TLS library does the handshake, when both features are on (default: rustls).
    #[cfg(any(feature = "tls", feature = "native-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "native-tls"))))]
    pub fn tls_backend(mut self, backend: crate::tls::TlsBackend) -> Self {
        self.tls.get_or_insert_with(Default::default).backend = backend;
        self
    }

    /// Where bearer tokens come from, for clusters secured with Entra ID; see
    /// [`auth`](crate::auth). Every endpoint must then be `https://`: [`Self::build`] refuses
    /// to send a token over plain http.
    ///
    /// ```
    /// use servicefabric_rest::{Client, Error, auth};
    ///
    /// let err = Client::builder("http://localhost:19080")
    ///     .token_provider(auth::static_token("eyJ0eXAi..."))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::InvalidInput { what: "endpoint", .. }));
    /// assert!(!err.to_string().contains("eyJ0eXAi"));
    /// ```
    pub fn token_provider(mut self, provider: impl TokenProvider + 'static) -> Self {
        self.token = Some(Arc::new(provider));
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
        if self.endpoints.is_empty() {
            return Err(Error::invalid(
                "endpoint",
                "",
                "at least one http(s) URL such as http://localhost:19080",
            ));
        }
        let urls = self
            .endpoints
            .iter()
            .map(|e| check_endpoint(e))
            .collect::<Result<Vec<_>>>()?;
        if self.token.is_some()
            && let Some(plain) = urls.iter().find(|u| u.starts_with("http:"))
        {
            return Err(Error::invalid(
                "endpoint",
                plain,
                "an https:// URL: a bearer token is never sent over plain http",
            ));
        }
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
            Some(http) => {
                #[cfg(any(feature = "tls", feature = "native-tls"))]
                if self.tls.is_some() {
                    return Err(Error::invalid(
                        "client settings",
                        "http_client together with TLS settings",
                        "one of them: TLS settings apply to the client this builder makes",
                    ));
                }
                http
            }
            None => {
                // Never follow a redirect: reqwest would re-send a chunk body (with a Referer)
                // to wherever a 3xx points, and turn a commit into a GET.
                let builder = reqwest::Client::builder()
                    .tcp_nodelay(true)
                    .redirect(reqwest::redirect::Policy::none());
                #[cfg(any(feature = "tls", feature = "native-tls"))]
                let builder = match &self.tls {
                    Some(tls) => tls.apply(builder)?,
                    None => builder,
                };
                builder.build().map_err(Error::Transport)?
            }
        };
        #[cfg(feature = "tls")]
        let renegotiation_hint = self.tls.as_ref().is_some_and(|tls| {
            tls.identity.is_some() && tls.backend == crate::tls::TlsBackend::Rustls
        });
        let auth = self.token.map(|provider| Arc::new(Auth::new(provider)));
        let state = CallState::new(http_timeout, self.max_body, auth.clone());
        let endpoints = urls
            .into_iter()
            .map(|url| {
                let raw = generated::Client::new_with_client(&url, http.clone(), state.clone());
                (url, raw)
            })
            .collect();
        Ok(Client {
            transport: Arc::new(Transport {
                endpoints: Endpoints::new(endpoints, self.cooldown),
                policy: self.policy,
                server_timeout: self.server_timeout,
                max_body: self.max_body,
                auth,
                #[cfg(feature = "tls")]
                renegotiation_hint,
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
    if url.scheme() == "https" && !cfg!(any(feature = "tls", feature = "native-tls")) {
        return Err(Error::invalid(
            "endpoint",
            endpoint,
            "an http:// URL (https needs this crate's `tls` or `native-tls` feature)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // A password in the URL would end up in logs and spans; the gateway does not use one.
        return Err(Error::invalid(
            "endpoint",
            "(a URL with credentials, not shown)",
            "a URL without user or password",
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
            endpoints: vec![endpoint.to_string()],
            http: None,
            server_timeout: DEFAULT_SERVER_TIMEOUT,
            http_timeout: None,
            policy: RetryPolicy::default(),
            max_body: DEFAULT_MAX_RESPONSE_BYTES,
            cooldown: DEFAULT_COOLDOWN,
            token: None,
            #[cfg(any(feature = "tls", feature = "native-tls"))]
            tls: None,
        }
    }

    /// The gateway calls go to now, without a trailing `/`.
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// assert_eq!(Client::new("http://h:19080/")?.endpoint(), "http://h:19080");
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn endpoint(&self) -> &str {
        &self.transport.endpoints.current().url
    }

    /// Every gateway of this client, in the order given.
    ///
    /// ```
    /// # use servicefabric_rest::Client;
    /// let client = Client::new("http://h:19080")?;
    /// assert_eq!(client.endpoints().collect::<Vec<_>>(), ["http://h:19080"]);
    /// # Ok::<(), servicefabric_rest::Error>(())
    /// ```
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.transport.endpoints.urls()
    }

    /// The generated client for the current endpoint and the same connection pool, for the raw
    /// surface (every operation of the spec, progenitor's types and errors). It applies the
    /// same wire rules, HTTP timeout and body limit, and fills in each operation's
    /// `api-version`; it does not retry or fail over. A failure answer that is not a
    /// `FabricError` (an empty 404, a proxy's HTML) comes back as `UnexpectedResponse`, with
    /// its status.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let page = client.raw().get_sub_name_info_list().name_id("samples").send().await?;
    /// println!("{:?}", page.into_inner().sub_names);
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> generated::Client {
        generated::Client::clone(&self.transport.endpoints.current().raw)
    }

    /// Runs one operation through the request policy; see [`Transport::call`].
    pub(crate) async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        resend: Resend,
        about: impl FnOnce() -> String,
        send: F,
    ) -> Result<Answer<T>>
    where
        F: Fn(Arc<generated::Client>) -> Fut,
        Fut: std::future::Future<Output = Outcome<T>>,
    {
        self.transport.call(operation, resend, about, send).await
    }

    /// Runs an operation that must not act twice; see [`Transport::call_checked`].
    pub(crate) async fn call_checked<T, F, Fut, C, CFut>(
        &self,
        operation: &'static str,
        about: impl Fn() -> String,
        send: F,
        check: C,
    ) -> Result<Answer<T>>
    where
        F: Fn(Arc<generated::Client>) -> Fut,
        Fut: std::future::Future<Output = Outcome<T>>,
        C: Fn() -> CFut,
        CFut: std::future::Future<Output = Result<bool>>,
    {
        self.transport
            .call_checked(operation, about, send, check)
            .await
    }

    pub(crate) fn policy(&self) -> &RetryPolicy {
        &self.transport.policy
    }

    /// The server `timeout` sent on every call.
    pub(crate) fn timeout(&self) -> u64 {
        self.transport.server_timeout
    }
}
