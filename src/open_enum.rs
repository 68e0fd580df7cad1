//! Open enums for the values the runtime may extend (states, statuses, modes): a value this
//! crate does not know is kept, sealed, instead of failing the decode, as [`ErrorCode`]
//! keeps unknown codes.
//!
//! [`ErrorCode`]: crate::ErrorCode

use std::fmt;

/// A value outside the variants this crate knows, kept verbatim. Sealed: callers cannot build
/// or match one by content, so the day the value gets its own variant no match breaks
/// silently; compare `as_str()` instead.
///
/// ```
/// use servicefabric_rest::UpgradeState;
///
/// let state = UpgradeState::from_wire("RollingForwardSomethingNew");
/// assert!(matches!(state, UpgradeState::Other(_)));
/// assert_eq!(state.as_str(), "RollingForwardSomethingNew");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownValue(String);

impl UnknownValue {
    /// The value as the gateway wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares an open enum: its known variants with their wire spelling, and `Other`.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not know, kept verbatim.
            Other($crate::open_enum::UnknownValue),
        }

        impl $name {
            /// Reads the gateway's spelling; an unknown value becomes [`Self::Other`].
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $($wire => Self::$variant,)+
                    other => Self::Other($crate::open_enum::UnknownValue::new(other)),
                }
            }

            /// The gateway's spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(value) => value.as_str(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use open_enum;

impl UnknownValue {
    pub(crate) fn new(value: &str) -> Self {
        Self(value.to_string())
    }
}
