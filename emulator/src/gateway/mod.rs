//! The HTTP face: routing, the gateway's query rules, FabricError answers, bodies, fault
//! injection and the secured gateway's checks.

pub(crate) mod bodies;
pub(crate) mod chunk;
pub(crate) mod faults;
pub(crate) mod handler;
pub(crate) mod security;
