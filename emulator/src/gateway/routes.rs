//! Routing on the literal segments, as the gateway routes: everything before the `$` segment
//! is the key.

use hyper::Method;

use super::query::{decode_once, full_name};
use crate::fabric_error::{Code, FabricError};

/// The operation a request names, with its key already unescaped.
pub(crate) enum Route {
    SessionById,
    SessionByPath(String),
    UploadChunk(String),
    Commit,
    DeleteSession,
    CreateName,
    SubNames(String),
    NameExists(String),
    DeleteName(String),
    AadMetadata,
    StoreRoot,
    StoreContent(String),
    UploadFile(String),
    DeleteContent(String),
    Copy,
    Provision,
    Root,
    /// An application operation of the Cluster Manager (see `gateway/applications.rs`).
    Lifecycle(Lifecycle),
}

/// The application types, applications and upgrade operations; applications by name.
pub(crate) enum Lifecycle {
    Types,
    TypeVersions(String),
    Unprovision(String),
    ApplicationManifest(String),
    ServiceManifest(String),
    Create,
    List,
    Get(String),
    Delete(String),
    StartUpgrade(String),
    Progress(String),
    UpdateUpgrade(String),
    Resume(String),
    Rollback(String),
    Health(String),
    Services(String),
    ClusterVersion,
}

impl Lifecycle {
    fn operation(&self) -> &'static str {
        match self {
            Lifecycle::Types => "GetApplicationTypeInfoList",
            Lifecycle::TypeVersions(_) => "GetApplicationTypeInfoListByName",
            Lifecycle::Unprovision(_) => "UnprovisionApplicationType",
            Lifecycle::ApplicationManifest(_) => "GetApplicationManifest",
            Lifecycle::ServiceManifest(_) => "GetServiceManifest",
            Lifecycle::Create => "CreateApplication",
            Lifecycle::List => "GetApplicationInfoList",
            Lifecycle::Get(_) => "GetApplicationInfo",
            Lifecycle::Delete(_) => "DeleteApplication",
            Lifecycle::StartUpgrade(_) => "StartApplicationUpgrade",
            Lifecycle::Progress(_) => "GetApplicationUpgrade",
            Lifecycle::UpdateUpgrade(_) => "UpdateApplicationUpgrade",
            Lifecycle::Resume(_) => "ResumeApplicationUpgrade",
            Lifecycle::Rollback(_) => "RollbackApplicationUpgrade",
            Lifecycle::Health(_) => "GetApplicationHealth",
            Lifecycle::Services(_) => "GetServiceInfoList",
            Lifecycle::ClusterVersion => "GetClusterVersion",
        }
    }
}

impl Route {
    /// The spec's operationId, as fault plans name it.
    pub fn operation(&self) -> &'static str {
        match self {
            Route::SessionById => "GetImageStoreUploadSessionById",
            Route::SessionByPath(_) => "GetImageStoreUploadSessionByPath",
            Route::UploadChunk(_) => "UploadFileChunk",
            Route::Commit => "CommitImageStoreUploadSession",
            Route::DeleteSession => "DeleteImageStoreUploadSession",
            Route::CreateName => "CreateName",
            Route::SubNames(_) => "GetSubNameInfoList",
            Route::NameExists(_) => "GetNameExistsInfo",
            Route::DeleteName(_) => "DeleteName",
            Route::AadMetadata => "GetAadMetadata",
            Route::StoreRoot => "GetImageStoreRootContent",
            Route::StoreContent(_) => "GetImageStoreContent",
            Route::UploadFile(_) => "UploadFile",
            Route::DeleteContent(_) => "DeleteImageStoreContent",
            Route::Copy => "CopyImageStoreContent",
            Route::Provision => "ProvisionApplicationType",
            Route::Root => "Root",
            Route::Lifecycle(op) => op.operation(),
        }
    }
}

/// The gateway's answer for a URL it does not know, with a message that tells "not emulated"
/// from "bad argument".
fn not_implemented(method: &Method, path: &str) -> FabricError {
    FabricError::new(
        Code::InvalidArg,
        format!(
            "Invalid argument: {method} {path} is not implemented by the emulator \
             (servicefabric-emulator); a cluster may serve it"
        ),
    )
}

