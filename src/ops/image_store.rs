//! The image store: listings (paged, as a `Stream`), whole-file uploads, delete and copy, with
//! sizes as `u64` (the gateway writes them as strings).

use std::{io::SeekFrom, path::Path};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{TryStreamExt, stream};
use reqwest::StatusCode;

use crate::{
    Client, Error, Result,
    generated::types,
    ops::upload_sessions::u64_field,
    paging::{self, Page, Pages},
    paths,
    transport::{answer::Answer, call::Resend},
};

/// A file in the image store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFile {
    /// Path from the store root, with backslashes (`MyApp\ApplicationManifest.xml`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's version of the file, when the gateway sent it.
    pub version: Option<StoreFileVersion>,
    /// When the file last changed, when the gateway sent it.
    pub modified_date: Option<DateTime<Utc>>,
}

/// The image store's version of a file (its replica's epoch and a version number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFileVersion {
    /// Version number of the file in the store.
    pub version_number: u64,
    /// Data-loss epoch of the store replica that wrote it.
    pub epoch_data_loss_number: u64,
    /// Configuration epoch of the store replica that wrote it.
    pub epoch_configuration_number: u64,
}

/// A folder in the image store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFolder {
    /// Path from the store root, with backslashes.
    pub path: String,
    /// Number of files in the folder and below.
    pub file_count: u64,
}

/// One page of a listing; see [`Client::store_pages`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorePage {
    /// Files directly under the path (or the file itself, when the path names a file).
    pub files: Vec<StoreFile>,
    /// Folders directly under the path.
    pub folders: Vec<StoreFolder>,
    /// The token for the next page; `None` on the last one.
    pub continuation_token: Option<String>,
}

/// Everything directly under a path, across pages; see [`Client::store_content`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreContent {
    /// Files directly under the path (or the file itself).
    pub files: Vec<StoreFile>,
    /// Folders directly under the path.
    pub folders: Vec<StoreFolder>,
}

/// Settings of [`Client::copy_store_content`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// File names (not paths) left out of the copy.
    pub skip_files: Vec<String>,
    /// Copy only a complete folder: one holding its `_.dir` marker.
    pub check_mark_file: bool,
}

/// Every page of a listing, in order: what [`Client::store_pages`] returns.
pub type StorePages = Pages<StorePage>;

impl Page for StorePage {
    fn next_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    fn entries(&self) -> usize {
        self.files.len() + self.folders.len()
    }
}

impl StorePage {
    fn from_raw(raw: types::ImageStoreContent) -> Result<Self, String> {
        let files = raw
            .store_files
            .into_iter()
            .map(|f| {
                Ok(StoreFile {
                    path: f
                        .store_relative_path
                        .ok_or("StoreRelativePath is missing")?,
                    size: u64_field("FileSize", f.file_size.as_deref())?,
                    version: f
                        .file_version
                        .map(|v| {
                            Ok::<_, String>(StoreFileVersion {
                                version_number: u64_or_zero("VersionNumber", v.version_number)?,
                                epoch_data_loss_number: u64_or_zero(
                                    "EpochDataLossNumber",
                                    v.epoch_data_loss_number,
                                )?,
                                epoch_configuration_number: u64_or_zero(
                                    "EpochConfigurationNumber",
                                    v.epoch_configuration_number,
                                )?,
                            })
                        })
                        .transpose()?,
                    modified_date: f.modified_date.map(|d| parse_date(&d)).transpose()?,
                })
            })
            .collect::<Result<_, String>>()?;
        let folders = raw
            .store_folders
            .into_iter()
            .map(|f| {
                Ok(StoreFolder {
                    path: f
                        .store_relative_path
                        .ok_or("StoreRelativePath is missing")?,
                    file_count: u64_or_zero("FileCount", f.file_count)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            files,
            folders,
            continuation_token: raw
                .continuation_token
                .map(String::from)
                .filter(|t| !t.is_empty()),
        })
    }
}

fn u64_or_zero(field: &str, value: Option<String>) -> Result<u64, String> {
    value.map_or(Ok(0), |v| u64_field(field, Some(&v)))
}

pub(crate) fn parse_date(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("ModifiedDate: expected an RFC 3339 date-time, got {text:?} ({e})"))
}

impl Client {
    /// One page of what is directly under `path` in the image store (`None`: the store's
    /// root). An empty folder is an empty page (the gateway's 204); a path that does not exist
    /// fails with status 404 (see [`Error::is_not_found`]).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let page = client.store_content_page(Some("MyApp"), None).await?;
    /// for file in &page.files {
    ///     println!("{} {} bytes", file.path, file.size);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn store_content_page(
        &self,
        path: Option<&str>,
        continuation_token: Option<&str>,
    ) -> Result<StorePage> {
        let token = continuation_token.filter(|t| !t.is_empty());
        let timeout = self.timeout();
        let answer = match path {
            None => {
                self.call(
                    "GetImageStoreRootContent",
                    Resend::Safe,
                    || "the image store root".to_string(),
                    move |raw| async move {
                        let mut call = raw.get_image_store_root_content().timeout(timeout);
                        if let Some(token) = token {
                            call = call.continuation_token(token);
                        }
                        call.send().await
                    },
                )
                .await?
            }
            Some(path) => {
                let checked = paths::content_path(path)?;
                self.call(
                    "GetImageStoreContent",
                    Resend::Safe,
                    || format!("content path {path}"),
                    move |raw| async move {
                        let mut call = raw
                            .get_image_store_content()
                            .content_path(checked)
                            .timeout(timeout);
                        if let Some(token) = token {
                            call = call.continuation_token(token);
                        }
                        call.send().await
                    },
                )
                .await?
            }
        };
        match answer {
            Answer::Empty => Ok(StorePage::default()),
            Answer::Body(raw) => StorePage::from_raw(raw)
                .map_err(|detail| Error::decode(StatusCode::OK, detail, b"")),
        }
    }

