//! Application types: provision one from a package in the image store or an `.sfpkg` at a
//! URI, list the provisioned versions, unprovision one.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use progenitor_client::ResponseValue;
use reqwest::StatusCode;

use crate::{
    Client, Error, Result,
    generated::types,
    open_enum::open_enum,
    ops::applications::parameters_from_wire,
    paging::{self, ItemPage, Pages},
    paths::package_path,
    transport::{answer::Answer, call::Resend, hooks},
};

/// Server timeout of a provision unless set (seconds): a synchronous provision of a large
/// package takes minutes, and the native tools allow 30 of them.
pub const DEFAULT_PROVISION_TIMEOUT: u64 = 1800;

/// Where the application package to provision is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationPackage {
    /// A package folder already in the image store (see `upload_package` in servicefabric-deploy).
    ImageStore {
        /// The folder's path from the store root (`MyAppPkg`).
        path: String,
        /// What to do with the uploaded package once provisioned.
        cleanup: CleanupPolicy,
    },
    /// An `.sfpkg` the cluster downloads itself.
    External {
        /// An http(s) URI of the `.sfpkg`.
        uri: String,
        /// The application type name in its manifest.
        type_name: String,
        /// The application type version in its manifest.
        type_version: String,
    },
}

/// What happens to the package in the image store after a successful provision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// The cluster's setting decides.
    #[default]
    Default,
    /// The package is deleted.
    Automatic,
    /// The package stays until deleted.
    Manual,
}

/// Settings of [`Client::provision_application_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionOptions {
    /// Return once the gateway accepted the request (202) instead of when it is done (200).
    pub asynchronous: bool,
    /// The server timeout of this call, in seconds (default 1800); the HTTP timeout grows
    /// with it.
    pub server_timeout: u64,
}

impl Default for ProvisionOptions {
    fn default() -> Self {
        Self {
            asynchronous: false,
            server_timeout: DEFAULT_PROVISION_TIMEOUT,
        }
    }
}

/// How a provision request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    /// The type is registered (200).
    Done,
    /// The request was accepted and runs on (202, asynchronous).
    Accepted,
}

