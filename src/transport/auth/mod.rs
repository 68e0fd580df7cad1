//! Entra ID (AAD) clusters: where the bearer token comes from ([`TokenProvider`]), and the
//! client's cache of it.
//!
//! The client asks its provider for a token before the first call, keeps it until it is about
//! to expire, and asks again, once, with [`TokenRequest::refresh`] set, when the gateway answers
//! 401 or 403. Tokens go over https only; they never appear in `Debug` output, errors or spans.

use std::{
    fmt,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use futures::future::BoxFuture;
use reqwest::header::HeaderValue;

#[cfg(feature = "azure-identity")]
mod azure;
#[cfg(feature = "azure-identity")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure-identity")))]
pub use azure::AzureCredential;

use crate::{Error, Result, generated::types};

/// An error from a token provider (for example, `azure_identity`'s).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A token is fetched again this long before it expires, so no request carries a token that
/// expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

/// A bearer token and when it expires. Its `Debug` output hides the token.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use servicefabric_rest::auth::AccessToken;
///
/// let token = AccessToken::new("eyJ0eXAi...").expires_at(SystemTime::now() + Duration::from_secs(3600));
/// assert!(!format!("{token:?}").contains("eyJ0eXAi"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    secret: String,
    expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// A token that the client keeps until the gateway refuses it.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            expires_at: None,
        }
    }

    /// When the token expires: the client asks for a new one shortly before.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The token itself, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When the token expires, when known.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A cluster's Entra ID settings, from `GetAadMetadata` ([`Client::aad_metadata`](crate::Client::aad_metadata)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AadMetadata {
    /// The authority URL (`https://login.microsoftonline.com/<tenant>`).
    pub authority: String,
    /// The client application id, for interactive logins.
    pub client: String,
    /// The cluster application id: the audience of the tokens the gateway accepts.
    pub cluster: String,
    /// The login URL.
    pub login: String,
    /// The client application's redirect address.
    pub redirect: String,
    /// The tenant id.
    pub tenant: String,
}

impl AadMetadata {
    /// The scope to ask a token for: `{cluster}/.default`.
    ///
    /// ```
    /// # use servicefabric_rest::auth::AadMetadata;
    /// # fn demo(metadata: AadMetadata) {
    /// println!("az account get-access-token --scope {}", metadata.scope());
    /// # }
    /// ```
    pub fn scope(&self) -> String {
        format!("{}/.default", self.cluster)
    }

    /// `None` for a cluster without Entra ID (an empty `type`).
    pub(crate) fn from_wire(object: types::AadMetadataObject) -> Option<Self> {
        if !object
            .type_
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aad"))
        {
            return None;
        }
        let m = object.metadata.unwrap_or_default();
        Some(Self {
            authority: m.authority.unwrap_or_default(),
            client: m.client.unwrap_or_default(),
            cluster: m.cluster.unwrap_or_default(),
            login: m.login.unwrap_or_default(),
            redirect: m.redirect.unwrap_or_default(),
            tenant: m.tenant.unwrap_or_default(),
        })
    }
}

/// What the client asks a [`TokenProvider`] for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenRequest {
    /// The cluster's Entra ID settings, when the provider asked for them
    /// ([`TokenProvider::needs_metadata`]) and the cluster has them.
    pub metadata: Option<Arc<AadMetadata>>,
    /// The gateway refused the last token (401/403): do not hand back a cached one.
    pub refresh: bool,
}

impl TokenRequest {
    /// The scope the token is for (`{cluster}/.default`), when the metadata is known.
    pub fn scope(&self) -> Option<String> {
        self.metadata.as_ref().map(|m| m.scope())
    }
}

/// Where the client gets bearer tokens for an Entra ID cluster: [`static_token`], a closure
/// ([`token_fn`]), `azure_identity`'s credentials (`AzureCredential`, feature
/// `azure-identity`), or your own.
pub trait TokenProvider: Send + Sync {
    /// A token for the cluster.
    fn token(
        &self,
        request: TokenRequest,
    ) -> BoxFuture<'_, std::result::Result<AccessToken, BoxError>>;

    /// Whether [`TokenRequest::metadata`] should be filled in (one `GetAadMetadata` call per
    /// client). Default: yes.
    fn needs_metadata(&self) -> bool {
        true
    }
}

/// A provider that always hands out the same token (from `az account get-access-token`, a
/// pipeline variable, ...). It cannot refresh: when the gateway refuses it, the call fails
/// with the gateway's 401/403.
///
/// ```no_run
/// use servicefabric_rest::{Client, auth};
///
/// # fn demo() -> servicefabric_rest::Result<()> {
/// let token = std::env::var("SF_TOKEN").unwrap_or_default();
/// let client = Client::builder("https://mycluster.westeurope.cloudapp.azure.com:19080")
///     .token_provider(auth::static_token(token))
///     .build()?;
/// # Ok(()) }
/// ```
pub fn static_token(token: impl Into<String>) -> StaticToken {
    StaticToken(AccessToken::new(token))
}