/// Routes on the literal segments; everything before the `$` segment is the key.
pub(crate) fn route(method: &Method, path: &str) -> Result<Route, FabricError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // `GET /`: a gateway serves Service Fabric Explorer there; sfctl's `cluster select`
    // checks that it answers.
    if segments.is_empty() && method == Method::GET {
        return Ok(Route::Root);
    }
    let (root, rest) = segments
        .split_first()
        .ok_or_else(FabricError::invalid_arg)?;
    let dollar = rest.iter().position(|s| *s == "$");
    let (key, action) = match dollar {
        Some(i) => (rest[..i].join("/"), rest[i + 1..].join("/")),
        None => (rest.join("/"), String::new()),
    };
    let has_key = !key.is_empty();
    let route = match (*root, has_key, action.as_str(), method) {
        ("ImageStore", false, "GetUploadSession", &Method::GET) => Route::SessionById,
        ("ImageStore", true, "GetUploadSession", &Method::GET) => {
            Route::SessionByPath(decode_once(&key)?)
        }
        ("ImageStore", true, "UploadChunk", &Method::PUT) => Route::UploadChunk(decode_once(&key)?),
        ("ImageStore", false, "CommitUploadSession", &Method::POST) => Route::Commit,
        ("ImageStore", false, "", &Method::GET) => Route::StoreRoot,
        ("ImageStore", true, "", &Method::GET) => Route::StoreContent(decode_once(&key)?),
        ("ImageStore", true, "", &Method::PUT) => Route::UploadFile(decode_once(&key)?),
        ("ImageStore", true, "", &Method::DELETE) => Route::DeleteContent(decode_once(&key)?),
        ("ImageStore", false, "Copy", &Method::POST) => Route::Copy,
        ("ApplicationTypes", false, "Provision", &Method::POST) => Route::Provision,
        ("ImageStore", false, "DeleteUploadSession", &Method::DELETE) => Route::DeleteSession,
        ("Names", false, "Create", &Method::POST) => Route::CreateName,
        ("Names", true, "GetSubNames", &Method::GET) => Route::SubNames(full_name(&key)?),
        ("Names", true, "", &Method::GET) => Route::NameExists(full_name(&key)?),
        ("Names", true, "", &Method::DELETE) => Route::DeleteName(full_name(&key)?),
        ("$", true, "", &Method::GET) if key == "GetAadMetadata" => Route::AadMetadata,
        ("$", true, "", &Method::GET) if key == "GetClusterVersion" => {
            Route::Lifecycle(Lifecycle::ClusterVersion)
        }
        ("ApplicationTypes", false, "", &Method::GET) => Route::Lifecycle(Lifecycle::Types),
        ("ApplicationTypes", true, "", &Method::GET) => {
            Route::Lifecycle(Lifecycle::TypeVersions(decode_once(&key)?))
        }
        ("ApplicationTypes", true, "Unprovision", &Method::POST) => {
            Route::Lifecycle(Lifecycle::Unprovision(decode_once(&key)?))
        }
        ("ApplicationTypes", true, "GetApplicationManifest", &Method::GET) => {
            Route::Lifecycle(Lifecycle::ApplicationManifest(decode_once(&key)?))
        }
        ("ApplicationTypes", true, "GetServiceManifest", &Method::GET) => {
            Route::Lifecycle(Lifecycle::ServiceManifest(decode_once(&key)?))
        }
        ("Applications", false, "Create", &Method::POST) => Route::Lifecycle(Lifecycle::Create),
        ("Applications", false, "", &Method::GET) => Route::Lifecycle(Lifecycle::List),
        ("Applications", true, action, method) => {
            let name = full_name(&key)?;
            Route::Lifecycle(match (action, method) {
                ("", &Method::GET) => Lifecycle::Get(name),
                ("Delete", &Method::POST) => Lifecycle::Delete(name),
                ("Upgrade", &Method::POST) => Lifecycle::StartUpgrade(name),
                ("GetUpgradeProgress", &Method::GET) => Lifecycle::Progress(name),
                ("UpdateUpgrade", &Method::POST) => Lifecycle::UpdateUpgrade(name),
                ("MoveToNextUpgradeDomain", &Method::POST) => Lifecycle::Resume(name),
                ("RollbackUpgrade", &Method::POST) => Lifecycle::Rollback(name),
                ("GetHealth", &Method::GET) => Lifecycle::Health(name),
                ("GetServices", &Method::GET) => Lifecycle::Services(name),
                _ => return Err(not_implemented(method, path)),
            })
        }
        _ => return Err(not_implemented(method, path)),
    };
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::query::{Query, check_api_version, session_id};

    proptest::proptest! {
        /// Routing and query parsing take any request target without panicking.
        #[test]
        fn any_target_is_routed_or_refused(path in "\\PC{0,80}", query in "\\PC{0,80}") {
            for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
                let _ = route(&method, &path);
            }
            let q = Query::parse(&query);
            let _ = check_api_version(&q, (9, 1));
            let _ = session_id(&q);
        }
    }
}
