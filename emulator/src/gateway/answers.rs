//! A service's refusal as the gateway answers it: the status its code maps to, a
//! `FabricError` body, and the code as the reason phrase.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, ext::ReasonPhrase};
use serde::Serialize;

use super::bodies::{gateway_json, respond};
use crate::fabric_error::{Code, FabricError};

/// The HTTP status the gateway answers a code with.
pub(crate) fn status(code: Code) -> u16 {
    match code {
        Code::InvalidArg
        | Code::InvalidNameUri
        | Code::PathTooLong
        | Code::InvalidUploadSessionId
        | Code::UploadSessionRangeNotSatisfiable
        | Code::ImageBuilderValidationError
        | Code::ImageBuilderReservedDirectoryError
        | Code::ApplicationNotUpgrading
        | Code::ApplicationUpgradeValidationError
        | Code::UpgradeDomainAlreadyCompleted => 400,
        Code::NameDoesNotExist
        | Code::FileNotFound
        | Code::ServiceManifestNotFound
        | Code::ApplicationTypeNotFound
        | Code::ApplicationNotFound => 404,
        Code::NameAlreadyExists
        | Code::NameNotEmpty
        | Code::UploadSessionIdConflict
        | Code::ApplicationTypeAlreadyExists
        | Code::ApplicationAlreadyExists
        | Code::ApplicationAlreadyInTargetVersion
        | Code::ApplicationUpgradeInProgress
        | Code::ApplicationTypeInUse => 409,
        Code::ValueTooLarge => 413,
        Code::Fail => 500,
        Code::Abort => 503,
        Code::Timeout => 504,
    }
}

/// The answer to a refusal.
pub(crate) fn failure(error: &FabricError) -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "Error")]
        error: Inner<'a>,
    }
    #[derive(Serialize)]
    struct Inner<'a> {
        #[serde(rename = "Code")]
        code: &'a str,
        #[serde(rename = "Message")]
        message: &'a str,
    }
    let code = error.code.as_str();
    let body = Body {
        error: Inner {
            code,
            message: &error.message,
        },
    };
    let mut response = respond(status(error.code), gateway_json(&body));
    response
        .extensions_mut()
        .insert(ReasonPhrase::from_static(code.as_bytes()));
    response
}
