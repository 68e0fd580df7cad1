//! What every call passes through: the request policy (retries, failover), the hooks the
//! generated client runs, the mapping of answers, the wire encoding, tokens and TLS.

pub(crate) mod answer;
pub mod auth;
pub(crate) mod call;
pub(crate) mod endpoints;
pub(crate) mod hooks;
pub(crate) mod policy;
#[cfg(any(feature = "tls", feature = "native-tls"))]
pub mod tls;
pub(crate) mod wire;
