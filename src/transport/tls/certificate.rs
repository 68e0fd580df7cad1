//! Thumbprints and the checks on a certificate that both TLS backends share.

use std::fmt;

use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName};

use crate::{Error, Result};

/// A certificate thumbprint: SHA-1 (as Service Fabric shows it) or SHA-256 of the DER bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Thumbprint {
    /// 20 bytes, 40 hex digits.
    Sha1([u8; 20]),
    /// 32 bytes, 64 hex digits.
    Sha256([u8; 32]),
}

impl Thumbprint {
    /// Parses hex in any case, ignoring spaces and colons; `what` names the value in the
    /// error (for example "server thumbprint").
    pub(crate) fn parse(text: &str, what: &'static str) -> Result<Self> {
        let hex: String = text
            .chars()
            // Windows' certificate dialog copies an invisible left-to-right mark in front.
            .filter(|c| !matches!(c, ' ' | ':' | '\u{200e}' | '\u{200f}'))
            .collect();
        let bad = || {
            Error::invalid(
                what,
                text,
                "a SHA-1 thumbprint (40 hex digits, as Service Fabric shows it) or a SHA-256 one (64)",
            )
        };
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        match bytes.len() {
            20 => Ok(Self::Sha1(bytes.try_into().map_err(|_| bad())?)),
            32 => Ok(Self::Sha256(bytes.try_into().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }

    /// The thumbprint of the same kind as `self` for these DER bytes.
    fn of_same_kind(&self, der: &[u8]) -> Self {
        match self {
            Self::Sha1(_) => Self::Sha1(Sha1::digest(der).into()),
            Self::Sha256(_) => Self::Sha256(Sha256::digest(der).into()),
        }
    }

    /// The SHA-1 thumbprint of a DER certificate.
    pub fn sha1_of(der: &[u8]) -> Self {
        Self::Sha1(Sha1::digest(der).into())
    }

    /// The SHA-256 thumbprint of a DER certificate.
    pub fn sha256_of(der: &[u8]) -> Self {
        Self::Sha256(Sha256::digest(der).into())
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Sha1(b) => b,
            Self::Sha256(b) => b,
        }
    }
}

impl fmt::Display for Thumbprint {
    /// Upper-case hex without separators, as Service Fabric shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha1(_) => write!(f, "Sha1({self})"),
            Self::Sha256(_) => write!(f, "Sha256({self})"),
        }
    }
}

/// The gateway's certificate did not pass the configured validation: what was expected and
/// what the server showed. Reached through [`Error::ServerCertificate`](crate::Error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateMismatch {
    /// What the configuration asked for, for example "SHA-1 thumbprint 6C9F…".
    pub expected: String,
    /// What the server's certificate showed.
    pub found: String,
}

impl fmt::Display for CertificateMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server's certificate does not match: expected {}; the server showed {}",
            self.expected, self.found
        )
    }
}

impl std::error::Error for CertificateMismatch {}

fn mismatch(expected: impl Into<String>, found: impl Into<String>) -> CertificateMismatch {
    CertificateMismatch {
        expected: expected.into(),
        found: found.into(),
    }
}

fn parse(der: &[u8]) -> std::result::Result<X509Certificate<'_>, CertificateMismatch> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| {
            mismatch(
                "a DER X.509 certificate",
                format!("bytes that do not parse ({e})"),
            )
        })
}

/// Seconds since the Unix epoch, for validity checks (0 if the clock is before 1970).
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The leaf's thumbprint is one of `pins` and it has not expired (nor is it not yet valid).
pub(crate) fn check_thumbprints(
    leaf: &[u8],
    pins: &[Thumbprint],
    now_unix: i64,
) -> std::result::Result<(), CertificateMismatch> {
    if !pins.iter().any(|pin| pin.of_same_kind(leaf) == *pin) {
        let expected = pins
            .iter()
            .map(|p| match p {
                Thumbprint::Sha1(_) => format!("SHA-1 thumbprint {p}"),
                Thumbprint::Sha256(_) => format!("SHA-256 thumbprint {p}"),
            })
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(mismatch(
            expected,
            format!(
                "SHA-1 {} (SHA-256 {})",
                Thumbprint::sha1_of(leaf),
                Thumbprint::sha256_of(leaf)
            ),
        ));
    }
    check_validity(&parse(leaf)?, now_unix)
}

