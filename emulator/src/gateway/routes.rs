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
        }
    }
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
        // The gateway's answer for a URL it does not know, with a message that tells "not
        // emulated" from "bad argument".
        _ => {
            return Err(FabricError::new(
                Code::InvalidArg,
                format!(
                    "Invalid argument: {method} {path} is not implemented by the emulator \
                     (servicefabric-emulator); a cluster may serve it"
                ),
            ));
        }
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
