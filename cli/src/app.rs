//! `sfrest app …`: upload and provision an application package folder; the application
//! lifecycle commands are in `lifecycle.rs`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use servicefabric_deploy::{ClientExt, PackageOptions, PackageProgressFn, PackageReport};
use servicefabric_emulator::{SamplePackage, write_sample_package};
use servicefabric_rest::{
    ApplicationPackage, CleanupPolicy, Client, DEFAULT_PROVISION_TIMEOUT, ProvisionOptions,
    Provisioned,
};

use crate::{
    Target, lifecycle,
    output::{Failure, interrupted, note, out},
    package_flags::PackageFlags,
    progress::Progress,
};

#[derive(Subcommand)]
pub enum AppCommand {
    /// Deploy a package folder: upload and provision it unless the cluster has that version,
    /// then create the application or upgrade it and follow the upgrade to its end; exit
    /// 0 deployed, 1 failed, 2 command line refused, 3 rolled back, 4 upgrade failed, 5
    /// paused for a manual action, 6 deadline passed.
    Deploy(Box<crate::deploy::DeployArgs>),
    /// Upload an application package folder to the image store: parallel, resumable (run the
    /// same command again after an interruption), each folder marked complete last.
    Upload(UploadArgs),
    /// Provision (register) an application type from a package in the image store, or from
    /// an .sfpkg at a URI.
    Provision(ProvisionArgs),
    /// The provisioned application types and versions.
    Types(crate::lifecycle::TypesArgs),
    /// Unprovision a version of an application type (refused while it is in use).
    Unprovision(crate::lifecycle::UnprovisionArgs),
    /// The applications.
    Ls(crate::lifecycle::ListArgs),
    /// One application: its type, version, status, health and parameters.
    Show(crate::lifecycle::NameArgs),
    /// Create an application of a provisioned type and version.
    Create(crate::lifecycle::CreateArgs),
    /// Start a rolling upgrade; returns once the gateway accepted it (follow it with
    /// `app status --watch`).
    Upgrade(Box<crate::lifecycle::UpgradeArgs>),
    /// The latest upgrade and where it stands; --watch follows it to its end.
    Status(crate::lifecycle::StatusArgs),
    /// Roll back the running upgrade.
    Rollback(crate::lifecycle::ChangeArgs),
    /// Start the next upgrade domain of a manual upgrade.
    Resume(crate::lifecycle::ResumeArgs),
    /// The application's health and its services'.
    Health(crate::lifecycle::NameArgs),
    /// Delete an application (asks for confirmation on a terminal, unless --yes).
    Rm(crate::lifecycle::RemoveArgs),
    /// Write a sample application package to DIR (services, nested folders, names with
    /// spaces and non-ASCII letters, one large code file), to try `app upload` or
    /// `app deploy` on.
    Sample {
        /// Where to write it (created if missing).
        dir: PathBuf,
        /// Small files in all.
        #[arg(long, default_value_t = 12)]
        files: usize,
        /// Size of each small file, in bytes.
        #[arg(long, default_value_t = 10 * 1024)]
        file_size: usize,
        /// Size of the large code file, in bytes.
        #[arg(long, default_value_t = 3 * 1024 * 1024)]
        large_file_size: u64,
        /// ApplicationTypeVersion in the manifest (a second version to upgrade to).
        #[arg(long, default_value = "1.0.0")]
        type_version: String,
        /// Services whose version (and code) is the type version's, the others staying at
        /// 1.0.0 [default: 0 for 1.0.0, else 1].
        #[arg(long)]
        changed_services: Option<usize>,
    },
}

#[derive(Args)]
pub struct UploadArgs {
    /// The application package folder (holding ApplicationManifest.xml).
    dir: PathBuf,
    /// Where in the image store [default: the folder's name].
    #[arg(long)]
    path_in_store: Option<String>,
    #[command(flatten)]
    package: PackageFlags,
    /// Provision the application type once the upload is complete.
    #[arg(long)]
    provision: bool,
    /// With --provision: server timeout of the provision, in seconds.
    #[arg(long, default_value_t = DEFAULT_PROVISION_TIMEOUT)]
    provision_timeout: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["path_in_store", "external_uri"])))]
