//! The image store's content: whole-file uploads, listings (paged, 204 for an empty folder,
//! bodiless 404 for a missing path), delete and copy. Files live under `store/` in the data
//! directory. A folder exists only while it holds its `_.dir` marker: without one it is
//! absent from listings (its files can still be asked for by their own paths).

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use uuid::Uuid;

use super::sessions::{normalise_path, store_segments};
use crate::fabric_error::{Code, FabricError};

/// The folder marker uploaders write once a folder is complete.
pub(crate) const MARKER: &str = "_.dir";

/// A file as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub path: String,
    pub size: u64,
    pub modified_ms: i64,
}

/// A folder as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FolderEntry {
    pub path: String,
    pub file_count: u64,
}

/// What a listing found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Nothing at that path: a bodiless 404.
    Missing,
    /// A folder with nothing in it: a bodiless 204.
    Empty,
    Page {
        files: Vec<FileEntry>,
        folders: Vec<FolderEntry>,
        /// Percent-encoded name of the last entry, when more follow; `""` otherwise.
        token: String,
    },
}

#[derive(Debug)]
pub(crate) struct Store {
    /// Where files are, one file-system file per store file.
    root: PathBuf,
    /// Uploads being received, renamed into `root` once complete and synced.
    incoming: PathBuf,
}

fn not_found_file() -> FabricError {
    FabricError::of(Code::FileNotFound)
}

fn modified_ms(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Files below `dir`, markers not counted.
fn count_files(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) if e.file_name() != MARKER => 1,
            _ => 0,
        })
        .sum()
}

