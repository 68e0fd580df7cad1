//! Steps 2 and 3 on the cluster's side: whether the type version is provisioned, and a
//! provision whose outcome is unknown followed by reading the type's status, never by a
//! blind re-send.

use std::time::Instant;

use futures::TryStreamExt;
use servicefabric_rest::{
    ApplicationPackage, ApplicationType, ApplicationTypeStatus, CleanupPolicy, Client, Error,
    ProvisionOptions, Result,
};

use super::options::DeployOptions;

/// The provisioned version `version` of `type_name`, if the cluster has it.
pub(crate) async fn find(
    client: &Client,
    type_name: &str,
    version: &str,
) -> Result<Option<ApplicationType>> {
    let mut pages = client.application_types(Some(type_name));
    while let Some(page) = pages.try_next().await? {
        if let Some(found) = page.items.into_iter().find(|t| t.version == version) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Every provisioned version of `type_name`.
pub(crate) async fn versions(client: &Client, type_name: &str) -> Result<Vec<ApplicationType>> {
    let pages: Vec<_> = client
        .application_types(Some(type_name))
        .try_collect()
        .await?;
    Ok(pages.into_iter().flat_map(|p| p.items).collect())
}

/// Waits while the version is being provisioned; `Ok(true)` once it is available,
/// `Ok(false)` when the cluster does not have it.
pub(crate) async fn wait_available(
    client: &Client,
    type_name: &str,
    version: &str,
    options: &DeployOptions,
) -> Result<bool> {
    let mut said = false;
    loop {
        match find(client, type_name, version).await? {
            None => return Ok(false),
            Some(t) if t.status == ApplicationTypeStatus::Available => return Ok(true),
            Some(t) if t.status == ApplicationTypeStatus::Failed => {
                return Err(Error::Refused {
                    reason: format!(
                        "provisioning {type_name} {version} failed on the cluster{}; unprovision it (`sfrest app unprovision {type_name} {version}`) and deploy again",
                        t.status_details
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ),
                });
            }
            Some(t) => {
                if !said {
                    options.note(format!("{type_name} {version} is {}; waiting", t.status));
                    said = true;
                }
            }
        }
        if options.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Refused {
                reason: format!(
                    "the deadline passed while {type_name} {version} was still provisioning; deploy again to go on"
                ),
            });
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// Provisions the package at `path` in the image store. Already provisioned is fine; a
/// timeout or "in progress" is followed by reading the type's status.
pub(crate) async fn provision(
    client: &Client,
    path: &str,
    type_name: &str,
    version: &str,
    options: &DeployOptions,
) -> Result<()> {
    let package = ApplicationPackage::ImageStore {
        path: path.to_string(),
        // The deploy deletes the package itself once it sees the type provisioned.
        cleanup: CleanupPolicy::Manual,
    };
    let provision = ProvisionOptions {
        asynchronous: false,
        server_timeout: options.provision_timeout,
    };
    match client
        .provision_application_type(&package, &provision)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e.code().map(|c| c.as_str().to_string()).unwrap_or_default();
            if code == "FABRIC_E_APPLICATION_TYPE_ALREADY_EXISTS" {
                options.note(format!("{type_name} {version} was provisioned already"));
                return Ok(());
            }
            let unknown = code == "FABRIC_E_TIMEOUT"
                || code == "FABRIC_E_APPLICATION_TYPE_PROVISION_IN_PROGRESS"
                || e.is_transient();
            if !unknown {
                return Err(e);
            }
            options.note(format!(
                "the provision's outcome is unknown ({e}); reading the type's status"
            ));
            if wait_available(client, type_name, version, options).await? {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}
