//! `azure_identity`'s credentials as a [`TokenProvider`] (feature `azure-identity`).

use std::{sync::Arc, time::SystemTime};

use azure_core::credentials::{TokenCredential, TokenRequestOptions};
use futures::future::BoxFuture;

use super::{AccessToken, BoxError, TokenProvider, TokenRequest};

/// Tokens from an `azure_identity` credential (Azure CLI, managed identity, workload
/// identity, client secret...), for the scope the cluster names in its metadata. The
/// credential caches and refreshes on its own; after a refusal the client asks again.
///
/// ```no_run
/// use std::sync::Arc;
/// use servicefabric_rest::{Client, auth::AzureCredential};
///
/// # fn demo(credential: Arc<dyn azure_core::credentials::TokenCredential>) -> servicefabric_rest::Result<()> {
/// // e.g. azure_identity::ManagedIdentityCredential::new(None)?
/// let client = Client::builder("https://mycluster.westeurope.cloudapp.azure.com:19080")
///     .token_provider(AzureCredential::new(credential))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AzureCredential {
    credential: Arc<dyn TokenCredential>,
    scope: Option<String>,
}

impl AzureCredential {
    /// Uses `credential`, with the scope from the cluster's `GetAadMetadata`.
    pub fn new(credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            credential,
            scope: None,
        }
    }

    /// Asks for this scope instead (`{cluster application id}/.default`), and skips the
    /// metadata call.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

impl TokenProvider for AzureCredential {
    fn token(&self, request: TokenRequest) -> BoxFuture<'_, Result<AccessToken, BoxError>> {
        Box::pin(async move {
            let scope = self.scope.clone().or_else(|| request.scope()).ok_or(
                "the cluster does not use Entra ID (its GetAadMetadata has no `aad` type), \
                 and no scope was given with AzureCredential::with_scope",
            )?;
            let token = self
                .credential
                .get_token(&[scope.as_str()], Some(TokenRequestOptions::default()))
                .await?;
            Ok(AccessToken::new(token.token.secret())
                .expires_at(SystemTime::from(token.expires_on)))
        })
    }

    fn needs_metadata(&self) -> bool {
        self.scope.is_none()
    }
}
