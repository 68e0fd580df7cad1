//! The HTTP face, the only part of the emulator that speaks HTTP: routing, the gateway's query
//! rules, request and answer bodies, FabricError answers, fault injection and the secured
//! gateway's checks. It serves each operation by calling the system services.

pub(crate) mod answers;
pub(crate) mod application_bodies;
pub(crate) mod application_requests;
pub(crate) mod applications;
pub(crate) mod bearer;
pub(crate) mod bodies;
pub(crate) mod chunk;
pub(crate) mod faults;
pub(crate) mod handler;
pub(crate) mod query;
pub(crate) mod requests;
pub(crate) mod routes;
#[cfg(feature = "tls")]
pub(crate) mod security;
pub(crate) mod streaming;

use std::{
    sync::{Mutex, MutexGuard, atomic::AtomicU64},
    time::Duration,
};

use self::{bearer::Bearer, faults::Injector};
use crate::{
    cluster_manager::{application_types::AppTypes, applications::Applications},
    fabric_error::FabricError,
    image_store::{content::Store, sessions::Uploads},
    naming::Naming,
};

/// The gateway's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub page_bytes: usize,
    pub page_max_names: Option<usize>,
    pub runtime_version: (u32, u32),
    pub max_chunk_bytes: u64,
    pub idle_timeout: Duration,
    pub bearer: Option<Bearer>,
    pub max_file_bytes: u64,
    pub store_page_entries: usize,
    /// How many times faster than real time upgrades run.
    pub time_scale: f64,
}

/// The gateway and the services behind it, shared by connections.
pub(crate) struct State {
    pub config: Settings,
    pub naming: Naming,
    /// Held only for bookkeeping, never while a chunk body streams in.
    pub uploads: Mutex<Uploads>,
    /// Image store content; file operations are atomic renames, so no lock is needed.
    pub store: Store,
    pub app_types: Mutex<AppTypes>,
    /// Applications and their upgrades; locked after `app_types` when both are.
    pub applications: Mutex<Applications>,
    pub faults: Injector,
    /// File bytes received by UploadFile and UploadFileChunk, kept or not.
    pub received: AtomicU64,
    /// Requests received per operation (`"Unknown"` for unrouted ones), for benchmarks and
    /// tests that count what a client sends.
    pub requests: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl State {
    pub fn uploads(&self) -> Result<MutexGuard<'_, Uploads>, FabricError> {
        self.uploads.lock().map_err(FabricError::poisoned)
    }
}
