//! Creating, checking and deleting Service Fabric names.

use reqwest::StatusCode;

use crate::{
    Client, Result,
    transport::{call::Resend, wire},
};

impl Client {
    /// Creates `name` (`fabric:/samples/x` or `samples/x`); missing parents are created too.
    /// An existing name fails with `FABRIC_E_NAME_ALREADY_EXISTS` (409).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.create_name("fabric:/myapp/config").await?;
    /// assert!(client.name_exists("fabric:/myapp").await?); // the parent, created implicitly
    /// # Ok(()) }
    /// ```
    pub async fn create_name(&self, name: &str) -> Result<()> {
        let full = format!("fabric:/{}", wire::name_id(name)?);
        let body = crate::generated::types::NameDescription {
            name: crate::generated::types::FabricName(full),
        };
        let timeout = self.timeout();
        self.call("CreateName", Resend::IfNotSent, about(name), |raw| {
            let body = body.clone();
            async move { raw.create_name().body(body).timeout(timeout).send().await }
        })
        .await
        .map(drop)
    }

    /// Whether `name` exists. The gateway answers a missing name with a bodiless 404.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// if !client.name_exists("fabric:/myapp").await? {
    ///     client.create_name("fabric:/myapp").await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn name_exists(&self, name: &str) -> Result<bool> {
        let name_id = wire::name_id(name)?;
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetNameExistsInfo",
                Resend::Safe,
                about(name),
                move |raw| async move {
                    raw.get_name_exists_info()
                        .name_id(name_id)
                        .timeout(timeout)
                        .send()
                        .await
                },
            )
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes `name`. A name with children fails with `FABRIC_E_NAME_NOT_EMPTY` (409), a
    /// missing one with `FABRIC_E_NAME_DOES_NOT_EXIST` (404).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.delete_name("fabric:/myapp/config").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_name(&self, name: &str) -> Result<()> {
        let name_id = wire::name_id(name)?;
        let timeout = self.timeout();
        self.call(
            "DeleteName",
            Resend::IfNotSent,
            about(name),
            move |raw| async move {
                raw.delete_name()
                    .name_id(name_id)
                    .timeout(timeout)
                    .send()
                    .await
            },
        )
        .await
        .map(drop)
    }
}

fn about(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("name {name}")
}
