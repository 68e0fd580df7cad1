//! Applications: create, read, list, delete, and what runs in them (services, health). Names
//! are `fabric:/…` here and ids (`shop~orders`) on the wire.

use std::collections::BTreeMap;

use reqwest::StatusCode;

use crate::{
    Client, Error, Result,
    generated::types,
    open_enum::open_enum,
    paging::{self, ItemPage, Pages},
    paths,
    transport::{answer::Answer, call::Resend},
};

open_enum! {
    /// Where an application stands.
    ApplicationStatus {
        /// Running.
        Ready = "Ready",
        /// Being upgraded (it still reports the old version).
        Upgrading = "Upgrading",
        /// Being created.
        Creating = "Creating",
        /// Being deleted.
        Deleting = "Deleting",
        /// Creation or deletion failed.
        Failed = "Failed",
        /// The runtime did not say.
        Invalid = "Invalid",
    }
}

open_enum! {
    /// A health state.
    HealthState {
        /// Healthy.
        Ok = "Ok",
        /// Warnings.
        Warning = "Warning",
        /// Errors.
        Error = "Error",
        /// Not known.
        Unknown = "Unknown",
        /// The runtime did not say.
        Invalid = "Invalid",
    }
}

/// An application on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Application {
    /// Its name, `fabric:/shop/orders`.
    pub name: String,
    /// Its id on the wire, `shop~orders`.
    pub id: String,
    /// Its application type.
    pub type_name: String,
    /// The version it runs (during an upgrade still the old one).
    pub type_version: String,
    /// Where it stands.
    pub status: ApplicationStatus,
    /// Its parameters (those given at creation or by the last upgrade; the rest take the
    /// manifest's defaults).
    pub parameters: BTreeMap<String, String>,
    /// Its aggregated health.
    pub health_state: HealthState,
}

impl Application {
    fn from_wire(raw: types::ApplicationInfo) -> Self {
        Self {
            name: raw.name.unwrap_or_default(),
            id: raw.id.unwrap_or_default(),
            type_name: raw.type_name.unwrap_or_default(),
            type_version: raw.type_version.unwrap_or_default(),
            status: ApplicationStatus::from_wire(raw.status.as_deref().unwrap_or("Invalid")),
            parameters: parameters_from_wire(raw.parameters),
            health_state: HealthState::from_wire(raw.health_state.as_deref().unwrap_or("Invalid")),
        }
    }
}

/// One page of [`Client::applications`].
pub type ApplicationPage = ItemPage<Application>;

/// A service of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Service {
    /// Its name, `fabric:/shop/orders/api`.
    pub name: String,
    /// `Stateful` or `Stateless`.
    pub kind: String,
    /// Its service type.
    pub type_name: String,
    /// Its service manifest's version.
    pub manifest_version: String,
    /// Its health.
    pub health_state: HealthState,
    /// `Active`, `Upgrading`, … as the gateway wrote it.
    pub status: String,
}

/// One page of [`Client::services`].
pub type ServicePage = ItemPage<Service>;

/// An application's health, from `GetApplicationHealth`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApplicationHealth {
    /// The aggregated state.
    pub state: HealthState,
    /// Each service's state, by name.
    pub services: Vec<(String, HealthState)>,
    /// The health reports on the application: (source, property, state, description).
    pub events: Vec<(String, String, HealthState, String)>,
    /// Why it is not healthy, as the gateway wrote it (polymorphic JSON).
    pub unhealthy_evaluations: Vec<serde_json::Value>,
}