pub struct ProvisionArgs {
    /// The package's folder in the image store.
    path_in_store: Option<String>,
    /// Provision an .sfpkg from this http(s) URI instead (with --type-name and
    /// --type-version).
    #[arg(long, requires_all = ["type_name", "type_version"])]
    external_uri: Option<String>,
    /// The application type name (with --external-uri).
    #[arg(long)]
    type_name: Option<String>,
    /// The application type version (with --external-uri).
    #[arg(long)]
    type_version: Option<String>,
    /// Return once the cluster accepted the request (202), without waiting for it.
    #[arg(long = "async")]
    asynchronous: bool,
    /// What happens to the package in the store once provisioned.
    #[arg(long, value_enum, default_value_t = Cleanup::Default)]
    cleanup: Cleanup,
    /// Server timeout of the provision, in seconds.
    #[arg(long, default_value_t = DEFAULT_PROVISION_TIMEOUT)]
    provision_timeout: u64,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Clone, Copy, ValueEnum)]
enum Cleanup {
    Default,
    Automatic,
    Manual,
}

pub async fn run(command: AppCommand, top: &Target) -> Result<(), Failure> {
    match command {
        AppCommand::Upload(args) => upload(&args, &args.target.or(top)).await,
        AppCommand::Deploy(args) => crate::deploy::run(&args, &args.target.or(top)).await,
        AppCommand::Types(args) => lifecycle::types(&args, &args.target.or(top)).await,
        AppCommand::Unprovision(args) => lifecycle::unprovision(&args, &args.target.or(top)).await,
        AppCommand::Ls(args) => lifecycle::list(&args, &args.target.or(top)).await,
        AppCommand::Show(args) => lifecycle::show(&args, &args.target.or(top)).await,
        AppCommand::Create(args) => lifecycle::create(&args, &args.target.or(top)).await,
        AppCommand::Upgrade(args) => lifecycle::upgrade(&args, &args.target.or(top)).await,
        AppCommand::Status(args) => lifecycle::status(&args, &args.target.or(top)).await,
        AppCommand::Rollback(args) => lifecycle::rollback(&args, &args.target.or(top)).await,
        AppCommand::Resume(args) => lifecycle::resume(&args, &args.target.or(top)).await,
        AppCommand::Health(args) => lifecycle::health(&args, &args.target.or(top)).await,
        AppCommand::Rm(args) => lifecycle::remove(&args, &args.target.or(top)).await,
        AppCommand::Sample {
            dir,
            files,
            file_size,
            large_file_size,
            type_version,
            changed_services,
        } => {
            let sample = SamplePackage {
                small_files: files,
                small_file_bytes: file_size,
                large_file_bytes: large_file_size,
                changed_services: changed_services.unwrap_or(usize::from(type_version != "1.0.0")),
                type_version,
                ..SamplePackage::default()
            };
            let summary = write_sample_package(&dir, &sample).map_err(|e| {
                Failure::Usage(format!("cannot write a sample package to {dir:?}: {e}"))
            })?;
            out(format_args!(
                "wrote {} files, {} bytes to {} ({} {})\n",
                summary.files,
                summary.bytes,
                dir.display(),
                sample.type_name,
                sample.type_version
            ))
        }
        AppCommand::Provision(args) => {
            let client = crate::connect_for_change(&args.target.or(top), "app provision").await?;
            let package = match (&args.external_uri, &args.path_in_store) {
                (Some(uri), _) => ApplicationPackage::External {
                    uri: uri.clone(),
                    type_name: args.type_name.clone().unwrap_or_default(),
                    type_version: args.type_version.clone().unwrap_or_default(),
                },
                (None, path) => ApplicationPackage::ImageStore {
                    path: path.clone().unwrap_or_default(),
                    cleanup: match args.cleanup {
                        Cleanup::Default => CleanupPolicy::Default,
                        Cleanup::Automatic => CleanupPolicy::Automatic,
                        Cleanup::Manual => CleanupPolicy::Manual,
                    },
                },
            };
            let options = ProvisionOptions {
                asynchronous: args.asynchronous,
                server_timeout: args.provision_timeout,
            };
            provision(&client, &package, &options).await
        }
    }
}

async fn provision(
    client: &Client,
    package: &ApplicationPackage,
    options: &ProvisionOptions,
) -> Result<(), Failure> {
    let what = match package {
        ApplicationPackage::ImageStore { path, .. } => path.clone(),
        ApplicationPackage::External { uri, .. } => uri.clone(),
    };
    match client.provision_application_type(package, options).await? {
        Provisioned::Done => out(format_args!("provisioned {what}\n")),
        Provisioned::Accepted => out(format_args!(
            "provision of {what} accepted; it continues on the cluster\n"
        )),
    }
}

