//! The operations of the spec with Rust types, one file per resource: each is a set of
//! methods on [`Client`](crate::Client) that reach the network only through `transport`.

pub(crate) mod application_types;
pub(crate) mod applications;
mod cluster;
pub(crate) mod health_policy;
pub(crate) mod image_store;
mod manifests;
pub(crate) mod names;
pub(crate) mod upgrades;
pub(crate) mod upload_sessions;
