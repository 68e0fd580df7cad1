//! The package's acknowledgement log in the resume directory: one line per file the store
//! acknowledged (`size<TAB>path`). An unmarked folder cannot be listed, so after an
//! interruption only the files this log names are looked up one by one; every other file
//! is sent. Lines that do not parse (a torn last write, a foreign file) are ignored.

use std::{
    collections::HashSet,
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
};

use sha2::{Digest, Sha256};

/// Where the log of the package bound for `target` lives in `dir`.
pub(crate) fn location(dir: &Path, target: &str) -> PathBuf {
    let digest = Sha256::digest(target.as_bytes());
    let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("sfrest-package-{name}.log"))
}

/// The (path inside the package, size) pairs the log names; empty when there is none.
pub(crate) async fn read(log: &Path) -> HashSet<(String, u64)> {
    let Ok(text) = tokio::fs::read_to_string(log).await else {
        return HashSet::new();
    };
    text.lines()
        .filter_map(|line| {
            let (size, path) = line.split_once('\t')?;
            Some((path.to_string(), size.parse().ok()?))
        })
        .collect()
}

/// Appends acknowledgements; a log that cannot be written only costs a later resume bytes.
pub(crate) struct Writer(Option<Mutex<std::fs::File>>);

impl Writer {
    /// Opens `log` for appending, or writes nothing when `log` is `None` or unwritable.
    pub(crate) fn open(log: Option<&Path>) -> Self {
        let file = log.and_then(|log| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(
                    |e| tracing::warn!(log = %log.display(), error = %e, "no package resume log"),
                )
                .ok()
        });
        Self(file.map(Mutex::new))
    }

    /// Notes that the store acknowledged `relative` with `size` bytes.
    pub(crate) fn acknowledged(&self, relative: &str, size: u64) {
        if let Some(file) = &self.0 {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            // One write per line, so a kill leaves at most one torn line.
            let _ = file.write_all(format!("{size}\t{relative}\n").as_bytes());
        }
    }
}
