//! The package-upload flags `app upload` and `app deploy` share.

use std::path::PathBuf;

use clap::Args;
use servicefabric_deploy::{PackageOptions, default_resume_dir};

/// How a package is uploaded, as `app upload` and `app deploy` take it.
#[derive(Args)]
pub(crate) struct PackageFlags {
    /// Files sent at once.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Zip each Code/Config/Data folder of a copy and upload the zips (your folder is not
    /// changed).
    #[arg(long)]
    pub compress: bool,
    /// Files of at least this many bytes go through resumable upload sessions.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    session_threshold: u64,
    /// Chunk size of session uploads, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    chunk_size: u64,
    /// Chunks of one session upload sent at once.
    #[arg(long, default_value_t = 4)]
    chunks_in_flight: usize,
    /// Where resume records are kept [default: ~/.cache/servicefabric-rest/uploads].
    #[arg(long)]
    resume_dir: Option<PathBuf>,
}

impl PackageFlags {
    /// The upload options these flags ask for (no progress callback).
    pub(crate) fn options(&self) -> PackageOptions {
        PackageOptions {
            parallel: self.parallel,
            session_threshold: self.session_threshold,
            chunk_size: self.chunk_size,
            chunks_in_flight: self.chunks_in_flight,
            compress: self.compress,
            resume_dir: Some(self.resume_dir.clone().unwrap_or_else(default_resume_dir)),
            ..PackageOptions::default()
        }
    }
}
