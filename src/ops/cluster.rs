//! The cluster as a whole: its Entra ID settings (`GetAadMetadata`).

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
}
