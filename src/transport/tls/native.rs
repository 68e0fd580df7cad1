//! native-tls: it has no hook into certificate validation, so the pin is checked by a
//! connector layer right after the handshake, before reqwest writes a byte of the request.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use hyper_util::client::legacy::connect::Connection;

use super::{Rule, TlsSettings, certificate};
use crate::{Error, Result};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps reqwest's connector: each new connection's certificate is checked.
#[derive(Clone)]
struct PinLayer {
    rule: Rule,
    ca: Vec<Vec<u8>>,
}

#[derive(Clone)]
struct PinCheck<S> {
    inner: S,
    layer: PinLayer,
}

impl<S> tower_layer::Layer<S> for PinLayer {
    type Service = PinCheck<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PinCheck {
            inner,
            layer: self.clone(),
        }
    }
}

impl PinLayer {
    fn check(&self, leaf: Option<&[u8]>) -> std::result::Result<(), BoxError> {
        let now = certificate::now_unix();
        match &self.rule {
            Rule::Chain | Rule::Insecure => Ok(()),
            Rule::Thumbprints(pins) => {
                let leaf = leaf.ok_or("the TLS backend did not report the server's certificate")?;
                Ok(certificate::check_thumbprints(leaf, pins, now)?)
            }
            Rule::CommonNames { names, issuers } => {
                let leaf = leaf.ok_or("the TLS backend did not report the server's certificate")?;
                // native-tls shows only the leaf: the issuer must be in the CA bundle.
                let issuer = certificate::find_issuer(leaf, self.ca.iter().map(Vec::as_slice));
                Ok(certificate::check_common_name(
                    leaf, issuer, names, issuers,
                )?)
            }
        }
    }
}

impl<S, R> tower_service::Service<R> for PinCheck<S>
where
    S: tower_service::Service<R, Error = BoxError> + Send,
    S::Response: Connection + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        let layer = self.layer.clone();
        Box::pin(async move {
            let conn = connecting.await?;
            let mut extensions = http::Extensions::new();
            conn.connected().get_extras(&mut extensions);
            let leaf = extensions
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|info| info.peer_certificate());
            layer.check(leaf)?;
            Ok(conn)
        })
    }
}

pub(super) fn apply(
    settings: &TlsSettings,
    mut builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder> {
    builder = builder.tls_backend_native().tls_info(true);
    if let Some(ca) = &settings.validation.ca {
        let certs = ca
            .certs
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Certificate {
                file: ca.file.display().to_string(),
                problem: format!("a CA certificate is not usable: {e}"),
            })?;
        builder = builder.tls_certs_only(certs);
    }
    builder = match &settings.validation.rule {
        Rule::Chain => builder,
        // OpenSSL and SChannel still verify the handshake signature: the server must hold
        // the pinned certificate's key.
        Rule::Thumbprints(_) | Rule::Insecure => builder.tls_danger_accept_invalid_certs(true),
        Rule::CommonNames { .. } => builder.tls_danger_accept_invalid_hostnames(true),
    };
    if let Some(identity) = &settings.identity {
        let (certs, key) = identity.to_pem();
        let identity = reqwest::Identity::from_pkcs8_pem(certs.as_bytes(), key.as_bytes())
            .map_err(|e| Error::Certificate {
                file: identity.source().to_string(),
                problem: format!("native-tls refused the certificate or key: {e}"),
            })?;
        builder = builder.identity(identity);
    }
    Ok(builder.connector_layer(PinLayer {
        rule: settings.validation.rule.clone(),
        ca: settings.validation.ca_certs(),
    }))
}