impl Client {
    /// Provisions (registers) an application type, synchronously (200) unless
    /// [`ProvisionOptions::asynchronous`] (202). A type and version already provisioned fails
    /// with `FABRIC_E_APPLICATION_TYPE_ALREADY_EXISTS` (409). Re-sent after a transient
    /// failure; a re-sent one that finds the type already there (the first had acted) is
    /// done.
    ///
    /// ```no_run
    /// use servicefabric_rest::{ApplicationPackage, CleanupPolicy, ProvisionOptions};
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let package = ApplicationPackage::ImageStore {
    ///     path: "MyAppPkg".into(),
    ///     cleanup: CleanupPolicy::Default,
    /// };
    /// client.provision_application_type(&package, &ProvisionOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn provision_application_type(
        &self,
        package: &ApplicationPackage,
        options: &ProvisionOptions,
    ) -> Result<Provisioned> {
        if !(1..=u64::from(u32::MAX)).contains(&options.server_timeout) {
            return Err(Error::invalid(
                "timeout",
                options.server_timeout,
                "seconds in 1..=4294967295",
            ));
        }
        let asynchronous = options.asynchronous;
        let (body, about) = match package {
            ApplicationPackage::ImageStore { path, cleanup } => (
                types::ProvisionApplicationTypeDescriptionBase::ImageStorePath {
                    application_type_build_path: package_path(path)?.to_string(),
                    application_package_cleanup_policy: Some(match cleanup {
                        CleanupPolicy::Default => types::ApplicationPackageCleanupPolicy::Default,
                        CleanupPolicy::Automatic => {
                            types::ApplicationPackageCleanupPolicy::Automatic
                        }
                        CleanupPolicy::Manual => types::ApplicationPackageCleanupPolicy::Manual,
                    }),
                    async_: asynchronous,
                },
                format!("application package {path}"),
            ),
            ApplicationPackage::External {
                uri,
                type_name,
                type_version,
            } => {
                let parsed = reqwest::Url::parse(uri).ok();
                if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https")) {
                    return Err(Error::invalid(
                        "package URI",
                        uri,
                        "an http(s) URI of an .sfpkg file",
                    ));
                }
                for (what, value) in [
                    ("application type name", type_name),
                    ("application type version", type_version),
                ] {
                    if value.trim().is_empty() {
                        return Err(Error::invalid(what, value, "a non-empty value"));
                    }
                }
                (
                    types::ProvisionApplicationTypeDescriptionBase::ExternalStore {
                        application_package_download_uri: uri.clone(),
                        application_type_name: type_name.clone(),
                        application_type_version: type_version.clone(),
                        async_: asynchronous,
                    },
                    format!("application type {type_name} {type_version}"),
                )
            }
        };
        let timeout = options.server_timeout;
        let http_timeout = Duration::from_secs(timeout).saturating_add(Duration::from_secs(10));
        let sends = AtomicU32::new(0);
        // Re-sent on a transient failure: if the first one had acted after all, the next
        // gets 409 "already exists", read below as done.
        let call = self.call(
            "ProvisionApplicationType",
            Resend::Safe,
            || about,
            |raw| {
                let body = body.clone();
                sends.fetch_add(1, Ordering::Relaxed);
                async move {
                    raw.provision_application_type()
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                        .map(|v| ResponseValue::new(v.status(), v.status(), v.headers().clone()))
                }
            },
        );
        let answer = match hooks::with_http_timeout(http_timeout, call).await {
            Err(e)
                if sends.load(Ordering::Relaxed) > 1
                    && e.code().is_some_and(|c| {
                        c.as_str() == "FABRIC_E_APPLICATION_TYPE_ALREADY_EXISTS"
                    }) =>
            {
                tracing::info!("provision was re-sent and the type exists: the first one acted");
                return Ok(Provisioned::Done);
            }
            other => other?,
        };
        Ok(match answer {
            Answer::Body(StatusCode::ACCEPTED) => Provisioned::Accepted,
            _ => Provisioned::Done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_is_the_first_field() {
        let body = types::ProvisionApplicationTypeDescriptionBase::ImageStorePath {
            application_type_build_path: "MyAppPkg".into(),
            application_package_cleanup_policy: Some(
                types::ApplicationPackageCleanupPolicy::Default,
            ),
            async_: false,
        };
        let text = serde_json::to_string(&body).expect("serialises");
        assert!(text.starts_with(r#"{"Kind":"ImageStorePath","#), "{text}");
        assert!(text.contains(r#""Async":false"#), "{text}");
    }
}

open_enum! {
    /// Where a provisioned application type version stands.
    ApplicationTypeStatus {
        /// Being provisioned.
        Provisioning = "Provisioning",
        /// Ready for applications.
        Available = "Available",
        /// Being unprovisioned.
        Unprovisioning = "Unprovisioning",
        /// Provisioning failed.
        Failed = "Failed",
        /// The runtime did not say.
        Invalid = "Invalid",
    }
}

/// A provisioned application type version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationType {
    /// The type's name.
    pub name: String,
    /// The version.
    pub version: String,
    /// Where it stands.
    pub status: ApplicationTypeStatus,
    /// Why, when the gateway says.
    pub status_details: Option<String>,
    /// The parameters the manifest declares, with their defaults.
    pub default_parameters: BTreeMap<String, String>,
}

/// One page of [`Client::application_types`].
pub type ApplicationTypePage = ItemPage<ApplicationType>;

fn type_page(raw: types::PagedApplicationTypeInfoList) -> ApplicationTypePage {
    ItemPage::new(
        raw.items
            .into_iter()
            .map(|t| ApplicationType {
                name: t.name.unwrap_or_default(),
                version: t.version.unwrap_or_default(),
                status: ApplicationTypeStatus::from_wire(t.status.as_deref().unwrap_or("Invalid")),
                status_details: t.status_details.filter(|d| !d.is_empty()),
                default_parameters: parameters_from_wire(t.default_parameter_list),
            })
            .collect(),
        raw.continuation_token.map(String::from),
    )
}

impl Client {
    /// One page of the provisioned application types: every type, or the versions of
    /// `type_name` (an unknown type is an empty page).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// for t in client.application_types_page(Some("ShopType"), None).await?.items {
    ///     println!("{} {} {}", t.name, t.version, t.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn application_types_page(
        &self,
        type_name: Option<&str>,
        continuation_token: Option<&str>,
    ) -> Result<ApplicationTypePage> {
        let timeout = self.timeout();
        let token = continuation_token
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let answer = match type_name {
            None => {
                self.call(
                    "GetApplicationTypeInfoList",
                    Resend::Safe,
                    || "application types".to_string(),
                    move |raw| {
                        let token = token.clone();
                        async move {
                            // The defaults written out, as the official clients send them.
                            let mut call = raw
                                .get_application_type_info_list()
                                .application_type_definition_kind_filter(0)
                                .exclude_application_parameters(false)
                                .max_results(0u64)
                                .timeout(timeout);
                            if let Some(token) = token {
                                call = call.continuation_token(token);
                            }
                            call.send().await
                        }
                    },
                )
                .await?
            }
            Some(type_name) => {
                if type_name.trim().is_empty() {
                    return Err(Error::invalid(
                        "application type name",
                        type_name,
                        "a non-empty name",
                    ));
                }
                let name = type_name.to_string();
                self.call(
                    "GetApplicationTypeInfoListByName",
                    Resend::Safe,
                    || format!("application type {type_name}"),
                    move |raw| {
                        let (name, token) = (name.clone(), token.clone());
                        async move {
                            let mut call = raw
                                .get_application_type_info_list_by_name()
                                .application_type_name(name)
                                .exclude_application_parameters(false)
                                .max_results(0u64)
                                .timeout(timeout);
                            if let Some(token) = token {
                                call = call.continuation_token(token);
                            }
                            call.send().await
                        }
                    },
                )
                .await?
            }
        };
        Ok(match answer {
            Answer::Body(raw) => type_page(raw),
            Answer::Empty => ItemPage::empty(),
        })
    }

    /// Every page of the provisioned application types (of `type_name` only, when given).
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let pages: Vec<_> = client.application_types(None).try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn application_types(&self, type_name: Option<&str>) -> Pages<ApplicationTypePage> {
        let client = self.clone();
        let type_name = type_name.map(str::to_string);
        paging::pages(move |token| {
            let (client, type_name) = (client.clone(), type_name.clone());
            async move {
                client
                    .application_types_page(type_name.as_deref(), token.as_deref())
                    .await
            }
        })
    }

    /// Unprovisions version `version` of the application type `type_name`. A version an
    /// application runs, or an unfinished upgrade targets, gets 409
    /// `FABRIC_E_APPLICATION_TYPE_IN_USE`. After a failure whose outcome is unknown, the
    /// type's versions are read back first; the version gone means done.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.unprovision_application_type("ShopType", "1.0.0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn unprovision_application_type(&self, type_name: &str, version: &str) -> Result<()> {
        for (what, value) in [
            ("application type name", type_name),
            ("application type version", version),
        ] {
            if value.trim().is_empty() {
                return Err(Error::invalid(what, value, "a non-empty value"));
            }
        }
        let body = types::UnprovisionApplicationTypeDescriptionInfo {
            application_type_version: version.to_string(),
            async_: None,
        };
        let (name, timeout) = (type_name.to_string(), self.timeout());
        self.call_checked(
            "UnprovisionApplicationType",
            || format!("application type {type_name} {version}"),
            |raw| {
                let (name, body) = (name.clone(), body.clone());
                async move {
                    raw.unprovision_application_type()
                        .application_type_name(name)
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                        .map(|v| ResponseValue::new((), v.status(), v.headers().clone()))
                }
            },
            || async {
                let page = self.application_types_page(Some(type_name), None).await?;
                Ok(!page.items.iter().any(|t| t.version == version))
            },
        )
        .await
        .map(drop)
    }
}
