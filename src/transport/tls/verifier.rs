//! rustls: a certificate verifier that always checks the pin, and the client config around it.

use std::sync::Arc;

use rustls::{
    CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{WebPkiSupportedAlgorithms, aws_lc_rs},
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use super::{Rule, TlsSettings, certificate};
use crate::{Error, Result};

/// Checks the configured rule; the handshake signatures are always verified, so a server
/// showing a pinned certificate must also hold its key.
#[derive(Debug)]
struct Verifier {
    rule: Rule,
    /// The chain check, where the rule needs one.
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// Candidates for a leaf's issuer that the server may not send: the CA bundle.
    ca: Vec<Vec<u8>>,
    algorithms: WebPkiSupportedAlgorithms,
}

fn refuse(mismatch: certificate::CertificateMismatch) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        mismatch,
    ))))
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let now_unix = now.as_secs() as i64;
        match &self.rule {
            Rule::Insecure => {}
            Rule::Thumbprints(pins) => {
                certificate::check_thumbprints(leaf, pins, now_unix).map_err(refuse)?;
            }
            Rule::Chain | Rule::CommonNames { .. } => {
                let chain = self
                    .chain
                    .as_ref()
                    .ok_or_else(|| rustls::Error::General("no chain verifier".into()))?;
                match chain.verify_server_cert(leaf, intermediates, server_name, ocsp, now) {
                    Ok(_) => {}
                    // The gateway is identified by its name in the certificate, not by the
                    // host dialled: a chain that is valid but for another host passes here.
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. },
                    )) if matches!(self.rule, Rule::CommonNames { .. }) => {}
                    Err(e) => return Err(e),
                }
                if let Rule::CommonNames { names, issuers } = &self.rule {
                    let issuer = certificate::find_issuer(
                        leaf,
                        intermediates
                            .iter()
                            .map(|c| c.as_ref())
                            .chain(self.ca.iter().map(Vec::as_slice)),
                    );
                    certificate::check_common_name(leaf, issuer, names, issuers).map_err(refuse)?;
                }
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn roots(settings: &TlsSettings) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &settings.validation.ca {
        Some(ca) => {
            for der in &ca.certs {
                roots
                    .add(CertificateDer::from(der.clone()))
                    .map_err(|e| Error::Certificate {
                        file: ca.file.display().to_string(),
                        problem: format!("a CA certificate is not usable: {e}"),
                    })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for der in found.certs {
                let _ = roots.add(der);
            }
        }
    }
    Ok(roots)
}

pub(super) fn apply(
    settings: &TlsSettings,
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let chain = match settings.validation.rule {
        Rule::Chain | Rule::CommonNames { .. } => Some(
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(settings)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| {
                Error::invalid(
                    "server validation",
                    e,
                    "a usable set of trusted roots (the system's or --ca)",
                )
            })?,
        ),
        _ => None,
    };
    let verifier = Verifier {
        rule: settings.validation.rule.clone(),
        chain,
        ca: settings.validation.ca_certs(),
        algorithms: provider.signature_verification_algorithms,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("TLS configuration", e, "TLS 1.2 or 1.3"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match &settings.identity {
        Some(identity) => config
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| Error::Certificate {
                file: identity.source().to_string(),
                problem: format!("the key does not match the certificate or is not supported: {e}"),
            })?,
        None => config.with_no_client_auth(),
    };
    Ok(builder.tls_backend_preconfigured(config))
}
