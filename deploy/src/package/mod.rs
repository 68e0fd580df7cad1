//! [`ClientExt::upload_package`](crate::ClientExt::upload_package): an application package folder into the image store, resumable
//! and parallel, each folder marked complete (`_.dir`) only once everything in it is there.

mod completion;
mod compress;
mod layout;
mod record;

use std::{
    collections::HashSet,
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt, stream};

use servicefabric_rest::{
    Error, Result,
    paths::{package_path, store_form},
};

use crate::{
    file_upload::{ProgressFn, UploadOptions, record_location, recorded_session},
    workflow::Workflow,
};
use completion::parent;
use layout::{Layout, MARKER, PackageFile};

/// Settings of [`ClientExt::upload_package`](crate::ClientExt::upload_package).
///
/// ```
/// use servicefabric_deploy::PackageOptions;
///
/// let options = PackageOptions { parallel: 8, compress: true, ..PackageOptions::default() };
/// ```
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Files sent at once (default 8, measured: `benches/upload_limit.rs`); each has at most
    /// one request in flight.
    pub parallel: usize,
    /// Files of at least this size go through resumable upload sessions, in chunks; smaller
    /// ones in one request (UploadFile). Default 16 MiB (see BENCHMARKS.md).
    pub session_threshold: u64,
    /// Chunk size of session uploads (default 4 MiB).
    pub chunk_size: u64,
    /// Chunks of one session upload sent at once (default 4); see
    /// [`UploadOptions::chunks_in_flight`].
    pub chunks_in_flight: usize,
    /// Failures in a row tolerated per file, on top of the client's retry policy (default 5).
    pub max_retries: u32,
    /// Zip each Code/Config/Data folder into `{Name}.zip` in a temporary copy, and upload
    /// that. The local folder is never modified.
    pub compress: bool,
    /// Where resume records of session uploads are kept, so that a second run resumes
    /// without any bookkeeping by the caller. Default: [`default_resume_dir`]; `None` keeps
    /// no record (an interrupted large file then starts over).
    pub resume_dir: Option<PathBuf>,
    /// Called as bytes and files are acknowledged.
    pub progress: Option<PackageProgressFn>,
}

impl Default for PackageOptions {
    fn default() -> Self {
        Self {
            parallel: 8,
            session_threshold: 16 * 1024 * 1024,
            chunk_size: 4 * 1024 * 1024,
            chunks_in_flight: 4,
            max_retries: 5,
            compress: false,
            resume_dir: Some(default_resume_dir()),
            progress: None,
        }
    }
}

/// Where resume records go by default: `$XDG_CACHE_HOME/servicefabric-rest/uploads`, else
/// `~/.cache/...`, else the temporary directory.
///
/// ```
/// let dir = servicefabric_deploy::default_resume_dir();
/// assert!(dir.ends_with("servicefabric-rest/uploads"));
/// ```
pub fn default_resume_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("servicefabric-rest").join("uploads")
}

/// Where a package upload stands; see [`PackageOptions::progress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageProgress {
    /// Bytes the store holds of the package (skipped and resumed ones included).
    pub bytes_done: u64,
    /// Bytes of the whole package.
    pub bytes_total: u64,
    /// Files complete in the store.
    pub files_done: u64,
    /// Files of the package.
    pub files_total: u64,
    /// The file this event is about (path inside the package, backslashes).
    pub file: String,
    /// Bytes of that file the store holds.
    pub file_bytes_done: u64,
    /// That file's size.
    pub file_bytes_total: u64,
    /// Of `bytes_done`, the bytes the store already held when this call began (files it
    /// skipped, and what resumed sessions had received): `bytes_done - bytes_found` is what
    /// this call sent, for a rate.
    pub bytes_found: u64,
}

/// A progress callback for [`PackageOptions::progress`]; it runs on the uploading tasks, so
/// keep it quick.
///
/// ```
/// use servicefabric_deploy::{PackageOptions, PackageProgressFn};
///
/// let options = PackageOptions {
///     progress: Some(PackageProgressFn::new(|p| {
///         eprintln!("{}/{} files, {}/{} bytes", p.files_done, p.files_total, p.bytes_done, p.bytes_total)
///     })),
///     ..PackageOptions::default()
/// };
/// ```
#[derive(Clone)]
pub struct PackageProgressFn(Arc<dyn Fn(&PackageProgress) + Send + Sync>);

