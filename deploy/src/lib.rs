//! Workflows of many gateway calls over a [`servicefabric_rest::Client`]: what the AWS SDK's
//! transfer manager is to its S3 client.
//!
//! - [`ClientExt::upload_file`]: one local file into the image store through an upload
//!   session, resumable, committed only once the gateway shows every byte.
//! - [`ClientExt::upload_package`]: an application package folder, checked as provisioning
//!   would check it, sent in parallel, resumable, each folder marked complete (`_.dir`) only
//!   once the store shows everything in it.
//!
//! Each workflow is a method of the [`ClientExt`] extension trait, implemented for
//! [`Client`]: bring the trait into scope and call it on the client.
//!
//! ```no_run
//! use std::path::Path;
//! use servicefabric_deploy::{ClientExt, PackageOptions};
//! use servicefabric_rest::Client;
//!
//! # async fn demo() -> servicefabric_rest::Result<()> {
//! let client = Client::new("http://localhost:19080")?;
//! let report = client
//!     .upload_package(Path::new("out/MyAppPkg"), "MyAppPkg", &PackageOptions::default())
//!     .await?;
//! println!("{} files sent, {} already there", report.files_sent, report.files_skipped);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod application;
mod file_upload;
mod package;
mod workflow;

use std::{future::Future, path::Path};

pub use application::{
    options::{DeployEvent, DeployEventFn, DeployOptions, Step, UpgradeSettings},
    profile::PublishProfile,
    report::{DeployReport, Outcome},
};
pub use file_upload::{ProgressFn, UploadOptions, UploadProgress, UploadReport};
pub use package::{
    PackageOptions, PackageProgress, PackageProgressFn, PackageReport, default_resume_dir,
};
/// The client crate, whose [`Client`], [`Error`] and [`Result`] the workflows use.
pub use servicefabric_rest;
pub use servicefabric_rest::{Client, Error, Result, Uuid};

use workflow::Workflow;

/// The workflows, as methods of a [`Client`]. Every call goes through the client's request
/// policy (retries, failover, TLS, tokens).
pub trait ClientExt {
    /// Uploads the local file `local` to `content_path` in the image store and commits it.
    ///
    /// Resumable: with the `session_id` (or the [`UploadOptions::resume_record`]) of an
    /// earlier, interrupted call, only the ranges the gateway still expects are sent. Chunks
    /// lost to a transient failure are re-sent only after reading the session back, and the
    /// file is committed only once the gateway shows every byte received.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use servicefabric_deploy::{ClientExt, UploadOptions};
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let options = UploadOptions {
    ///     resume_record: Some(std::env::temp_dir()),
    ///     ..Default::default()
    /// };
    /// let report = client
    ///     .upload_file(Path::new("pkg.zip"), "Store\\MyApp\\pkg.zip", &options)
    ///     .await?;
    /// println!("sent {} of {} bytes", report.bytes_sent, report.file_size);
    /// # Ok(()) }
    /// ```
    fn upload_file(
        &self,
        local: &Path,
        content_path: &str,
        options: &UploadOptions,
    ) -> impl Future<Output = Result<UploadReport>> + Send;

    /// Uploads the application package in `local_dir` to `path_in_store` in the image store,
    /// ready for [`Client::provision_application_type`](servicefabric_rest::Client::provision_application_type).
    ///
    /// - Refuses, before sending anything, what provisioning would refuse: no
    ///   `ApplicationManifest.xml`, an imported service without its `ServiceManifest.xml`, a
    ///   Code/Config/Data package that is neither a folder nor a `.zip`, a store path with
    ///   `..` or under the store's own `Store` folder.
    /// - Files already in the store with the same size are skipped; large files go through
    ///   upload sessions, and an interrupted one is resumed (found by path, vouched for by
    ///   the resume record: a file changed since its session began starts over).
    /// - Every file is checked in the store before any folder is marked complete; then the
    ///   `_.dir` markers are written deepest first, the package's own last.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use servicefabric_deploy::{ClientExt, PackageOptions};
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let report = client
    ///     .upload_package(Path::new("out/MyAppPkg"), "MyAppPkg", &PackageOptions::default())
    ///     .await?;
    /// println!("{} of {} files sent", report.files_sent, report.files);
    /// # Ok(()) }
    /// ```
    fn upload_package(
        &self,
        local_dir: &Path,
        path_in_store: &str,
        options: &PackageOptions,
    ) -> impl Future<Output = Result<PackageReport>> + Send;

    /// Deploys the application package in `package_dir`: reads the manifest, parameters and
    /// publish profile and checks them (an undeclared parameter is refused before anything
    /// changes); uploads the package (a diff package with [`DeployOptions::diff`]) and
    /// provisions it unless the cluster has that type version; then creates the application,
    /// or upgrades it with every declared parameter, as the cluster's state says; follows the
    /// upgrade to its end; and cleans up.
    ///
    /// Running it again after success sends no upload, provision or upgrade; after an
    /// interruption, it resumes the upload, finds the provision done and follows the upgrade
    /// already running. An upgrade toward another version is refused
    /// ([`Error::Refused`]) unless
    /// [`DeployOptions::wait_previous`].
    ///
    /// `Err` means nothing was started that the report would describe; how an upgrade ended
    /// (rolled back, paused, the deadline) is the report's [`Outcome`].
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use servicefabric_deploy::{ClientExt, DeployOptions};
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let report = client.deploy(Path::new("out/MyAppPkg"), &DeployOptions::default()).await?;
    /// println!("{} {}: {}", report.application, report.type_version, report.outcome.as_str());
    /// # Ok(()) }
    /// ```
    fn deploy(
        &self,
        package_dir: &Path,
        options: &DeployOptions,
    ) -> impl Future<Output = Result<DeployReport>> + Send;
}

impl ClientExt for Client {
    async fn deploy(&self, package_dir: &Path, options: &DeployOptions) -> Result<DeployReport> {
        Workflow(self).deploy(package_dir, options).await
    }

    async fn upload_file(
        &self,
        local: &Path,
        content_path: &str,
        options: &UploadOptions,
    ) -> Result<UploadReport> {
        let (report, resent) = servicefabric_rest::count_resends(Workflow(self).upload_file(
            local,
            content_path,
            options,
        ))
        .await;
        report.map(|mut report| {
            report.retries = report
                .retries
                .saturating_add(u32::try_from(resent).unwrap_or(u32::MAX));
            report
        })
    }

    async fn upload_package(
        &self,
        local_dir: &Path,
        path_in_store: &str,
        options: &PackageOptions,
    ) -> Result<PackageReport> {
        let (report, resent) = servicefabric_rest::count_resends(Workflow(self).upload_package(
            local_dir,
            path_in_store,
            options,
        ))
        .await;
        report.map(|mut report| {
            report.retries = report.retries.saturating_add(resent);
            report
        })
    }
}

/// The README's Rust examples, compiled as doctests here: this crate sees all three
/// libraries the examples use. They are whole programs, to paste into a `main.rs`; the
/// secure-cluster ones need TLS, hence the feature.
#[cfg(all(doctest, feature = "tls"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
