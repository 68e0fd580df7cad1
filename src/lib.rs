//! A typed client for the Azure Service Fabric HTTP gateway (REST API version 6.0).
//!
//! The crate has three layers, each in its own place:
//!
//! - `spec/servicefabric.json`: a hand-written OpenAPI 3.0 document, the source of truth for the
//!   wire;
//! - `build.rs`: generates a client from it with progenitor into `OUT_DIR`, reachable here as
//!   [`generated`] (through [`Client::raw`]);
//! - this crate's own modules, a thin typed layer on top ([`Client`]): one file per resource of
//!   the spec (`src/ops/`), paging as a `Stream` ([`Pages`]), one [`Error`] type, `u64` numbers,
//!   `fabric:` names ([`paths`]), and `src/transport/`, the request policy every call passes
//!   through (retries, failover, TLS, [`auth`] tokens, the gateway's real behaviour: 204
//!   for "no upload session", codes outside the published list).
//!
//! Workflows of many calls (resumable file uploads, application package uploads) are in the
//! `servicefabric-deploy` crate, as an extension trait on this [`Client`].
//!
//! The types that appear in its signatures come from crates it re-exports: [`Uuid`],
//! [`reqwest`] and [`chrono`]. Add `futures` for the stream combinators (`TryStreamExt`).
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use servicefabric_rest::Client;
//!
//! # async fn demo() -> servicefabric_rest::Result<()> {
//! let client = Client::new("http://localhost:19080")?;
//! let names: Vec<String> = client.sub_names("fabric:/samples", true).try_collect().await?;
//! for session in client.upload_sessions_by_path("SwaggerTest\\Common.dll").await? {
//!     println!("{} misses {} bytes", session.session_id, session.missing_bytes());
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

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
