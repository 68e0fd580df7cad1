//! An Entra ID cluster's gate: the bearer token every request but `GetAadMetadata` must
//! carry, and the made-up ids GetAadMetadata hands out.

use std::fmt;

/// The Entra ID side: the token every request but `GetAadMetadata` must carry.
#[derive(Clone)]
pub(crate) struct Bearer(pub String);

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl Bearer {
    /// `None` when `authorization` carries the token, else the status to answer: 401 without
    /// a token, 403 with another one.
    pub fn refuses(&self, authorization: Option<&[u8]>) -> Option<u16> {
        let Some(value) = authorization else {
            return Some(401);
        };
        let given = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "));
        match given {
            Some(token) if token == self.0.as_bytes() => None,
            Some(_) => Some(403),
            None => Some(401),
        }
    }
}

/// The ids GetAadMetadata hands out (made up: nothing talks to Entra ID).
pub(crate) const AAD_TENANT: &str = "00000000-0000-0000-0000-00000000e770";
pub(crate) const AAD_CLUSTER_APP: &str = "11111111-1111-1111-1111-00000000e770";
pub(crate) const AAD_CLIENT_APP: &str = "22222222-2222-2222-2222-00000000e770";