/// See [`static_token`].
#[derive(Debug, Clone)]
pub struct StaticToken(AccessToken);

impl TokenProvider for StaticToken {
    fn token(&self, _: TokenRequest) -> BoxFuture<'_, std::result::Result<AccessToken, BoxError>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }

    fn needs_metadata(&self) -> bool {
        false
    }
}

/// A provider from an async closure, given the cluster's metadata and whether the last token
/// was refused.
///
/// ```no_run
/// use servicefabric_rest::{Client, auth::{self, AccessToken, TokenRequest}};
///
/// # async fn fetch_token(scope: Option<String>, force: bool) -> Result<String, std::io::Error> { Ok(String::new()) }
/// # fn demo() -> servicefabric_rest::Result<()> {
/// let provider = auth::token_fn(|request: TokenRequest| async move {
///     let token = fetch_token(request.scope(), request.refresh).await?;
///     Ok::<_, std::io::Error>(AccessToken::new(token))
/// });
/// let client = Client::builder("https://mycluster.westeurope.cloudapp.azure.com:19080")
///     .token_provider(provider)
///     .build()?;
/// # Ok(()) }
/// ```
pub fn token_fn<F, Fut, E>(f: F) -> TokenFn<F>
where
    F: Fn(TokenRequest) -> Fut + Send + Sync,
    Fut: Future<Output = std::result::Result<AccessToken, E>> + Send + 'static,
    E: Into<BoxError>,
{
    TokenFn(f)
}

/// See [`token_fn`].
pub struct TokenFn<F>(F);

impl<F> fmt::Debug for TokenFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenFn")
    }
}

impl<F, Fut, E> TokenProvider for TokenFn<F>
where
    F: Fn(TokenRequest) -> Fut + Send + Sync,
    Fut: Future<Output = std::result::Result<AccessToken, E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn token(
        &self,
        request: TokenRequest,
    ) -> BoxFuture<'_, std::result::Result<AccessToken, BoxError>> {
        let fut = (self.0)(request);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

/// The client's side: the provider, the metadata fetched once, and the current token.
pub(crate) struct Auth {
    provider: Arc<dyn TokenProvider>,
    metadata: tokio::sync::OnceCell<Option<Arc<AadMetadata>>>,
    current: Mutex<Current>,
    /// One fetch at a time: concurrent calls wait for it instead of each asking the provider.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Current {
    /// Counts tokens fetched; a refusal names the one it refused.
    generation: u64,
    header: Option<HeaderValue>,
    renew_at: Option<SystemTime>,
    refused: bool,
}

impl Current {
    fn usable(&self) -> Option<(u64, HeaderValue)> {
        let fresh = self.renew_at.is_none_or(|at| SystemTime::now() < at);
        match &self.header {
            Some(header) if fresh && !self.refused => Some((self.generation, header.clone())),
            _ => None,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("metadata", &self.metadata.get())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn new(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            provider,
            metadata: tokio::sync::OnceCell::new(),
            current: Mutex::new(Current::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn needs_metadata(&self) -> bool {
        self.provider.needs_metadata() && !self.metadata.initialized()
    }

    /// Keeps the metadata the client fetched (the first one wins).
    pub(crate) fn set_metadata(&self, metadata: Option<AadMetadata>) {
        let _ = self.metadata.set(metadata.map(Arc::new));
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        // The guarded data is always consistent: a panic elsewhere cannot leave it half-set.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `Authorization` header to send and the generation of its token, asking the provider
    /// when there is none, it is about to expire, or the gateway refused it.
    pub(crate) async fn header(&self) -> Result<(u64, HeaderValue)> {
        if let Some(usable) = self.current().usable() {
            return Ok(usable);
        }
        let _one_at_a_time = self.fetching.lock().await;
        let refresh = {
            let current = self.current();
            if let Some(usable) = current.usable() {
                return Ok(usable);
            }
            current.header.is_some()
        };
        let request = TokenRequest {
            metadata: self.metadata.get().cloned().flatten(),
            refresh,
        };
        let token = self.provider.token(request).await.map_err(Error::Token)?;
        let mut header =
            HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
                Error::Token("the token holds characters an HTTP header cannot carry".into())
            })?;
        header.set_sensitive(true);
        let mut current = self.current();
        current.generation += 1;
        current.header = Some(header.clone());
        current.renew_at = token
            .expires_at
            .map(|at| at.checked_sub(EXPIRY_MARGIN).unwrap_or(at));
        current.refused = false;
        Ok((current.generation, header))
    }

    /// The gateway refused the token of `generation`: the next call asks for a new one.
    pub(crate) fn refused(&self, generation: u64) {
        let mut current = self.current();
        if current.generation == generation {
            current.refused = true;
        }
    }
}

/// The one operation sent without a token: clients call it to learn how to get one.
pub(crate) const GET_AAD_METADATA: &str = "GetAadMetadata";
/// Its name in the generated client (progenitor's `OperationInfo::operation_id`).
pub(crate) const GET_AAD_METADATA_FN: &str = "get_aad_metadata";
