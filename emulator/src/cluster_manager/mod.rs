//! The Cluster Manager service: application types provisioned from the image store.

pub(crate) mod application_types;