impl Store {
    /// Opens the store under `data_dir`, dropping uploads a crash left half-received.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let root = data_dir.join("store");
        let incoming = data_dir.join("incoming");
        fs::create_dir_all(&root)?;
        let _ = fs::remove_dir_all(&incoming);
        fs::create_dir_all(&incoming)?;
        Ok(Self { root, incoming })
    }

    /// The file-system path of a store path, refusing anything that could escape.
    pub fn locate(&self, path: &str) -> Result<PathBuf, FabricError> {
        let mut target = self.root.clone();
        target.extend(store_segments(path)?);
        Ok(target)
    }

    /// UploadFile, first half: a new file in `incoming/` for the bytes of `path`. They go
    /// into place with [`Self::place`] once all are written, so a file is either the old one
    /// or all of the new one; a staged file never placed is removed.
    pub async fn stage(&self, path: &str) -> Result<Staged, FabricError> {
        let target = self.locate(path)?;
        if target.is_dir() {
            return Err(FabricError::new(
                Code::InvalidArg,
                format!("'{}' is a folder", normalise_path(path)),
            ));
        }
        let part = self
            .incoming
            .join(format!("{}.part", Uuid::new_v4().simple()));
        let cleanup = PartFile(Some(part.clone()));
        let file = tokio::fs::File::create(&part)
            .await
            .map_err(FabricError::io)?;
        Ok(Staged {
            file,
            path: path.to_string(),
            target,
            part: cleanup,
        })
    }

    /// UploadFile, second half: syncs the staged bytes and renames them into place.
    pub async fn place(&self, staged: Staged) -> Result<(), FabricError> {
        let Staged {
            file,
            path,
            target,
            mut part,
        } = staged;
        file.sync_all().await.map_err(FabricError::io)?;
        drop(file);
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|_| {
                FabricError::new(
                    Code::InvalidArg,
                    format!("a folder of '{}' is a file", normalise_path(&path)),
                )
            })?;
        }
        let Some(from) = part.0.take() else {
            return Err(FabricError::of(Code::Fail));
        };
        if let Err(e) = tokio::fs::rename(&from, &target).await {
            part.0 = Some(from);
            return Err(FabricError::io(e));
        }
        Ok(())
    }

    /// Lists what is directly under `path` (the root when `None`), entries in ordinal order
    /// of their names, at most `max_entries` per page, after `token` (an escaped name).
    pub fn list(
        &self,
        path: Option<&str>,
        token: Option<&str>,
        max_entries: usize,
    ) -> Result<Listing, FabricError> {
        let (dir, prefix) = match path {
            None => (self.root.clone(), String::new()),
            Some(path) => {
                let segments = store_segments(path)?;
                (self.locate(path)?, format!("{}\\", segments.join("\\")))
            }
        };
        let meta = match fs::metadata(&dir) {
            Ok(meta) => meta,
            Err(_) => return Ok(Listing::Missing),
        };
        if meta.is_file() {
            let name = prefix.trim_end_matches('\\').to_string();
            return Ok(Listing::Page {
                files: vec![FileEntry {
                    path: name,
                    size: meta.len(),
                    modified_ms: modified_ms(&meta),
                }],
                folders: Vec::new(),
                token: String::new(),
            });
        }
        let after = token
            .map(|t| {
                percent_encoding::percent_decode_str(t)
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| FabricError::invalid_arg())
            })
            .transpose()?;
        // A folder exists only while it holds its marker: an unmarked one is incomplete,
        // absent from its parent's listing and not found by its own path.
        if path.is_some() && !dir.join(MARKER).is_file() {
            return Ok(Listing::Missing);
        }
        let mut names: Vec<(String, fs::Metadata)> = fs::read_dir(&dir)
            .map_err(FabricError::io)?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let meta = e.metadata().ok()?;
                let shown = if meta.is_dir() {
                    dir.join(&name).join(MARKER).is_file()
                } else {
                    name != MARKER
                };
                shown.then_some((name, meta))
            })
            .collect();
        if names.is_empty() {
            return Ok(Listing::Empty);
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let start = after.as_deref().map_or(0, |after| {
            names.partition_point(|(n, _)| n.as_str() <= after)
        });
        let end = names.len().min(start.saturating_add(max_entries.max(1)));
        let mut files = Vec::new();
        let mut folders = Vec::new();
        for (name, meta) in &names[start..end] {
            let path = format!("{prefix}{name}");
            if meta.is_dir() {
                folders.push(FolderEntry {
                    file_count: count_files(&dir.join(name)),
                    path,
                });
            } else {
                files.push(FileEntry {
                    path,
                    size: meta.len(),
                    modified_ms: modified_ms(meta),
                });
            }
        }
        let token = if end < names.len() {
            let last = &names[end - 1].0;
            percent_encoding::utf8_percent_encode(last, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        } else {
            String::new()
        };
        Ok(Listing::Page {
            files,
            folders,
            token,
        })
    }

    /// Deletes a file, or a folder with everything in it.
    pub fn delete(&self, path: &str) -> Result<(), FabricError> {
        let target = self.locate(path)?;
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&target).map_err(FabricError::io),
            Ok(_) => fs::remove_file(&target).map_err(FabricError::io),
            Err(_) => Err(not_found_file()),
        }
    }

    /// Copies a file or a folder. With `check_mark_file`, a folder without its marker is not
    /// copied (as the published specification says: "the copy is skipped").
    pub fn copy(
        &self,
        source: &str,
        destination: &str,
        skip_files: &[String],
        check_mark_file: bool,
    ) -> Result<(), FabricError> {
        let from = self.locate(source)?;
        let to = self.locate(destination)?;
        if to.starts_with(&from) {
            return Err(FabricError::new(
                Code::InvalidArg,
                "The destination is inside the source.",
            ));
        }
        let meta = fs::metadata(&from).map_err(|_| not_found_file())?;
        if meta.is_dir() && check_mark_file && !from.join(MARKER).is_file() {
            return Ok(());
        }
        copy_tree(&from, &to, skip_files, &self.incoming).map_err(FabricError::io)
    }
}

fn copy_tree(from: &Path, to: &Path, skip: &[String], incoming: &Path) -> io::Result<()> {
    if from.is_file() {
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir)?;
        }
        // Through `incoming/`, so a reader never sees half a file.
        let part = incoming.join(format!("{}.part", Uuid::new_v4().simple()));
        fs::copy(from, &part)?;
        return fs::rename(part, to);
    }
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name.to_str() == Some(s)) {
            continue;
        }
        copy_tree(&entry.path(), &to.join(&name), skip, incoming)?;
    }
    Ok(())
}

/// A whole-file upload being received; see [`Store::stage`].
pub(crate) struct Staged {
    /// Where the bytes go.
    pub file: tokio::fs::File,
    path: String,
    target: PathBuf,
    part: PartFile,
}

/// Removes a half-received upload unless it was renamed into place.
struct PartFile(Option<PathBuf>);

impl Drop for PartFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}