    /// Every page of the listing of `path` (`None`: the root), following continuation tokens
    /// until the gateway sends none. Fails with [`Error::RepeatedContinuationToken`] rather
    /// than loop forever.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let mut pages = client.store_pages(Some("MyApp"));
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} files, {} folders", page.files.len(), page.folders.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn store_pages(&self, path: Option<&str>) -> StorePages {
        let client = self.clone();
        let path = path.map(str::to_string);
        paging::pages(move |token| {
            let (client, path) = (client.clone(), path.clone());
            async move {
                client
                    .store_content_page(path.as_deref(), token.as_deref())
                    .await
            }
        })
    }

    /// Everything directly under `path` (`None`: the root), across pages; `None` when the
    /// path does not exist.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// match client.store_content(Some("MyApp")).await? {
    ///     Some(content) => println!("{} folders", content.folders.len()),
    ///     None => println!("not in the store"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn store_content(&self, path: Option<&str>) -> Result<Option<StoreContent>> {
        let mut content = StoreContent::default();
        let mut pages = self.store_pages(path);
        loop {
            match pages.try_next().await {
                Ok(Some(page)) => {
                    content.files.extend(page.files);
                    content.folders.extend(page.folders);
                }
                Ok(None) => return Ok(Some(content)),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Every file under `path`, at every depth (`None`: the whole store); empty when the path
    /// does not exist. One listing per folder.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let files = client.store_files(Some("MyApp")).await?;
    /// let bytes: u64 = files.iter().map(|f| f.size).sum();
    /// println!("{} files, {bytes} bytes", files.len());
    /// # Ok(()) }
    /// ```
    pub async fn store_files(&self, path: Option<&str>) -> Result<Vec<StoreFile>> {
        let mut files = Vec::new();
        let mut folders = vec![path.map(str::to_string)];
        let mut seen = std::collections::HashSet::new();
        while let Some(folder) = folders.pop() {
            let Some(content) = self.store_content(folder.as_deref()).await? else {
                continue;
            };
            files.extend(content.files);
            for sub in content.folders {
                // A server that lists a folder inside itself must not make this loop forever.
                if seen.insert(sub.path.clone()) {
                    folders.push(Some(sub.path));
                }
            }
        }
        Ok(files)
    }

    /// Uploads the local file `local` to `content_path` in one request (UploadFile), its bytes
    /// streamed from disk, overwriting what is there. Sent again from the start after a
    /// transient failure. For large files on an unreliable network prefer
    /// servicefabric-deploy's `upload_file`, which resumes. Returns the bytes sent.
    ///
    /// ```no_run
    /// use std::path::Path;
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.upload_store_file(Path::new("Settings.xml"), "MyApp\\Config\\Settings.xml").await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_store_file(&self, local: &Path, content_path: &str) -> Result<u64> {
        let checked = paths::content_path(content_path)?;
        let io_error = |e: std::io::Error| {
            Error::invalid(
                "local file",
                local.display(),
                &format!("a readable file ({e})"),
            )
        };
        let file = std::fs::File::open(local).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(Error::invalid(
                "local file",
                local.display(),
                "a regular file",
            ));
        }
        let size = metadata.len();
        let timeout = self.timeout();
        self.call(
            "UploadFile",
            Resend::Safe,
            || format!("content path {content_path}"),
            |raw| {
                let body = file_body(file.try_clone(), size);
                async move {
                    raw.upload_file()
                        .content_path(checked)
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
        )
        .await?;
        Ok(size)
    }

    /// Uploads `bytes` as the whole file at `content_path` (UploadFile), overwriting what is
    /// there. An empty body makes an empty file: this is how `_.dir` folder markers are
    /// written.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.upload_store_bytes("MyApp\\_.dir", Vec::new()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_store_bytes(
        &self,
        content_path: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<()> {
        let checked = paths::content_path(content_path)?;
        let bytes: Bytes = bytes.into();
        let timeout = self.timeout();
        self.call(
            "UploadFile",
            Resend::Safe,
            || format!("content path {content_path}"),
            |raw| {
                let bytes = bytes.clone();
                async move {
                    raw.upload_file()
                        .content_path(checked)
                        .body(bytes)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
        )
        .await
        .map(drop)
    }

    /// Deletes a file, or a folder with everything under it. A path that does not exist fails
    /// with status 404 ([`Error::is_not_found`]).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.delete_store_content("MyApp").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_store_content(&self, content_path: &str) -> Result<()> {
        let checked = paths::content_path(content_path)?;
        let timeout = self.timeout();
        // Deleting twice is harmless except for its answer: a lost answer is not re-sent, so a
        // 404 always means the path was not there when asked.
        self.call(
            "DeleteImageStoreContent",
            Resend::IfNotSent,
            || format!("content path {content_path}"),
            move |raw| async move {
                raw.delete_image_store_content()
                    .content_path(checked)
                    .timeout(timeout)
                    .send()
                    .await
            },
        )
        .await
        .map(drop)
    }

    /// Copies store content from `source` to `destination` inside the image store.
    ///
    /// ```no_run
    /// use servicefabric_rest::CopyOptions;
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let options = CopyOptions { check_mark_file: true, ..CopyOptions::default() };
    /// client.copy_store_content("MyApp", "MyAppBackup", &options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn copy_store_content(
        &self,
        source: &str,
        destination: &str,
        options: &CopyOptions,
    ) -> Result<()> {
        paths::content_path(source)?;
        paths::content_path(destination)?;
        let body = types::ImageStoreCopyDescription {
            remote_source: source.to_string(),
            remote_destination: destination.to_string(),
            skip_files: options.skip_files.clone(),
            check_mark_file: Some(options.check_mark_file),
        };
        let timeout = self.timeout();
        self.call(
            "CopyImageStoreContent",
            Resend::Safe,
            || format!("content path {source}"),
            |raw| {
                let body = body.clone();
                async move {
                    raw.copy_image_store_content()
                        .body(body)
                        .timeout(timeout)
                        .send()
                        .await
                }
            },
        )
        .await
        .map(drop)
    }
}

/// A request body streaming exactly `size` bytes of the file from its start; a file that
/// shrank fails the request instead of sending a short file. Each piece's buffer is
/// allocated here, on the async worker that frees it, and only filled on a blocking thread:
/// buffers allocated on the many blocking threads spread over glibc's per-thread arenas, and
/// peak memory then grew with file size (BENCHMARKS.md, issue 21).
fn file_body(file: std::io::Result<std::fs::File>, size: u64) -> reqwest::Body {
    const PIECE: u64 = 256 * 1024;
    let start = async move {
        let mut file = file?;
        std::io::Seek::seek(&mut file, SeekFrom::Start(0))?;
        Ok::<_, std::io::Error>((file, 0u64))
    };
    let pieces = stream::once(start)
        .map_ok(move |state| {
            stream::try_unfold(state, move |(file, sent)| async move {
                if sent >= size {
                    return Ok(None);
                }
                let want = usize::try_from((size - sent).min(PIECE)).unwrap_or(PIECE as usize);
                let buffer = vec![0u8; want];
                let (file, mut buffer, n) = tokio::task::spawn_blocking(move || {
                    let (mut file, mut buffer) = (file, buffer);
                    let n = std::io::Read::read(&mut file, &mut buffer)?;
                    Ok::<_, std::io::Error>((file, buffer, n))
                })
                .await
                .map_err(std::io::Error::other)??;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the file shrank while it was sent ({sent} of {size} bytes)"),
                    ));
                }
                buffer.truncate(n);
                Ok(Some((Bytes::from(buffer), (file, sent + n as u64))))
            })
        })
        .try_flatten();
    reqwest::Body::wrap_stream(pieces)
}
