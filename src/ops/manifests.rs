//! The manifests of a provisioned application type version, as XML text: what a deploy
//! compares against to build a diff package.

use crate::{
    Client, Error, Result,
    transport::{answer::Answer, call::Resend},
};

fn check(what: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(what, value, "a non-empty value"));
    }
    Ok(())
}

impl Client {
    /// The `ApplicationManifest.xml` of version `version` of the provisioned type
    /// `type_name` (`GetApplicationManifest`). A type or version not provisioned is
    /// `FABRIC_E_APPLICATION_TYPE_NOT_FOUND`.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let xml = client.application_manifest("ShopType", "1.0.0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn application_manifest(&self, type_name: &str, version: &str) -> Result<String> {
        check("application type name", type_name)?;
        check("application type version", version)?;
        let (name, version_owned, timeout) =
            (type_name.to_string(), version.to_string(), self.timeout());
        let answer = self
            .call(
                "GetApplicationManifest",
                Resend::Safe,
                || format!("application type {type_name} {version}"),
                move |raw| {
                    let (name, version) = (name.clone(), version_owned.clone());
                    async move {
                        raw.get_application_manifest()
                            .application_type_name(name)
                            .application_type_version(version)
                            .timeout(timeout)
                            .send()
                            .await
                    }
                },
            )
            .await?;
        Ok(match answer {
            Answer::Body(raw) => raw.manifest.unwrap_or_default(),
            Answer::Empty => String::new(),
        })
    }

    /// The `ServiceManifest.xml` of the service `service_manifest` that version `version`
    /// of the provisioned type `type_name` imports (`GetServiceManifest`).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let xml = client.service_manifest("ShopType", "1.0.0", "WebPkg").await?;
    /// # Ok(()) }
    /// ```
    pub async fn service_manifest(
        &self,
        type_name: &str,
        version: &str,
        service_manifest: &str,
    ) -> Result<String> {
        check("application type name", type_name)?;
        check("application type version", version)?;
        check("service manifest name", service_manifest)?;
        let (name, version_owned, service, timeout) = (
            type_name.to_string(),
            version.to_string(),
            service_manifest.to_string(),
            self.timeout(),
        );
        let answer = self
            .call(
                "GetServiceManifest",
                Resend::Safe,
                || format!("service manifest {service_manifest} of {type_name} {version}"),
                move |raw| {
                    let (name, version, service) =
                        (name.clone(), version_owned.clone(), service.clone());
                    async move {
                        raw.get_service_manifest()
                            .application_type_name(name)
                            .application_type_version(version)
                            .service_manifest_name(service)
                            .timeout(timeout)
                            .send()
                            .await
                    }
                },
            )
            .await?;
        Ok(match answer {
            Answer::Body(raw) => raw.manifest.unwrap_or_default(),
            Answer::Empty => String::new(),
        })
    }
}
