//! An emulator of the Azure Service Fabric HTTP gateway, to test clients against over real
//! HTTP without a cluster: what Azurite is to Azure Storage. Add it to `[dev-dependencies]`.
//!
//! It serves the three seed operations and the neighbours that create their state (names,
//! upload chunks, commit, delete) with the real gateway's behaviour: 204 for "no upload
//! session", bodiless 404 for a missing name, FabricError bodies with the code as reason
//! phrase, 64-bit numbers as strings, pages cut by size with `<last name>$<version>` tokens.
//! Chunk bytes go to disk, never into memory.
//!
//! ```no_run
//! use servicefabric_emulator::Emulator;
//! use servicefabric_rest::Client;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let emulator = Emulator::start_seeded().await?;
//!     let client = Client::new(emulator.endpoint())?;
//!     assert!(client.name_exists("fabric:/samples/apps").await?);
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod cluster_manager;
mod fabric_error;
mod gateway;
mod handle;
mod image_store;
mod naming;
mod sample;
mod seed;
mod server;

use std::time::Duration;

pub use builder::{EmulatorBuilder, HealthRule};
pub use gateway::faults::{FaultPlan, Faults, OPERATIONS};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use gateway::security::TlsOptions;
pub use handle::Emulator;
pub use sample::{SamplePackage, SampleSummary, write_sample_package};

/// Default page cut: about what the runtime puts in one answer.
pub const DEFAULT_PAGE_BYTES: usize = 3 * 1024 * 1024;
/// Default largest file an upload session may declare (its Content-Range total).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Default time a connection may sit without sending a request head, or a body without
/// sending a byte, before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of connections served at once; further clients wait in the listen queue.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default number of files and folders in one page of an image-store listing.
pub const DEFAULT_STORE_PAGE_ENTRIES: usize = 1000;
/// Default number of upgrade domains.
pub const DEFAULT_UPGRADE_DOMAINS: usize = 5;
/// Default idle time after which an upload session expires.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 60);