/// The parameters' wire form, in the map's order.
pub(crate) fn parameters_to_wire(
    map: &BTreeMap<String, String>,
) -> Vec<types::ApplicationParameter> {
    map.iter()
        .map(|(key, value)| types::ApplicationParameter {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

pub(crate) fn parameters_from_wire(
    list: Vec<types::ApplicationParameter>,
) -> BTreeMap<String, String> {
    list.into_iter().map(|p| (p.key, p.value)).collect()
}

fn about(name: &str) -> impl Fn() -> String + '_ {
    move || format!("application {name}")
}

impl Client {
    /// Creates the application `name` (`fabric:/shop/orders`) of a provisioned type and
    /// version, with `parameters` overriding the manifest's defaults. The gateway answers once
    /// the application and its default services exist.
    ///
    /// Not re-sent blindly: after a failure whose outcome is unknown (a timeout, a dropped
    /// connection, a 503), the application is read back first; one of that type and version
    /// already there means the create acted.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let parameters = [("Web_InstanceCount".to_string(), "1".to_string())].into();
    /// client.create_application("fabric:/shop", "ShopType", "1.0.0", &parameters).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_application(
        &self,
        name: &str,
        type_name: &str,
        type_version: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<()> {
        paths::application_id(name)?;
        for (what, value) in [
            ("application type name", type_name),
            ("application type version", type_version),
        ] {
            if value.trim().is_empty() {
                return Err(Error::invalid(what, value, "a non-empty value"));
            }
        }
        let body = types::ApplicationDescription {
            application_capacity: None,
            name: format!("fabric:/{}", paths::name_id(name)?),
            parameter_list: parameters_to_wire(parameters),
            type_name: type_name.to_string(),
            type_version: type_version.to_string(),
        };
        let timeout = self.timeout();
        self.call_checked(
            "CreateApplication",
            about(name),
            |raw| {
                let body = body.clone();
                async move {
                    raw.create_application()
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
            || async {
                Ok(self
                    .application(name)
                    .await?
                    .is_some_and(|a| a.type_name == type_name && a.type_version == type_version))
            },
        )
        .await
        .map(drop)
    }

    /// The application `name`, or `None` when there is none (the gateway's 204).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// match client.application("fabric:/shop").await? {
    ///     Some(app) => println!("{} {} is {}", app.type_name, app.type_version, app.status),
    ///     None => println!("no such application"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn application(&self, name: &str) -> Result<Option<Application>> {
        let id = paths::application_id(name)?;
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetApplicationInfo",
                Resend::Safe,
                about(name),
                move |raw| {
                    let id = id.clone();
                    async move {
                        raw.get_application_info()
                            .application_id(id)
                            .exclude_application_parameters(false)
                            .timeout(timeout)
                            .send()
                            .await
                    }
                },
            )
            .await?;
        Ok(match answer {
            Answer::Body(raw) => Some(Application::from_wire(raw)),
            Answer::Empty => None,
        })
    }

    /// One page of the applications (of one type when `type_name` is given).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let page = client.applications_page(None, None).await?;
    /// println!("{} applications", page.items.len());
    /// # Ok(()) }
    /// ```
    pub async fn applications_page(
        &self,
        type_name: Option<&str>,
        continuation_token: Option<&str>,
    ) -> Result<ApplicationPage> {
        let timeout = self.timeout();
        let token = continuation_token
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let type_name = type_name.map(str::to_string);
        let answer = self
            .call(
                "GetApplicationInfoList",
                Resend::Safe,
                || "applications".to_string(),
                move |raw| {
                    let (token, type_name) = (token.clone(), type_name.clone());
                    async move {
                        // The defaults written out, as the official clients send them.
                        let mut call = raw
                            .get_application_info_list()
                            .application_definition_kind_filter(0)
                            .exclude_application_parameters(false)
                            .max_results(0u64)
                            .timeout(timeout);
                        if let Some(type_name) = type_name {
                            call = call.application_type_name(type_name);
                        }
                        if let Some(token) = token {
                            call = call.continuation_token(token);
                        }
                        call.send().await
                    }
                },
            )
            .await?;
        match answer {
            Answer::Body(raw) => Ok(ItemPage::new(
                raw.items.into_iter().map(Application::from_wire).collect(),
                raw.continuation_token.map(String::from),
            )),
            Answer::Empty => Ok(ItemPage::empty()),
        }
    }

    /// Every page of the applications, as a `Stream`.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let mut pages = client.applications(None);
    /// while let Some(page) = pages.try_next().await? {
    ///     for app in page.items {
    ///         println!("{} {}", app.name, app.type_version);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn applications(&self, type_name: Option<&str>) -> Pages<ApplicationPage> {
        let client = self.clone();
        let type_name = type_name.map(str::to_string);
        paging::pages(move |token| {
            let (client, type_name) = (client.clone(), type_name.clone());
            async move {
                client
                    .applications_page(type_name.as_deref(), token.as_deref())
                    .await
            }
        })
    }

    /// Deletes the application `name` (during an upgrade the upgrade fails first);
    /// `force_remove` skips the services' graceful close. After a failure whose outcome is
    /// unknown, the application is read back before the delete is sent again; gone means
    /// done.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.delete_application("fabric:/shop", false).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_application(&self, name: &str, force_remove: bool) -> Result<()> {
        let id = paths::application_id(name)?;
        let timeout = self.timeout();
        self.call_checked(
            "DeleteApplication",
            about(name),
            |raw| {
                let id = id.clone();
                async move {
                    let mut call = raw.delete_application().application_id(id).timeout(timeout);
                    if force_remove {
                        call = call.force_remove(true);
                    }
                    call.send().await
                }
            },
            || async { Ok(self.application(name).await?.is_none()) },
        )
        .await
        .map(drop)
    }

    /// One page of the services of the application `name`.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// for service in client.services_page("fabric:/shop", None).await?.items {
    ///     println!("{} ({})", service.name, service.type_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn services_page(
        &self,
        name: &str,
        continuation_token: Option<&str>,
    ) -> Result<ServicePage> {
        let id = paths::application_id(name)?;
        let timeout = self.timeout();
        let token = continuation_token
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let answer = self
            .call(
                "GetServiceInfoList",
                Resend::Safe,
                about(name),
                move |raw| {
                    let (id, token) = (id.clone(), token.clone());
                    async move {
                        let mut call = raw
                            .get_service_info_list()
                            .application_id(id)
                            .timeout(timeout);
                        if let Some(token) = token {
                            call = call.continuation_token(token);
                        }
                        call.send().await
                    }
                },
            )
            .await?;
        match answer {
            Answer::Body(raw) => Ok(ItemPage::new(
                raw.items
                    .into_iter()
                    .map(|s| Service {
                        name: s.name.unwrap_or_default(),
                        kind: s.service_kind.unwrap_or_default(),
                        type_name: s.type_name.unwrap_or_default(),
                        manifest_version: s.manifest_version.unwrap_or_default(),
                        health_state: HealthState::from_wire(
                            s.health_state.as_deref().unwrap_or("Invalid"),
                        ),
                        status: s.service_status.unwrap_or_default(),
                    })
                    .collect(),
                raw.continuation_token.map(String::from),
            )),
            Answer::Empty => Ok(ItemPage::empty()),
        }
    }

    /// Every page of the services of the application `name`, as a `Stream`.
    pub fn services(&self, name: &str) -> Pages<ServicePage> {
        let client = self.clone();
        let name = name.to_string();
        paging::pages(move |token| {
            let (client, name) = (client.clone(), name.clone());
            async move { client.services_page(&name, token.as_deref()).await }
        })
    }

    /// The health of the application `name`.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let health = client.application_health("fabric:/shop").await?;
    /// println!("{}", health.state);
    /// # Ok(()) }
    /// ```
    pub async fn application_health(&self, name: &str) -> Result<ApplicationHealth> {
        let id = paths::application_id(name)?;
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetApplicationHealth",
                Resend::Safe,
                about(name),
                move |raw| {
                    let id = id.clone();
                    async move {
                        // The filters' defaults written out, as the official clients send them.
                        raw.get_application_health()
                            .application_id(id)
                            .events_health_state_filter(0)
                            .deployed_applications_health_state_filter(0)
                            .services_health_state_filter(0)
                            .exclude_health_statistics(false)
                            .timeout(timeout)
                            .send()
                            .await
                    }
                },
            )
            .await?;
        let raw = match answer {
            Answer::Body(raw) => raw,
            Answer::Empty => {
                return Err(Error::decode(
                    StatusCode::OK,
                    "empty body, expected an application's health",
                    b"",
                ));
            }
        };
        let state = |s: Option<String>| HealthState::from_wire(s.as_deref().unwrap_or("Invalid"));
        Ok(ApplicationHealth {
            state: state(raw.aggregated_health_state),
            services: raw
                .service_health_states
                .into_iter()
                .map(|s| {
                    (
                        s.service_name.unwrap_or_default(),
                        state(s.aggregated_health_state),
                    )
                })
                .collect(),
            events: raw
                .health_events
                .into_iter()
                .map(|e| {
                    (
                        e.source_id.unwrap_or_default(),
                        e.property.unwrap_or_default(),
                        state(e.health_state),
                        e.description.unwrap_or_default(),
                    )
                })
                .collect(),
            unhealthy_evaluations: raw
                .unhealthy_evaluations
                .into_iter()
                .map(|w| serde_json::Value::Object(w.health_evaluation))
                .collect(),
        })
    }
}
