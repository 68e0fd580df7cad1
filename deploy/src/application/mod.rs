//! `deploy`: from an application package folder to a healthy new version, in steps (read,
//! upload, provision, create or upgrade, follow, clean up), each reported as it begins.

mod cleanup;
mod diff;
mod manifest;
pub(crate) mod options;
mod plan;
pub(crate) mod profile;
mod provision;
pub(crate) mod report;
mod rollout;

use std::{collections::BTreeMap, path::Path, time::Instant};

use servicefabric_rest::{Error, Result};

use crate::{package::PackageProgressFn, workflow::Workflow};
use options::{DeployEvent, DeployOptions, Step};
use plan::Plan;
use report::{DeployReport, Outcome};
use rollout::Running;

/// Where a deploy puts (or an earlier one put) the package of `version`: the whole package,
/// then the diff package.
fn package_paths(type_name: &str, version: &str, options: &DeployOptions) -> Vec<String> {
    match &options.path_in_store {
        Some(path) => vec![path.clone()],
        None => vec![
            format!("{type_name}_{version}"),
            format!("{type_name}_{version}_diff"),
        ],
    }
}

impl Workflow<'_> {
    /// See [`ClientExt::deploy`](crate::ClientExt::deploy).
    pub(crate) async fn deploy(self, dir: &Path, options: &DeployOptions) -> Result<DeployReport> {
        let started = Instant::now();
        if options.keep_versions == Some(0) {
            return Err(Error::invalid(
                "keep versions",
                0,
                "at least 1 (the version the application runs counts)",
            ));
        }
        options.emit(DeployEvent::Step(Step::Read));
        let plan = plan::read(dir, options)?;
        options.emit(DeployEvent::Plan {
            application: plan.application.clone(),
            type_name: plan.manifest.type_name.clone(),
            type_version: plan.manifest.type_version.clone(),
        });
        for unused in &plan.not_used {
            options.note(format!("publish profile: not used here: {unused}"));
        }
        let (type_name, version) = (&plan.manifest.type_name, &plan.manifest.type_version);
        let mut report = DeployReport {
            application: plan.application.clone(),
            type_name: type_name.clone(),
            type_version: version.clone(),
            outcome: Outcome::Unchanged,
            previous_version: None,
            parameters: BTreeMap::new(),
            upload: None,
            diff: false,
            provisioned: false,
            upgrade_started: false,
            path_in_store: None,
            package_deleted: false,
            unprovisioned: Vec::new(),
            upgrade: None,
            next_action: None,
            elapsed: started.elapsed(),
        };

        // What the cluster has, read before anything changes it.
        let app = self.application(&plan.application).await?;
        if let Some(app) = &app {
            if app.type_name != *type_name {
                return Err(Error::Refused {
                    reason: format!(
                        "{} is an application of type {}, not {type_name}; give another --app-name",
                        app.name, app.type_name
                    ),
                });
            }
            report.previous_version = Some(app.type_version.clone());
            if !options.wait_previous {
                let progress = self.application_upgrade(&plan.application).await?;
                if let Running::Other(what) = rollout::running(&progress, version) {
                    return Err(rollout::refuse_running(&plan.application, &what));
                }
            }
        }

        self.make_available(
            dir,
            &plan,
            app.as_ref().map(|a| a.type_version.as_str()),
            options,
            &mut report,
        )
        .await?;
        report.outcome = self.roll_out(&plan, options, &mut report).await?;

        if let Some(keep) = options
            .keep_versions
            .filter(|_| report.outcome.is_success())
        {
            options.emit(DeployEvent::Step(Step::Cleanup));
            // The application is where it should be: a cleanup that fails is a line, not a
            // failed deploy.
            match cleanup::keep_versions(self.0, type_name, keep, options).await {
                Ok(gone) => report.unprovisioned = gone,
                Err(e) => options.note(format!("cleanup of old versions stopped: {e}")),
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Steps 2 and 3: the type version provisioned, uploading and provisioning only when
    /// the cluster does not have it; the uploaded package deleted once provisioned.
    async fn make_available(
        self,
        dir: &Path,
        plan: &Plan,
        running: Option<&str>,
        options: &DeployOptions,
        report: &mut DeployReport,
    ) -> Result<()> {
        let (type_name, version) = (&plan.manifest.type_name, &plan.manifest.type_version);
        if provision::find(self.0, type_name, version).await?.is_some()
            && provision::wait_available(self.0, type_name, version, options).await?
        {
            options.note(format!(
                "{type_name} {version} is provisioned already: nothing to upload"
            ));
            // A run killed between provision and delete left the package behind.
            if !options.keep_package {
                for path in package_paths(type_name, version, options) {
                    if self.delete_leftover(&path).await? {
                        options.note(format!(
                            "deleted {path}, left in the image store by an earlier run"
                        ));
                        report.package_deleted = true;
                    }
                }
            }
            return Ok(());
        }
        // A diff needs the version the application runs, provisioned, to fill the gaps.
        let diff_from = match running {
            Some(running) if options.diff && running != version.as_str() => Some(running),
            _ => {
                if options.diff {
                    options.note(
                        "no application runs an earlier version: uploading the whole package",
                    );
                }
                None
            }
        };
        let paths = package_paths(type_name, version, options);
        let path = match (diff_from, paths.as_slice()) {
            (Some(_), [_, diff]) => diff.clone(),
            (_, [first, ..]) => first.clone(),
            _ => format!("{type_name}_{version}"),
        };
        options.emit(DeployEvent::Step(Step::Upload));
        let mut package = options.package.clone();
        package.compress = plan.compress;
        let events = options.events.clone();
        package.progress = Some(PackageProgressFn::new(move |p| {
            if let Some(events) = &events {
                (events.0)(&DeployEvent::Upload(p.clone()));
            }
        }));
        // Kept alive until the upload ends when the staging folder is temporary.
        let mut scratch = None;
        let source = match diff_from {
            Some(running) => {
                let changes = diff::changes(self.0, dir, &plan.manifest, running).await?;
                for (service, packages) in &changes.services {
                    options.note(format!(
                        "diff from {running}: {service} changed ({})",
                        if packages.is_empty() {
                            "its manifest only".to_string()
                        } else {
                            packages.join(", ")
                        }
                    ));
                }
                if !changes.unchanged.is_empty() {
                    options.note(format!(
                        "diff from {running}: left out, unchanged: {}",
                        changes.unchanged.join(", ")
                    ));
                }
                let staging = match &package.resume_dir {
                    Some(resume) => resume.join("diff").join(&path),
                    None => {
                        let tmp = tempfile::Builder::new()
                            .prefix("sfrest-diff-")
                            .tempdir()
                            .map_err(|e| {
                                Error::invalid(
                                    "temporary folder",
                                    std::env::temp_dir().display(),
                                    &format!("a writable folder for the diff package ({e})"),
                                )
                            })?;
                        let staging = tmp.path().join("package");
                        scratch = Some(tmp);
                        staging
                    }
                };
                let (from, into) = (dir.to_path_buf(), staging.clone());
                tokio::task::spawn_blocking(move || diff::stage(&from, &changes, &into))
                    .await
                    .map_err(|e| {
                        Error::invalid("diff package", e, "a staging task that completes")
                    })??;
                report.diff = true;
                staging
            }
            None => dir.to_path_buf(),
        };
        let uploaded = self
            .upload_package_of(&source, &path, &package, report.diff)
            .await?;
        drop(scratch);
        report.upload = Some(uploaded);
        report.path_in_store = Some(path.clone());

        options.emit(DeployEvent::Step(Step::Provision));
        provision::provision(self.0, &path, type_name, version, options).await?;
        report.provisioned = true;
        if !options.keep_package {
            match self.delete_store_content(&path).await {
                Ok(()) => report.package_deleted = true,
                Err(e) if e.is_not_found() => report.package_deleted = true,
                // The type is provisioned: a package left behind is worth a line, not a failure.
                Err(e) => {
                    options.note(format!("could not delete {path} from the image store: {e}"))
                }
            }
        }
        Ok(())
    }

    /// Deletes `path` from the image store if it is there (reads first: a re-run changes
    /// nothing that needs no change).
    async fn delete_leftover(self, path: &str) -> Result<bool> {
        match self.store_content_page(Some(path), None).await {
            Ok(page) if page.files.is_empty() && page.folders.is_empty() => Ok(false),
            Ok(_) => match self.delete_store_content(path).await {
                Ok(()) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(e),
            },
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Steps 4 and 5: create, or upgrade (or follow, or nothing), as the cluster's state says.
    async fn roll_out(
        self,
        plan: &Plan,
        options: &DeployOptions,
        report: &mut DeployReport,
    ) -> Result<Outcome> {
        let (name, version) = (&plan.application, &plan.manifest.type_version);
        loop {
            let Some(app) = self.application(name).await? else {
                options.emit(DeployEvent::Step(Step::Create));
                report.parameters = plan.sources.clone();
                match self
                    .create_application(name, &plan.manifest.type_name, version, &plan.sources)
                    .await
                {
                    Ok(()) => return Ok(Outcome::Created),
                    // Created since we looked (another deploy): decide again.
                    Err(e)
                        if e.code().is_some_and(|c| {
                            c.as_str() == "FABRIC_E_APPLICATION_ALREADY_EXISTS"
                        }) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            let progress = self.application_upgrade(name).await?;
            match rollout::running(&progress, version) {
                Running::Ours => {
                    options.note(format!(
                        "an upgrade of {name} to {version} is running already: following it"
                    ));
                    report.parameters = plan.target_parameters(None);
                    return self.follow(plan, options, report).await;
                }
                Running::Other(what) if options.wait_previous => {
                    options.note(format!("{what}: waiting for it to end"));
                    if !rollout::wait_ended(self.0, name, options).await? {
                        return Ok(Outcome::Deadline);
                    }
                    continue;
                }
                Running::Other(what) => return Err(rollout::refuse_running(name, &what)),
                Running::Nothing => {}
            }
            let current = plan.effective(&app.parameters);
            let target =
                plan.target_parameters(options.keep_current_parameters.then_some(&current));
            report.parameters = target.clone();
            if app.type_version == *version && current == target {
                options.note(format!(
                    "{name} runs {} {version} with these parameters already: nothing to do",
                    plan.manifest.type_name
                ));
                return Ok(Outcome::Unchanged);
            }
            options.emit(DeployEvent::Step(Step::Upgrade));
            let request = plan.upgrade.request(version, target);
            match self.start_application_upgrade(name, &request).await {
                Ok(()) => report.upgrade_started = true,
                Err(e)
                    if e.code().is_some_and(|c| {
                        c.as_str() == "FABRIC_E_APPLICATION_ALREADY_IN_TARGET_VERSION"
                    }) =>
                {
                    return Ok(Outcome::Unchanged);
                }
                Err(e)
                    if e.code().is_some_and(|c| {
                        c.as_str() == "FABRIC_E_APPLICATION_UPGRADE_IN_PROGRESS"
                    }) => {}
                Err(e) => return Err(e),
            }
            if options.no_wait {
                report.next_action = Some(format!("sfrest app status {name} --watch"));
                return Ok(Outcome::Started);
            }
            return self.follow(plan, options, report).await;
        }
    }

    async fn follow(
        self,
        plan: &Plan,
        options: &DeployOptions,
        report: &mut DeployReport,
    ) -> Result<Outcome> {
        options.emit(DeployEvent::Step(Step::Follow));
        let followed = rollout::follow(
            self.0,
            &plan.application,
            &plan.manifest.type_version,
            options,
        )
        .await?;
        report.upgrade = followed.last;
        report.next_action = followed.next_action;
        Ok(followed.outcome)
    }
}
