//! What the system services answer when they refuse: a Service Fabric error code and the
//! runtime's message. Only the gateway turns it into a status line and a body.

use std::{borrow::Cow, fmt, io};

/// The error codes the emulated services answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    InvalidArg,
    Fail,
    Abort,
    Timeout,
    ValueTooLarge,
    InvalidNameUri,
    NameAlreadyExists,
    NameDoesNotExist,
    NameNotEmpty,
    PathTooLong,
    FileNotFound,
    InvalidUploadSessionId,
    UploadSessionIdConflict,
    UploadSessionRangeNotSatisfiable,
    ApplicationTypeAlreadyExists,
    ImageBuilderValidationError,
    ImageBuilderReservedDirectoryError,
    ServiceManifestNotFound,
    ApplicationAlreadyExists,
    ApplicationTypeNotFound,
    ApplicationNotFound,
    ApplicationAlreadyInTargetVersion,
    ApplicationUpgradeInProgress,
    ApplicationNotUpgrading,
    ApplicationUpgradeValidationError,
    UpgradeDomainAlreadyCompleted,
    ApplicationTypeInUse,
}

impl Code {
    /// The code as the runtime writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArg => "E_INVALIDARG",
            Code::Fail => "E_FAIL",
            Code::Abort => "E_ABORT",
            Code::Timeout => "FABRIC_E_TIMEOUT",
            Code::ValueTooLarge => "FABRIC_E_VALUE_TOO_LARGE",
            Code::InvalidNameUri => "FABRIC_E_INVALID_NAME_URI",
            Code::NameAlreadyExists => "FABRIC_E_NAME_ALREADY_EXISTS",
            Code::NameDoesNotExist => "FABRIC_E_NAME_DOES_NOT_EXIST",
            Code::NameNotEmpty => "FABRIC_E_NAME_NOT_EMPTY",
            Code::PathTooLong => "FABRIC_E_PATH_TOO_LONG",
            Code::FileNotFound => "FABRIC_E_FILE_NOT_FOUND",
            Code::InvalidUploadSessionId => "FABRIC_E_INVALID_UPLOAD_SESSION_ID",
            Code::UploadSessionIdConflict => "FABRIC_E_UPLOAD_SESSION_ID_CONFLICT",
            Code::UploadSessionRangeNotSatisfiable => {
                "FABRIC_E_UPLOAD_SESSION_RANGE_NOT_SATISFIABLE"
            }
            Code::ApplicationTypeAlreadyExists => "FABRIC_E_APPLICATION_TYPE_ALREADY_EXISTS",
            Code::ImageBuilderValidationError => "FABRIC_E_IMAGEBUILDER_VALIDATION_ERROR",
            Code::ImageBuilderReservedDirectoryError => {
                "FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR"
            }
            Code::ServiceManifestNotFound => "FABRIC_E_SERVICE_MANIFEST_NOT_FOUND",
            Code::ApplicationAlreadyExists => "FABRIC_E_APPLICATION_ALREADY_EXISTS",
            Code::ApplicationTypeNotFound => "FABRIC_E_APPLICATION_TYPE_NOT_FOUND",
            Code::ApplicationNotFound => "FABRIC_E_APPLICATION_NOT_FOUND",
            Code::ApplicationAlreadyInTargetVersion => {
                "FABRIC_E_APPLICATION_ALREADY_IN_TARGET_VERSION"
            }
            Code::ApplicationUpgradeInProgress => "FABRIC_E_APPLICATION_UPGRADE_IN_PROGRESS",
            Code::ApplicationNotUpgrading => "FABRIC_E_APPLICATION_NOT_UPGRADING",
            Code::ApplicationUpgradeValidationError => {
                "FABRIC_E_APPLICATION_UPGRADE_VALIDATION_ERROR"
            }
            Code::UpgradeDomainAlreadyCompleted => "FABRIC_E_UPGRADE_DOMAIN_ALREADY_COMPLETED",
            Code::ApplicationTypeInUse => "FABRIC_E_APPLICATION_TYPE_IN_USE",
        }
    }
}

impl Code {
    /// The runtime's resource text for the code, where it has one.
    pub fn text(self) -> Option<&'static str> {
        Some(match self {
            Code::InvalidArg | Code::ValueTooLarge => "Invalid argument",
            Code::Abort => "Operation canceled.",
            Code::Timeout => "Operation timed out.",
            Code::InvalidNameUri => "Invalid name URI.",
            Code::NameAlreadyExists => "Name already exists.",
            Code::NameDoesNotExist => "Name does not exist.",
            Code::NameNotEmpty => "Name not empty.",
            Code::InvalidUploadSessionId => "The upload session identity is invalid.",
            _ => return None,
        })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: the code and the message the runtime writes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FabricError {
    pub code: Code,
    pub message: Cow<'static, str>,
}

impl FabricError {
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A refusal with the runtime's resource text for its code, or the literal `Null` the
    /// gateway writes for codes that have none.
    pub fn of(code: Code) -> Self {
        Self::new(code, code.text().unwrap_or("Null"))
    }

    pub fn invalid_arg() -> Self {
        Self::of(Code::InvalidArg)
    }

    /// An I/O failure as the runtime reports it: a file past the file system's limit is too
    /// large, anything else an internal failure.
    pub fn io(error: io::Error) -> Self {
        match error.raw_os_error() {
            Some(27) => Self::of(Code::ValueTooLarge), // EFBIG
            _ => Self::of(Code::Fail),
        }
    }

    /// A lock poisoned by a panic elsewhere: an internal failure.
    pub fn poisoned<T>(_: T) -> Self {
        Self::of(Code::Fail)
    }
}