/// The certificate is within its validity period.
pub(crate) fn check_validity(
    cert: &X509Certificate<'_>,
    now_unix: i64,
) -> std::result::Result<(), CertificateMismatch> {
    let validity = cert.validity();
    if now_unix > validity.not_after.timestamp() {
        return Err(mismatch(
            "a certificate within its validity period",
            format!("one that expired on {}", validity.not_after),
        ));
    }
    if now_unix < validity.not_before.timestamp() {
        return Err(mismatch(
            "a certificate within its validity period",
            format!("one not valid before {}", validity.not_before),
        ));
    }
    Ok(())
}

/// The leaf's CN or one of its DNS names is one of `names` (without case); with `issuers`,
/// the immediate issuer (`issuer`, when the server or the CA bundle has it) is one of them.
pub(crate) fn check_common_name(
    leaf: &[u8],
    issuer: Option<&[u8]>,
    names: &[String],
    issuers: &[Thumbprint],
) -> std::result::Result<(), CertificateMismatch> {
    let cert = parse(leaf)?;
    let mut shown: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name
                && !shown.iter().any(|s| s == dns)
            {
                shown.push((*dns).to_string());
            }
        }
    }
    if !shown
        .iter()
        .any(|s| names.iter().any(|n| n.eq_ignore_ascii_case(s)))
    {
        return Err(mismatch(
            format!("common name {}", names.join(" or ")),
            if shown.is_empty() {
                "no common name or DNS name".to_string()
            } else {
                format!("names {}", shown.join(", "))
            },
        ));
    }
    if issuers.is_empty() {
        return Ok(());
    }
    let expected = || {
        format!(
            "issuer thumbprint {}",
            issuers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        )
    };
    let Some(issuer) = issuer else {
        return Err(mismatch(
            expected(),
            format!(
                "no issuer certificate (issuer {}) in the chain sent or the CA bundle",
                cert.issuer()
            ),
        ));
    };
    if issuers.iter().any(|pin| pin.of_same_kind(issuer) == *pin) {
        Ok(())
    } else {
        Err(mismatch(
            expected(),
            format!(
                "an issuer with SHA-1 {} (SHA-256 {})",
                Thumbprint::sha1_of(issuer),
                Thumbprint::sha256_of(issuer)
            ),
        ))
    }
}

/// The certificate among `candidates` whose subject is the leaf's issuer.
pub(crate) fn find_issuer<'a>(
    leaf: &[u8],
    candidates: impl IntoIterator<Item = &'a [u8]>,
) -> Option<&'a [u8]> {
    let leaf = parse(leaf).ok()?;
    let issuer = leaf.issuer().as_raw();
    candidates
        .into_iter()
        .find(|c| parse(c).is_ok_and(|c| c.subject().as_raw() == issuer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse_as_service_fabric_shows_them() {
        let sha1 = "6C 9F 0E 41 36 2F 7B 81 D7 85 6E 5A 6E 07 42 3B 3E 45 1F 0A";
        let a = Thumbprint::parse(sha1, "t").unwrap();
        let b = Thumbprint::parse(&sha1.replace(' ', "").to_lowercase(), "t").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "6C9F0E41362F7B81D7856E5A6E07423B3E451F0A");
        let sha256 = "ab".repeat(32);
        assert!(matches!(
            Thumbprint::parse(&sha256, "t"),
            Ok(Thumbprint::Sha256(_))
        ));
        for bad in ["", "6C9F", "zz".repeat(20).as_str(), &"a".repeat(41)] {
            let err = Thumbprint::parse(bad, "server thumbprint").unwrap_err();
            assert!(err.to_string().contains("server thumbprint"), "{err}");
        }
    }
}
