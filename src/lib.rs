//! A typed client for the Azure Service Fabric HTTP gateway (REST API version 6.0).
//!
//! The crate has three layers, each in its own place:
//!
//! - `spec/servicefabric.json`: a hand-written OpenAPI 3.0 document, the source of truth for the
//!   wire;
//! - `build.rs`: generates a client from it with progenitor into `OUT_DIR`, reachable here as
//!   [`generated`];
//! - this crate's own modules: a small typed layer on top ([`Client`]): paging as a `Stream`,
//!   one [`Error`] type, `u64` numbers, `fabric:` names, and the gateway's real behaviour
//!   (204 for "no upload session", codes outside the published list).
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
#[cfg(feature = "emulator")]
pub mod emulator;
mod error;
mod error_code;
pub mod generated;
pub mod hooks;
mod names;
mod paging;
mod resume;
mod upload;
pub mod wire;

pub use client::{Client, ClientBuilder, DEFAULT_SERVER_TIMEOUT};
pub use error::{Error, Result};
pub use error_code::ErrorCode;
pub use paging::SubNamePage;
pub use resume::{UploadOptions, UploadReport};
pub use upload::{ChunkRange, UploadSession};

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