async fn upload(args: &UploadArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "app upload").await?;
    if !args.dir.is_dir() {
        return Err(Failure::Usage(format!(
            "{}: no such folder; expected an application package folder (holding \
             ApplicationManifest.xml)",
            args.dir.display()
        )));
    }
    let path_in_store = match &args.path_in_store {
        Some(path) => path.clone(),
        None => args
            .dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "cannot name the package after {:?}: give --path-in-store",
                    args.dir
                ))
            })?,
    };
    let progress = std::sync::Arc::new(Progress::start(
        &format!("app upload {path_in_store}"),
        true,
    ));
    let shown = progress.clone();
    let found_so_far = std::sync::atomic::AtomicU64::new(0);
    let options = PackageOptions {
        progress: Some(PackageProgressFn::new(move |p| {
            shown.bytes(p.bytes_done, p.bytes_total, p.bytes_found);
            // A file found in the store is no milestone: only files this run sent are.
            let found = found_so_far.swap(p.bytes_found, std::sync::atomic::Ordering::Relaxed)
                < p.bytes_found;
            let finished =
                (p.file_bytes_done == p.file_bytes_total && !found).then_some(p.file.as_str());
            shown.files(p.files_done, p.files_total, finished);
        })),
        ..args.package.options()
    };
    let outcome = tokio::select! {
        outcome = client.upload_package(&args.dir, &path_in_store, &options) => outcome,
        signal = interrupted() => {
            progress.clear();
            note("sfrest: interrupted; run the same command again to resume (files in the store and session uploads are kept)");
            return Err(Failure::Signal(signal));
        }
    };
    match &outcome {
        Ok(_) => progress.finish(),
        Err(_) => progress.clear(),
    }
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            if !matches!(e, servicefabric_rest::Error::InvalidInput { .. }) {
                note("sfrest: run the same command again to resume");
            }
            return Err(e.into());
        }
    };
    if args.json {
        out(format_args!("{}\n", summary_json(&report)))?;
    } else {
        out(format_args!("{}\n", summary(&report)))?;
    }
    if args.provision {
        progress.phase("provisioning");
        let package = ApplicationPackage::ImageStore {
            path: path_in_store.clone(),
            cleanup: CleanupPolicy::Default,
        };
        let options = ProvisionOptions {
            asynchronous: false,
            server_timeout: args.provision_timeout,
        };
        // A re-run of an upload that was provisioned already: the job is done.
        return match client.provision_application_type(&package, &options).await {
            Ok(_) => out(format_args!("provisioned {path_in_store}\n")),
            Err(e)
                if e.code()
                    .is_some_and(|c| c.as_str() == "FABRIC_E_APPLICATION_TYPE_ALREADY_EXISTS") =>
            {
                out(format_args!(
                    "the application type of {path_in_store} was already provisioned\n"
                ))
            }
            Err(e) => Err(e.into()),
        };
    }
    Ok(())
}

/// One line: bytes, files, time, rate, retries, resumed bytes.
fn summary(r: &PackageReport) -> String {
    let secs = r.elapsed.as_secs_f64().max(1e-3);
    format!(
        "uploaded {} ({} {}): {} of {} files, {} of {} bytes sent in {:.1} s ({}/s), {} bytes already in the store, {} retries{}",
        r.path_in_store,
        r.application_type_name,
        r.application_type_version,
        r.files_sent,
        r.files,
        r.bytes_sent,
        r.bytes_total,
        secs,
        human_bytes(r.bytes_sent as f64 / secs),
        r.bytes_resumed,
        r.retries,
        if r.compressed { ", compressed" } else { "" }
    )
}

fn summary_json(r: &PackageReport) -> String {
    serde_json::json!({
        "pathInStore": r.path_in_store,
        "applicationTypeName": r.application_type_name,
        "applicationTypeVersion": r.application_type_version,
        "files": r.files,
        "filesSent": r.files_sent,
        "filesSkipped": r.files_skipped,
        "bytesTotal": r.bytes_total,
        "bytesSent": r.bytes_sent,
        "bytesResumed": r.bytes_resumed,
        "retries": r.retries,
        "folders": r.folders,
        "compressed": r.compressed,
        "elapsedSeconds": r.elapsed.as_secs_f64(),
    })
    .to_string()
}

fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
