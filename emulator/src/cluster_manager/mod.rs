//! The Cluster Manager service: application types provisioned from the image store,
//! applications, and their rolling upgrades.

pub(crate) mod application_types;
pub(crate) mod applications;
pub(crate) mod upgrades;