impl PackageProgressFn {
    /// Wraps a callback.
    pub fn new(callback: impl Fn(&PackageProgress) + Send + Sync + 'static) -> Self {
        Self(Arc::new(callback))
    }
}

impl fmt::Debug for PackageProgressFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PackageProgressFn")
    }
}

/// What [`ClientExt::upload_package`](crate::ClientExt::upload_package) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageReport {
    /// `ApplicationTypeName` of the package's manifest.
    pub application_type_name: String,
    /// `ApplicationTypeVersion` of the package's manifest.
    pub application_type_version: String,
    /// The package's folder in the store, with backslashes.
    pub path_in_store: String,
    /// Files in the package (after compression, when asked).
    pub files: u64,
    /// Files this call sent.
    pub files_sent: u64,
    /// Files already in the store with the same size, not sent again.
    pub files_skipped: u64,
    /// Bytes of the package.
    pub bytes_total: u64,
    /// Bytes this call sent and the store acknowledged.
    pub bytes_sent: u64,
    /// Bytes not sent because the store held them: skipped files and resumed sessions.
    pub bytes_resumed: u64,
    /// Requests sent again after a failed attempt (a 503, a timeout, a dropped connection),
    /// those the client's retry policy recovered from included.
    pub retries: u64,
    /// Folders of the package; each holds its `_.dir` marker when the call returns.
    pub folders: u64,
    /// Whether Code/Config/Data folders were sent as `.zip`.
    pub compressed: bool,
    /// Wall time of the call.
    pub elapsed: Duration,
}

/// Shared progress of one package.
struct Tracker {
    bytes_total: u64,
    files_total: u64,
    /// Bytes done, files done, bytes found in the store.
    done: Mutex<(u64, u64, u64)>,
    callback: Option<PackageProgressFn>,
}

impl Tracker {
    /// Adds `delta` acknowledged bytes of `file` (`found`: the store held them before this
    /// call), and one file when `finished`.
    fn add(&self, file: &PackageFile, delta: u64, file_done: u64, finished: bool, found: bool) {
        let (bytes_done, files_done, bytes_found) = {
            let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            done.0 = done.0.saturating_add(delta);
            done.1 += u64::from(finished);
            if found {
                done.2 = done.2.saturating_add(delta);
            }
            *done
        };
        if let Some(callback) = &self.callback {
            (callback.0)(&PackageProgress {
                bytes_done,
                bytes_total: self.bytes_total,
                files_done,
                files_total: self.files_total,
                file: file.relative.clone(),
                file_bytes_done: file_done,
                file_bytes_total: file.size,
                bytes_found,
            });
        }
    }
}

/// What sending one file did.
#[derive(Default)]
struct Sent {
    bytes: u64,
    resumed: u64,
    retries: u64,
}

