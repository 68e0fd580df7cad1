//! Secure clusters (features `tls` and `native-tls`): the client's certificate, how the
//! gateway's certificate is checked, and the TLS backend that does the handshake.
//!
//! Service Fabric identifies a gateway by the cluster's settings, not by a hostname: clients
//! pin its certificate by thumbprint or by common name. A pin is checked on every handshake,
//! before a byte of any request is written, whatever the chain says.

mod certificate;
mod identity;
#[cfg(feature = "native-tls")]
mod native;
#[cfg(feature = "tls")]
mod verifier;

use std::path::PathBuf;

pub use certificate::{CertificateMismatch, Thumbprint};
pub use identity::Identity;

use crate::{Error, Result};

/// How the gateway's certificate is checked. The default is [`ServerValidation::system_roots`].
///
/// ```
/// use servicefabric_rest::tls::ServerValidation;
///
/// // What Service Fabric Explorer shows as the cluster certificate's thumbprint:
/// let pinned = ServerValidation::thumbprints(["6C 9F 0E 41 36 2F 7B 81 D7 85 6E 5A 6E 07 42 3B 3E 45 1F 0A"])?;
/// let by_name = ServerValidation::common_names(["mycluster.westeurope.cloudapp.azure.com"])
///     .issuer_thumbprints(["B8 6F 8C 61 64 1B 49 CE 0C 0F 1F 3C 42 6A 45 A9 F3 7C 4D 1E"])?;
/// # Ok::<(), servicefabric_rest::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerValidation {
    pub(crate) rule: Rule,
    /// Extra roots (PEM) trusted for chain checks, beside or instead of the system's.
    pub(crate) ca: Option<CaBundle>,
}

#[derive(Debug, Clone)]
pub(crate) struct CaBundle {
    pub(crate) file: PathBuf,
    pub(crate) certs: Vec<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// A valid chain to a trusted root, and the hostname: what any https client checks.
    Chain,
    /// The leaf's thumbprint is one of these; the chain may be untrusted, the certificate may
    /// not be expired; the hostname is not checked.
    Thumbprints(Vec<Thumbprint>),
    /// A valid chain, the leaf's CN (or a DNS name) is one of these, and if issuer
    /// thumbprints are given, the immediate issuer is one of them; the hostname is not checked.
    CommonNames {
        names: Vec<String>,
        issuers: Vec<Thumbprint>,
    },
    /// Anything, with a warning.
    Insecure,
}

impl Default for ServerValidation {
    fn default() -> Self {
        Self::system_roots()
    }
}

impl ServerValidation {
    /// A chain to one of the system's roots and a certificate valid for the endpoint's host:
    /// the rules of any https client. Clusters with self-signed certificates need a pin.
    pub fn system_roots() -> Self {
        Self {
            rule: Rule::Chain,
            ca: None,
        }
    }

    /// Pins the gateway's certificate by thumbprint: SHA-1 (40 hex digits, as Service Fabric
    /// shows them) or SHA-256 (64); any case, spaces and colons ignored; several allowed (for a
    /// certificate rollover). A self-signed or privately issued certificate is accepted when
    /// it matches; an expired one is not. Refuses a value that is neither length of hex.
    pub fn thumbprints<I, S>(thumbprints: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pins = parse_all(thumbprints, "server thumbprint")?;
        Ok(Self {
            rule: Rule::Thumbprints(pins),
            ca: None,
        })
    }

