//! A typed client for the Azure Service Fabric HTTP gateway (port 19080, REST API 6.0 and up).
//!
//! # Tasks
//!
//! - **Connect**: [`Client::new`] for one gateway, [`Client::builder`] for several (failover),
//!   timeouts, a [`RetryPolicy`], and, with the `tls` or `native-tls` feature, a client
//!   certificate and a pinned gateway certificate (`tls`), or Entra ID tokens ([`auth`]).
//! - **List**: [`Client::sub_names`] (every name under one, paged as a `Stream`),
//!   [`Client::store_pages`], [`Client::applications`], [`Client::application_types`].
//! - **Upload**: one-call operations here ([`Client::upload_chunk`],
//!   [`Client::commit_upload_session`], [`Client::upload_store_file`]); the resumable file
//!   upload and the application package upload are workflows in the `servicefabric-deploy`
//!   crate.
//! - **Deploy**: [`Client::provision_application_type`], [`Client::create_application`],
//!   [`Client::start_application_upgrade`] and [`Client::application_upgrade`] to follow it,
//!   [`Client::unprovision_application_type`].
//! - **Test without a cluster**: the `servicefabric-emulator` crate serves all of this on
//!   loopback, with the real gateway's behaviour, faults on demand and a scaled upgrade clock.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use servicefabric_rest::Client;
//!
//! # async fn demo() -> servicefabric_rest::Result<()> {
//! let client = Client::new("http://localhost:19080")?;
//! let names: Vec<String> = client.sub_names("fabric:/samples", true).try_collect().await?;
//! for app in client.applications_page(None, None).await?.items {
//!     println!("{} runs {} {}", app.name, app.type_name, app.type_version);
//! }
//! # Ok(()) }
//! ```
//!
//! Every call goes through one request policy (retries with backoff, `Retry-After`, failover,
//! bounded bodies, `tracing` spans), and fails with one [`Error`]. The types in its
//! signatures come from crates it re-exports: [`Uuid`], [`reqwest`] and [`chrono`]; add
//! `futures` for the stream combinators (`TryStreamExt`).
//!
//! # How it is built
//!
//! `spec/servicefabric.json`, a hand-written OpenAPI 3.0 document, is the source of truth for
//! the wire; `build.rs` generates a client from it with progenitor into `OUT_DIR`, reachable
//! as [`generated`] (through [`Client::raw`]); this crate's modules are a thin typed layer on
//! top: one file per resource of the spec, paging ([`Pages`]), names and paths ([`paths`]), and
//! the request policy every call passes through.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod duration;
mod error;
mod error_code;
pub mod generated;
mod open_enum;
mod ops;
mod paging;
pub mod paths;
mod transport;

pub use transport::auth;
#[cfg(any(feature = "tls", feature = "native-tls"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "native-tls"))))]
pub use transport::tls;

pub use client::{Client, ClientBuilder, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SERVER_TIMEOUT};
pub use error::{Error, Result};
pub use error_code::{ErrorCode, UnhandledCode};
pub use open_enum::UnknownValue;
pub use ops::application_types::{
    ApplicationPackage, ApplicationType, ApplicationTypePage, ApplicationTypeStatus, CleanupPolicy,
    DEFAULT_PROVISION_TIMEOUT, ProvisionOptions, Provisioned,
};
pub use ops::applications::{
    Application, ApplicationHealth, ApplicationPage, ApplicationStatus, HealthState, Service,
    ServicePage,
};
pub use ops::health_policy::{HealthPolicy, ServiceTypeHealthPolicy};
pub use ops::image_store::{
    CopyOptions, StoreContent, StoreFile, StoreFileVersion, StoreFolder, StorePage, StorePages,
};
pub use ops::names::{SubNamePage, SubNamePages, SubNames};
pub use ops::upgrades::{
    DomainProgress, FailureAction, FailureReason, NodeProgress, RollingUpgradeMode, UpgradeDomain,
    UpgradeDomainState, UpgradeProgress, UpgradeRequest, UpgradeState, UpgradeUpdate,
};
pub use ops::upload_sessions::{ChunkRange, UploadSession};
pub use paging::{ItemPage, Pages};
pub use transport::{call::count_resends, policy::RetryPolicy};

/// The `bytes` crate, for [`Client::upload_chunk`].
pub use bytes;
/// The `chrono` crate, for [`UploadSession::modified_date`].
pub use chrono;
/// The `reqwest` crate, for [`ClientBuilder::http_client`] and the sources of [`Error`].
pub use reqwest;
/// Session ids ([`uuid::Uuid`]).
pub use uuid::Uuid;