impl Workflow<'_> {
    /// See [`ClientExt::upload_package`](crate::ClientExt::upload_package).
    pub(crate) async fn upload_package(
        self,
        local_dir: &Path,
        path_in_store: &str,
        options: &PackageOptions,
    ) -> Result<PackageReport> {
        self.upload_package_of(local_dir, path_in_store, options, false)
            .await
    }

    /// Uploads a package; a diff package (`diff`) may leave out services and packages.
    pub(crate) async fn upload_package_of(
        self,
        local_dir: &Path,
        path_in_store: &str,
        options: &PackageOptions,
        diff: bool,
    ) -> Result<PackageReport> {
        let started = Instant::now();
        let target = store_form(package_path(path_in_store)?);
        if options.parallel == 0 {
            return Err(Error::invalid("parallel", 0, "at least 1 file at a time"));
        }
        if options.chunk_size == 0 {
            return Err(Error::invalid("chunk size", 0, "at least 1 byte"));
        }
        if options.chunks_in_flight == 0 {
            return Err(Error::invalid("chunks in flight", 0, "at least 1 chunk"));
        }
        let dir = local_dir.to_path_buf();
        let layout = blocking(move || layout::read(&dir, diff)).await?;
        // Kept alive until the upload ends: the zips are read from it.
        let mut scratch = None;
        let layout = if options.compress {
            // With a resume directory the zips are built where the next run finds them: the
            // same bytes and the same files, so an interrupted upload of a zip resumes.
            let path = match &options.resume_dir {
                Some(dir) => compress::stable_folder(dir, local_dir, &target),
                None => {
                    let tmp = tempfile::Builder::new()
                        .prefix("sfrest-package-")
                        .tempdir()
                        .map_err(|e| {
                            Error::invalid(
                                "temporary folder",
                                std::env::temp_dir().display(),
                                &format!("a writable folder for the compressed copy ({e})"),
                            )
                        })?;
                    let path = tmp.path().to_path_buf();
                    scratch = Some(tmp);
                    path
                }
            };
            blocking(move || compress::zip_packages(&layout, &path)).await?
        } else {
            layout
        };
        if let Some(dir) = &options.resume_dir {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                Error::invalid(
                    "resume directory",
                    dir.display(),
                    &format!("a writable folder ({e})"),
                )
            })?;
        }
        let report = self.send_layout(&layout, &target, options).await;
        drop(scratch);
        let mut report = report?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    async fn send_layout(
        &self,
        layout: &Layout,
        target: &str,
        options: &PackageOptions,
    ) -> Result<PackageReport> {
        let store_path = |relative: &str| format!("{target}\\{relative}");
        let mut found = self.list_tree(target).await?;
        // Files in folders the store does not list (an interrupted upload) are looked up
        // only when this machine's log says the store acknowledged them; the rest are sent.
        let log = options
            .resume_dir
            .as_deref()
            .map(|dir| record::location(dir, target));
        let acknowledged = match &log {
            Some(log) => record::read(log).await,
            None => HashSet::new(),
        };
        let unlisted: Vec<String> = layout
            .files
            .iter()
            .filter(|f| !found.listed.contains(&store_path(parent(&f.relative))))
            .filter(|f| acknowledged.contains(&(f.relative.clone(), f.size)))
            .map(|f| store_path(&f.relative))
            .collect();
        let looked_up = self.look_up(unlisted, options.parallel).await?;
        found.sizes.extend(looked_up);
        let tracker = Arc::new(Tracker {
            bytes_total: layout.files.iter().map(|f| f.size).sum(),
            files_total: layout.files.len() as u64,
            done: Mutex::new((0, 0, 0)),
            callback: options.progress.clone(),
        });
        let mut report = PackageReport {
            application_type_name: layout.type_name.clone(),
            application_type_version: layout.type_version.clone(),
            path_in_store: target.to_string(),
            files: layout.files.len() as u64,
            files_sent: 0,
            files_skipped: 0,
            bytes_total: tracker.bytes_total,
            bytes_sent: 0,
            bytes_resumed: 0,
            retries: 0,
            folders: layout.folders.len() as u64,
            compressed: options.compress,
            elapsed: Duration::ZERO,
        };
        let (skip, send): (Vec<&PackageFile>, Vec<&PackageFile>) = layout
            .files
            .iter()
            .partition(|f| found.sizes.get(&store_path(&f.relative)) == Some(&f.size));
        for file in &skip {
            tracker.add(file, file.size, file.size, true, true);
            report.files_skipped += 1;
            report.bytes_resumed += file.size;
        }
        // The package changes: it is not complete until every file is in again.
        if !send.is_empty() && found.listed.remove(target) {
            self.delete_store_content(&store_path(MARKER)).await?;
        }
        let touched: HashSet<String> = send
            .iter()
            .map(|f| {
                let folder = parent(&f.relative);
                if folder.is_empty() {
                    target.to_string()
                } else {
                    store_path(folder)
                }
            })
            .collect();
        let acknowledgements = Arc::new(record::Writer::open(log.as_deref()));
        // Owned items: a future that borrows from a closure's argument cannot be shown `Send`
        // for every lifetime, and the workflows' futures must be `Send`.
        let results: Vec<Sent> = stream::iter(send.into_iter().cloned().map(|file| {
            let tracker = tracker.clone();
            let acknowledgements = acknowledgements.clone();
            let path = store_path(&file.relative);
            async move {
                let sent = self.send_file(&file, path, options, tracker).await?;
                acknowledgements.acknowledged(&file.relative, file.size);
                Ok::<_, Error>(sent)
            }
        }))
        .buffer_unordered(options.parallel)
        .try_collect()
        .await?;
        for sent in results {
            report.files_sent += 1;
            report.bytes_sent += sent.bytes;
            report.bytes_resumed += sent.resumed;
            report.retries += sent.retries;
        }
        self.complete(layout, target, &found, &touched, options.parallel)
            .await?;
        drop(acknowledgements);
        if let Some(log) = &log {
            let _ = tokio::fs::remove_file(log).await;
        }
        Ok(report)
    }

    /// Sends one file, by session when large; it is complete in the store when this returns.
    async fn send_file(
        &self,
        file: &PackageFile,
        path: String,
        options: &PackageOptions,
        tracker: Arc<Tracker>,
    ) -> Result<Sent> {
        if file.size == 0 || file.size < options.session_threshold {
            let mut failures = 0u32;
            loop {
                match self.upload_store_file(&file.local, &path).await {
                    Ok(bytes) => {
                        tracker.add(file, bytes, bytes, true, false);
                        return Ok(Sent {
                            bytes,
                            resumed: 0,
                            retries: u64::from(failures),
                        });
                    }
                    Err(e) if e.is_transient() && failures < options.max_retries => {
                        failures += 1;
                        tracing::info!(file = %path, failures, error = %e, "upload_package retrying a file");
                        tokio::time::sleep(Duration::from_millis(200) * (1 << failures.min(6)))
                            .await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let record = match &options.resume_dir {
            Some(dir) => Some(self.vouched_record(dir, &path, file.size).await?),
            None => None,
        };
        let last = Arc::new(AtomicU64::new(0));
        let first_seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress = {
            let (tracker, file, last) = (tracker.clone(), file.clone(), last.clone());
            let first_seen = first_seen.clone();
            ProgressFn::new(move |p| {
                let before = last.fetch_max(p.acknowledged, Ordering::Relaxed);
                // The first report is the session read back: what an earlier run sent.
                let found = !first_seen.swap(true, Ordering::Relaxed);
                if p.acknowledged > before {
                    tracker.add(&file, p.acknowledged - before, p.acknowledged, false, found);
                }
            })
        };
        let upload = UploadOptions {
            session_id: None,
            chunk_size: options.chunk_size,
            chunks_in_flight: options.chunks_in_flight,
            max_retries: options.max_retries,
            resume_record: record,
            progress: Some(progress),
            ..UploadOptions::default()
        };
        let report = self.upload_file(&file.local, &path, &upload).await?;
        let before = last.swap(file.size, Ordering::Relaxed);
        tracker.add(
            file,
            file.size.saturating_sub(before),
            file.size,
            true,
            false,
        );
        Ok(Sent {
            bytes: report.bytes_sent,
            resumed: report.resumed_bytes,
            retries: u64::from(report.retries),
        })
    }

    /// The resume record to use for a session upload of `path`. The sessions the store holds
    /// for the path are looked up (GetUploadSession by path); one is resumed only when it
    /// has the file's size and the record names it (the record also proves the local file
    /// has not changed since the session began: [`Client::upload_file`] checks that). A
    /// record naming no such session is dropped, so the file starts in a fresh session.
    async fn vouched_record(&self, dir: &Path, path: &str, size: u64) -> Result<PathBuf> {
        let record = record_location(dir, path);
        let named = recorded_session(&record, path).await;
        let found = match named {
            Some(id) => self
                .upload_sessions_by_path(path)
                .await?
                .iter()
                .any(|s| s.session_id == id && s.file_size == size),
            None => false,
        };
        if !found {
            let _ = tokio::fs::remove_file(&record).await;
        }
        Ok(record)
    }
}

/// Runs file-system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        Error::invalid(
            "application package",
            "(reading the folder)",
            &format!("a read that completes ({e})"),
        )
    })?
}
