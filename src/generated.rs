//! The client progenitor generates from `spec/servicefabric.json` (see `build.rs`).
//!
//! Reachable for callers who want the raw surface: builders per operation, the spec's types in
//! [`types`], and progenitor's own `Error`. Built by [`crate::Client::raw`], it carries the same
//! wire fixes (path encoders, verbatim continuation tokens) as the typed layer.
#![allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_imports,
    rustdoc::all
)]

include!(concat!(env!("OUT_DIR"), "/client.rs"));