    /// Pins the gateway's certificate by common name: the chain must be valid (system roots,
    /// or [`Self::ca_file`]) and the leaf's CN or one of its DNS names must be one of `names`
    /// (compared without case). Add [`Self::issuer_thumbprints`] to pin the issuer too.
    pub fn common_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            rule: Rule::CommonNames {
                names: names.into_iter().map(|n| n.as_ref().to_string()).collect(),
                issuers: Vec::new(),
            },
            ca: None,
        }
    }

    /// With [`Self::common_names`]: the immediate issuer's thumbprint must be one of these.
    /// Refuses a value that is not a SHA-1 or SHA-256 thumbprint, and a call without
    /// `common_names` first.
    pub fn issuer_thumbprints<I, S>(mut self, thumbprints: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pins = parse_all(thumbprints, "issuer thumbprint")?;
        match &mut self.rule {
            Rule::CommonNames { issuers, .. } => *issuers = pins,
            _ => {
                return Err(Error::invalid(
                    "issuer thumbprint",
                    "(given without common names)",
                    "issuer thumbprints together with ServerValidation::common_names",
                ));
            }
        }
        Ok(self)
    }

    /// Trusts the CA certificates in this PEM file for chain checks, instead of the system's
    /// roots. Errors name the file when it cannot be read or holds no certificate.
    pub fn ca_file(mut self, file: impl Into<PathBuf>) -> Result<Self> {
        let file = file.into();
        let certs = identity::read_pem_certificates(&file)?;
        self.ca = Some(CaBundle { file, certs });
        Ok(self)
    }

    /// Accepts any certificate, so anyone on the path can read and change the traffic. For
    /// a throwaway test cluster only; building a client with it logs a warning.
    pub fn insecure_accept_any_certificate() -> Self {
        Self {
            rule: Rule::Insecure,
            ca: None,
        }
    }

    /// The CA bundle's certificates (DER), where a leaf's issuer may be found.
    pub(crate) fn ca_certs(&self) -> Vec<Vec<u8>> {
        self.ca
            .as_ref()
            .map(|ca| ca.certs.clone())
            .unwrap_or_default()
    }

    /// Whether this mode checks nothing.
    pub fn is_insecure(&self) -> bool {
        matches!(self.rule, Rule::Insecure)
    }
}

fn parse_all<I, S>(values: I, what: &'static str) -> Result<Vec<Thumbprint>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let pins = values
        .into_iter()
        .map(|v| Thumbprint::parse(v.as_ref(), what))
        .collect::<Result<Vec<_>>>()?;
    if pins.is_empty() {
        return Err(Error::invalid(what, "(none)", "at least one thumbprint"));
    }
    Ok(pins)
}

/// Which library does the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsBackend {
    /// rustls with aws-lc-rs (feature `tls`): the default when that feature is on.
    Rustls,
    /// native-tls (feature `native-tls`): OpenSSL on Linux, SChannel on Windows. Needed for
    /// Windows clusters that ask for the client certificate after the handshake
    /// (renegotiation), which rustls does not do.
    NativeTls,
}

impl Default for TlsBackend {
    fn default() -> Self {
        if cfg!(feature = "tls") {
            Self::Rustls
        } else {
            Self::NativeTls
        }
    }
}

/// What the client builder was given for TLS.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsSettings {
    pub(crate) identity: Option<Identity>,
    pub(crate) validation: ServerValidation,
    pub(crate) backend: TlsBackend,
}

impl TlsSettings {
    /// Applies the settings to a reqwest builder.
    pub(crate) fn apply(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
        if self.validation.is_insecure() {
            tracing::warn!(
                "server certificates are not checked (insecure mode): anyone on the path can read and change this traffic"
            );
        }
        match self.backend {
            #[cfg(feature = "tls")]
            TlsBackend::Rustls => verifier::apply(self, builder),
            #[cfg(feature = "native-tls")]
            TlsBackend::NativeTls => native::apply(self, builder),
            #[allow(unreachable_patterns)]
            other => Err(Error::invalid(
                "TLS backend",
                format!("{other:?}"),
                "a backend whose feature is enabled (`tls` for Rustls, `native-tls` for NativeTls)",
            )),
        }
    }
}

/// The certificate mismatch somewhere in an error's sources: put there by the rustls
/// verifier (inside a `rustls::Error`) or by the native-tls connector layer (as it is).
pub(crate) fn mismatch_in(
    error: &(dyn std::error::Error + 'static),
) -> Option<CertificateMismatch> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(m) = e.downcast_ref::<CertificateMismatch>() {
            return Some(m.clone());
        }
        #[cfg(feature = "tls")]
        if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
            e.downcast_ref::<rustls::Error>()
            && let Some(m) = other.0.downcast_ref::<CertificateMismatch>()
        {
            return Some(m.clone());
        }
        // An io::Error's `source()` skips the error it wraps: step into it instead.
        source = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}
