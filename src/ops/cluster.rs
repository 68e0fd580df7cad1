//! The cluster as a whole: its Entra ID settings (`GetAadMetadata`) and version.

use crate::{
    Client, Result,
    transport::{
        answer::Answer,
        auth::{AadMetadata, GET_AAD_METADATA},
        call::Resend,
    },
};

impl Client {
    /// The cluster's Entra ID settings (`GetAadMetadata`, which needs no credentials), or
    /// `None` for a cluster that does not use Entra ID.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// if let Some(aad) = client.aad_metadata().await? {
    ///     println!("tenant {}, scope {}", aad.tenant, aad.scope());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn aad_metadata(&self) -> Result<Option<AadMetadata>> {
        let timeout = self.timeout();
        let answer = self
            .call(
                GET_AAD_METADATA,
                Resend::Safe,
                || "Entra ID metadata".to_string(),
                move |raw| async move { raw.get_aad_metadata().timeout(timeout).send().await },
            )
            .await?;
        Ok(match answer {
            Answer::Body(object) => AadMetadata::from_wire(object),
            Answer::Empty => None,
        })
    }

    /// The cluster's runtime version (`GetClusterVersion`), such as `9.1.1436.9590`.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// println!("runtime {}", client.cluster_version().await?);
    /// # Ok(()) }
    /// ```
    pub async fn cluster_version(&self) -> Result<String> {
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetClusterVersion",
                Resend::Safe,
                || "the cluster".to_string(),
                move |raw| async move { raw.get_cluster_version().timeout(timeout).send().await },
            )
            .await?;
        match answer {
            Answer::Body(raw) => Ok(raw.version.unwrap_or_default()),
            Answer::Empty => Ok(String::new()),
        }
    }
}
