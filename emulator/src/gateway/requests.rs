//! JSON request bodies, read as the gateway reads them: bounded, and refused with
//! `E_INVALIDARG` when they do not decode.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::{Request, body::Incoming};
use serde::Deserialize;

use crate::{
    cluster_manager::application_types::{Cleanup, Provision},
    fabric_error::{Code, FabricError},
};

const MAX_JSON_BODY: usize = 64 * 1024;

/// A JSON request body of at most [`MAX_JSON_BODY`] bytes.
pub(crate) async fn json_body(request: Request<Incoming>) -> Result<Bytes, FabricError> {
    Ok(Limited::new(request.into_body(), MAX_JSON_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                FabricError::of(Code::ValueTooLarge)
            } else {
                // Cut short by the client: nothing to read.
                FabricError::invalid_arg()
            }
        })?
        .to_bytes())
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, FabricError> {
    serde_json::from_slice(body).map_err(|_| FabricError::invalid_arg())
}

/// CreateName's body: the full name.
pub(crate) fn name_description(body: &[u8]) -> Result<String, FabricError> {
    #[derive(Deserialize)]
    struct NameDescription {
        #[serde(rename = "Name")]
        name: String,
    }
    decode::<NameDescription>(body).map(|d| d.name)
}

/// CopyImageStoreContent's body.
#[derive(Deserialize)]
pub(crate) struct CopyDescription {
    #[serde(rename = "RemoteSource")]
    pub source: String,
    #[serde(rename = "RemoteDestination")]
    pub destination: String,
    #[serde(rename = "SkipFiles", default)]
    pub skip: Vec<String>,
    #[serde(rename = "CheckMarkFile", default)]
    pub check_mark_file: bool,
}

pub(crate) fn copy_description(body: &[u8]) -> Result<CopyDescription, FabricError> {
    decode(body)
}

#[derive(Deserialize)]
#[serde(tag = "Kind")]
enum Description {
    ImageStorePath {
        #[serde(rename = "ApplicationTypeBuildPath")]
        path: String,
        #[serde(rename = "ApplicationPackageCleanupPolicy", default)]
        cleanup: Option<String>,
        #[serde(rename = "Async", default)]
        asynchronous: bool,
    },
    ExternalStore {
        #[serde(rename = "ApplicationPackageDownloadUri")]
        uri: String,
        #[serde(rename = "ApplicationTypeName")]
        name: String,
        #[serde(rename = "ApplicationTypeVersion")]
        version: String,
        #[serde(rename = "Async", default)]
        asynchronous: bool,
    },
}

/// ProvisionApplicationType's body: the request, and whether it asked to run asynchronously
/// (answered 202 rather than 200).
pub(crate) fn provision_description(body: &[u8]) -> Result<(Provision, bool), FabricError> {
    // The gateway reads the typed form only when `Kind` comes first.
    let text = std::str::from_utf8(body).map_err(|_| FabricError::invalid_arg())?;
    let kind_first = text
        .trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with("\"Kind\""));
    if !kind_first {
        return Err(FabricError::invalid_arg());
    }
    Ok(match decode(body)? {
        Description::ImageStorePath {
            path,
            cleanup,
            asynchronous,
        } => {
            let cleanup = match cleanup.as_deref().unwrap_or("Default") {
                "Default" => Cleanup::Default,
                "Automatic" => Cleanup::Automatic,
                "Manual" => Cleanup::Manual,
                _ => return Err(FabricError::invalid_arg()),
            };
            (Provision::ImageStore { path, cleanup }, asynchronous)
        }
        Description::ExternalStore {
            uri,
            name,
            version,
            asynchronous,
        } => (
            Provision::ExternalStore { uri, name, version },
            asynchronous,
        ),
    })
}
