//! The image store service: its content (files and folders under `store/`) and upload
//! sessions.

pub(crate) mod content;
pub(crate) mod sessions;
