//! The client's certificate and key, from PEM or PKCS#12 files.

use std::{fmt, path::Path};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use super::certificate;
use crate::{Error, Result};

/// The client's certificate chain and private key, for clusters that authenticate clients by
/// certificate (mutual TLS). `Debug` shows where it came from and the certificate's
/// thumbprint, never the key.
///
/// ```no_run
/// use servicefabric_rest::tls::Identity;
///
/// # fn demo() -> servicefabric_rest::Result<()> {
/// let pem = Identity::from_pem_files("client.crt", Some("client.key".as_ref()))?;
/// let password = std::env::var("SF_PFX_PASSWORD").unwrap_or_default();
/// let pfx = Identity::from_pkcs12_file("client.pfx", &password)?;
/// # Ok(()) }
/// ```
pub struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    source: String,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            source: self.source.clone(),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("source", &self.source)
            .field("thumbprint", &self.thumbprint().to_string())
            .field("key", &"(not shown)")
            .finish()
    }
}

fn problem(source: &str, problem: impl Into<String>) -> Error {
    Error::Certificate {
        file: source.to_string(),
        problem: problem.into(),
    }
}

fn read(file: &Path) -> Result<Vec<u8>> {
    std::fs::read(file)
        .map_err(|e| problem(&file.display().to_string(), format!("cannot read it: {e}")))
}

/// The certificates of a PEM file, DER-encoded; an error names the file.
pub(crate) fn read_pem_certificates(file: &Path) -> Result<Vec<Vec<u8>>> {
    let source = file.display().to_string();
    let certs = CertificateDer::pem_slice_iter(&read(file)?)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| problem(&source, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(problem(
            &source,
            "no certificate (expected a PEM block BEGIN CERTIFICATE)",
        ));
    }
    Ok(certs)
}

impl Identity {
    /// The certificate chain and the key from one PEM buffer (both in it, any order).
    /// `source` names it in errors.
    pub fn from_pem(pem: &[u8], source: &str) -> Result<Self> {
        Self::from_pem_parts(pem, pem, source)
    }

    /// A PEM certificate file and its key, in `key` or (when `None`) in the same file.
    /// Errors name the file: unreadable, no certificate, no key, or an expired certificate.
    pub fn from_pem_files(certificate: impl AsRef<Path>, key: Option<&Path>) -> Result<Self> {
        let certificate = certificate.as_ref();
        let cert_pem = read(certificate)?;
        let source = certificate.display().to_string();
        match key {
            None => Self::from_pem_parts(&cert_pem, &cert_pem, &source),
            Some(key) => {
                let key_pem = read(key)?;
                Self::from_pem_parts(&cert_pem, &key_pem, &source).map_err(|e| match e {
                    Error::Certificate { problem, .. } if problem.starts_with("no private key") => {
                        Error::Certificate {
                            file: key.display().to_string(),
                            problem,
                        }
                    }
                    other => other,
                })
            }
        }
    }

    fn from_pem_parts(cert_pem: &[u8], key_pem: &[u8], source: &str) -> Result<Self> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| problem(source, format!("not valid PEM: {e}")))?;
        if chain.is_empty() {
            return Err(problem(
                source,
                "no certificate (expected a PEM block BEGIN CERTIFICATE)",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
            problem(
                source,
                "no private key (expected a PEM block BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
            )
        })?;
        Self::checked(chain, key, source)
    }

    /// A PKCS#12 file (`.pfx`, `.p12`), modern (AES-256) or legacy (3DES, RC2), with its
    /// password. Errors name the file: wrong password, no key, no certificate, expired.
    pub fn from_pkcs12_file(file: impl AsRef<Path>, password: &str) -> Result<Self> {
        let file = file.as_ref();
        Self::from_pkcs12(&read(file)?, password, &file.display().to_string())
    }

    /// A PKCS#12 archive in memory; `source` names it in errors.
    pub fn from_pkcs12(der: &[u8], password: &str, source: &str) -> Result<Self> {
        use p12_keystore::{KeyStore, Pkcs12ImportPolicy, error::Error as P12};
        if der.trim_ascii_start().starts_with(b"-----BEGIN") {
            return Err(problem(
                source,
                "a PEM file, not a PKCS#12 archive: load it with Identity::from_pem_files \
                 (sfrest: --pem FILE, with --key FILE when the key is apart)",
            ));
        }
        let store = KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Relaxed).map_err(
            |e| match e {
                P12::MacError(_) => {
                    problem(source, "wrong password (the archive's MAC does not match)")
                }
                other => problem(
                    source,
                    format!("not a PKCS#12 archive this crate reads: {other}"),
                ),
            },
        )?;
        let (_, keychain) = store.private_key_chain().ok_or_else(|| {
            problem(
                source,
                "no private key in the archive (export it with its private key)",
            )
        })?;
        let chain: Vec<CertificateDer<'static>> = keychain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        if chain.is_empty() {
            return Err(problem(
                source,
                "no certificate for the private key in the archive",
            ));
        }
        let key = PrivateKeyDer::try_from(keychain.key().as_der().to_vec())
            .map_err(|e| problem(source, format!("the private key is not usable: {e}")))?;
        Self::checked(chain, key, source)
    }

    fn checked(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        source: &str,
    ) -> Result<Self> {
        let now = certificate::now_unix();
        let leaf = x509_parser::parse_x509_certificate(&chain[0])
            .map_err(|e| problem(source, format!("the certificate does not parse: {e}")))?
            .1;
        certificate::check_validity(&leaf, now).map_err(|m| {
            problem(
                source,
                format!("the client certificate is not usable: {}", m.found),
            )
        })?;
        Ok(Self {
            chain,
            key,
            source: source.to_string(),
        })
    }

    /// The file (or the source given for a buffer) the identity came from.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The SHA-1 thumbprint of the client certificate, as the cluster's settings list it.
    pub fn thumbprint(&self) -> super::Thumbprint {
        super::Thumbprint::sha1_of(&self.chain[0])
    }

    /// The chain and key as PEM text, for native-tls.
    #[cfg(feature = "native-tls")]
    pub(crate) fn to_pem(&self) -> (String, String) {
        let certs = self
            .chain
            .iter()
            .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.to_vec())))
            .collect::<String>();
        let tag = match &self.key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        let key = pem::encode(&pem::Pem::new(tag, self.key.secret_der().to_vec()));
        (certs, key)
    }
}
