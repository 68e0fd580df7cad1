//! A secured cluster's front door: https with a given or generated certificate, client
//! certificates checked by thumbprint (403 otherwise, as the gateway answers), and bearer
//! tokens for Entra ID clusters.

use std::{fmt, io, sync::Arc};

use rustls::{
    DigitallySignedStruct, DistinguishedName, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::{CryptoProvider, aws_lc_rs},
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};
use sha1::{Digest, Sha1};

/// How the emulator serves https; see [`EmulatorBuilder::tls`](crate::EmulatorBuilder::tls).
#[derive(Clone)]
pub struct TlsOptions {
    certificate: Certificate,
    clients: Vec<String>,
}

#[derive(Clone)]
enum Certificate {
    Generated,
    Given {
        chain_pem: Vec<u8>,
        key_pem: Vec<u8>,
    },
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certificate = match self.certificate {
            Certificate::Generated => "generated",
            Certificate::Given { .. } => "given (key not shown)",
        };
        f.debug_struct("TlsOptions")
            .field("certificate", &certificate)
            .field("client_thumbprints", &self.clients)
            .finish()
    }
}

impl TlsOptions {
    /// A self-signed certificate made at start (for `localhost` and `127.0.0.1`); clients pin
    /// it by [`Emulator::server_thumbprint`](crate::Emulator::server_thumbprint).
    pub fn generated() -> Self {
        Self {
            certificate: Certificate::Generated,
            clients: Vec::new(),
        }
    }

    /// A certificate chain (leaf first) and its private key, both PEM.
    pub fn certificate(chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            certificate: Certificate::Given {
                chain_pem: chain_pem.into(),
                key_pem: key_pem.into(),
            },
            clients: Vec::new(),
        }
    }

    /// Requires a client certificate whose SHA-1 thumbprint is one of these (hex, any case,
    /// spaces and colons ignored); any other client, or none, gets the gateway's 403.
    pub fn client_thumbprints<I, S>(mut self, thumbprints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.clients = thumbprints
            .into_iter()
            .map(|t| normalize(t.as_ref()))
            .collect();
        self
    }

    /// The acceptor, and the server certificate's SHA-1 thumbprint and PEM.
    pub(crate) fn acceptor(&self) -> io::Result<Tls> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let (chain, key, pem) = match &self.certificate {
            Certificate::Generated => {
                let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
                let made = rcgen::generate_simple_self_signed(names)
                    .map_err(|e| invalid(format!("cannot make a certificate: {e}")))?;
                let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
                    .map_err(|e| invalid(format!("cannot use the generated key: {e}")))?;
                (vec![made.cert.der().clone()], key, made.cert.pem())
            }
            Certificate::Given { chain_pem, key_pem } => {
                let chain = CertificateDer::pem_slice_iter(chain_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid(format!("server certificate: {e}")))?;
                if chain.is_empty() {
                    return Err(invalid(
                        "server certificate: no CERTIFICATE block in the PEM given".into(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|e| invalid(format!("server key: {e}")))?;
                (chain, key, String::from_utf8_lossy(chain_pem).into_owned())
            }
        };
        let thumbprint = sha1_hex(&chain[0]);
        let provider = Arc::new(aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?;
        let builder = if self.clients.is_empty() {
            builder.with_no_client_auth()
        } else {
            builder.with_client_cert_verifier(Arc::new(AnyClient(provider)))
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("server certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            thumbprint,
            pem,
            clients: self.clients.clone(),
        })
    }
}

/// What a running emulator uses to serve https.
pub(crate) struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub thumbprint: String,
    pub pem: String,
    clients: Vec<String>,
}

impl Tls {
    /// Whether the client that completed this handshake may send requests.
    pub fn admits(&self, connection: &rustls::ServerConnection) -> bool {
        if self.clients.is_empty() {
            return true;
        }
        connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .is_some_and(|leaf| self.clients.contains(&sha1_hex(leaf)))
    }
}

fn sha1_hex(der: &[u8]) -> String {
    Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn normalize(thumbprint: &str) -> String {
    thumbprint
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Asks for a client certificate and takes any that proves its key, or none: the gateway
/// decides by thumbprint afterwards and answers 403, which is what clients see from it.
#[derive(Debug)]
struct AnyClient(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
