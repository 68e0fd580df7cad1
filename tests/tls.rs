//! Secure clusters over real TLS on loopback: certificates made here with rcgen, a gateway
//! stand-in that asks for the client certificate at the handshake (as Linux clusters do) and
//! answers 403 to a certificate it does not know. Every test runs on each enabled backend.
#![cfg(any(feature = "tls", feature = "native-tls"))]

mod support;

use std::{path::Path, sync::Arc};

use http_body_util::Full;
use hyper::{Response, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd,
};
use rustls::{
    DigitallySignedStruct, DistinguishedName, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::aws_lc_rs,
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
};
use servicefabric_rest::{
    Client, Error, RetryPolicy, Uuid,
    tls::{Identity, ServerValidation, Thumbprint, TlsBackend},
};
use support::tls::backends;

/// A certificate and its key, as PEM and DER.
struct Made {
    der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
    key_der: Vec<u8>,
}

impl Made {
    fn sha1(&self) -> String {
        Thumbprint::sha1_of(&self.der).to_string()
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
}

fn leaf(cn: &str, issuer: Option<&CertifiedIssuer<'static, KeyPair>>, expired: bool) -> Made {
    let mut params = CertificateParams::new(vec![cn.to_string()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    if expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().expect("key");
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, issuer).expect("sign"),
        None => params.self_signed(&key).expect("self-sign"),
    };
    Made {
        der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}

/// Asks for a client certificate and accepts any that proves its key: the gateway decides
/// by thumbprint afterwards, with a 403, as Service Fabric does.
#[derive(Debug)]
struct AnyClient;

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
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &aws_lc_rs::default_provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &aws_lc_rs::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Serves https on loopback with `chain` (leaf first); answers 200 to a client whose
/// certificate's SHA-1 is in `allowed` (or to anyone when it is empty), else 403.
async fn gateway(chain: &[&Made], allowed: Vec<String>) -> String {
    let certs: Vec<CertificateDer<'static>> = chain
        .iter()
        .map(|m| CertificateDer::from(m.der.clone()))
        .collect();
    let key = PrivateKeyDer::try_from(chain[0].key_der.clone()).expect("key");
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(Arc::new(AnyClient))
            .with_single_cert(certs, key)
            .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("https://{}", listener.local_addr().expect("addr"));
    let allowed = Arc::new(allowed);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let allowed = allowed.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let client = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| Thumbprint::sha1_of(c).to_string());
                let known =
                    allowed.is_empty() || client.as_ref().is_some_and(|t| allowed.contains(t));
                let service = service_fn(move |_request| async move {
                    let (status, body) = if known {
                        (200, r#"{"UploadSessions":[]}"#)
                    } else {
                        (
                            403,
                            r#"{"Error":{"Code":"FABRIC_E_INVALID_CREDENTIALS","Message":"Access denied"}}"#,
                        )
                    };
                    let mut response =
                        Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    endpoint
}

fn client(
    endpoint: &str,
    backend: TlsBackend,
    validation: ServerValidation,
    identity: Option<Identity>,
) -> Client {
    let mut builder = Client::builder(endpoint)
        .retry_policy(RetryPolicy::none())
        .tls_backend(backend)
        .server_validation(validation);
    if let Some(identity) = identity {
        builder = builder.client_identity(identity);
    }
    builder.build().expect("client")
}

fn pem_identity(made: &Made) -> Identity {
    let both = format!("{}{}", made.cert_pem, made.key_pem);
    Identity::from_pem(both.as_bytes(), "client.pem").expect("identity")
}

async fn call(client: &Client) -> servicefabric_rest::Result<usize> {
    client
        .upload_sessions_by_id(Uuid::nil())
        .await
        .map(|s| s.len())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[tokio::test]
async fn mutual_tls_with_pem_files_reaches_a_pinned_gateway() {
    let server = leaf("cluster.test", None, false);
    let me = leaf("sfrest-client", None, false);
    let endpoint = gateway(&[&server], vec![me.sha1()]).await;
    let dir = tempfile::tempdir().expect("dir");
    let cert = write(dir.path(), "client.crt", me.cert_pem.as_bytes());
    let key = write(dir.path(), "client.key", me.key_pem.as_bytes());
    for backend in backends() {
        for identity in [
            Identity::from_pem_files(&cert, Some(&key)).expect("two files"),
            pem_identity(&me),
        ] {
            let pinned = ServerValidation::thumbprints([server.sha1()]).expect("pin");
            let c = client(&endpoint, backend, pinned, Some(identity));
            assert_eq!(
                call(&c).await.expect("200 through mutual TLS"),
                0,
                "{backend:?}"
            );
        }
    }
}

#[tokio::test]
async fn mutual_tls_with_pfx_modern_and_legacy() {
    use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKeyChain};
    let server = leaf("cluster.test", None, false);
    let me = leaf("sfrest-client", None, false);
    let endpoint = gateway(&[&server], vec![me.sha1()]).await;
    let chain = PrivateKeyChain::new(
        p12_keystore::LocalKeyId(vec![1u8; 20]),
        p12_keystore::PrivateKey::from_der(&me.key_der).expect("key"),
        [p12_keystore::Certificate::from_der(&me.der).expect("cert")],
    );
    let mut store = KeyStore::new();
    store.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
    for (kind, algorithm) in [
        ("AES-256", EncryptionAlgorithm::PbeWithHmacSha256AndAes256),
        ("3DES", EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc),
    ] {
        let pfx = store
            .writer("s3cret")
            .encryption_algorithm(algorithm)
            .write()
            .expect("pfx");
        let dir = tempfile::tempdir().expect("dir");
        let file = write(dir.path(), "client.pfx", &pfx);
        let identity = Identity::from_pkcs12_file(&file, "s3cret").expect(kind);
        assert_eq!(identity.thumbprint().to_string(), me.sha1(), "{kind}");
        for backend in backends() {
            let pinned = ServerValidation::thumbprints([server.sha1()]).expect("pin");
            let c = client(&endpoint, backend, pinned, Some(identity.clone()));
            assert_eq!(call(&c).await.expect(kind), 0, "{kind} {backend:?}");
        }
        let wrong = Identity::from_pkcs12_file(&file, "nope").expect_err("wrong password");
        let text = wrong.to_string();
        assert!(
            text.contains("client.pfx") && text.contains("wrong password"),
            "{text}"
        );
        assert!(!text.contains("nope") && !format!("{wrong:?}").contains("s3cret"));
    }
}

#[tokio::test]
async fn a_wrong_or_missing_client_certificate_gets_403() {
    let server = leaf("cluster.test", None, false);
    let known = leaf("known", None, false);
    let stranger = leaf("stranger", None, false);
    let endpoint = gateway(&[&server], vec![known.sha1()]).await;
    for backend in backends() {
        for identity in [Some(pem_identity(&stranger)), None] {
            let pinned = ServerValidation::thumbprints([server.sha1()]).expect("pin");
            let c = client(&endpoint, backend, pinned, identity);
            let err = call(&c).await.expect_err("403");
            assert_eq!(
                err.status().map(|s| s.as_u16()),
                Some(403),
                "{backend:?}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_pin_is_checked_even_when_the_chain_is_valid() {
    let root = ca("Cluster CA");
    let server = leaf("cluster.test", Some(&root), false);
    let other = leaf("cluster.test", Some(&root), false);
    let endpoint = gateway(&[&server], Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = write(dir.path(), "ca.pem", root.pem().as_bytes());
    for backend in backends() {
        let pinned = ServerValidation::thumbprints([other.sha1()])
            .expect("pin")
            .ca_file(&ca_file)
            .expect("ca");
        let err = call(&client(&endpoint, backend, pinned, None))
            .await
            .expect_err("refused");
        let Error::ServerCertificate { mismatch, .. } = &err else {
            panic!("{backend:?}: expected ServerCertificate, got {err:?}");
        };
        assert!(mismatch.expected.contains(&other.sha1()), "{mismatch}");
        assert!(mismatch.found.contains(&server.sha1()), "{mismatch}");
    }
}

#[tokio::test]
async fn a_pinned_self_signed_certificate_is_accepted_by_sha1_or_sha256() {
    let server = leaf("cluster.test", None, false);
    let endpoint = gateway(&[&server], Vec::new()).await;
    let sha256 = Thumbprint::sha256_of(&server.der).to_string();
    // Pasted as Windows shows it: lower case, spaced.
    let spaced: String = server
        .sha1()
        .to_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    for backend in backends() {
        for pin in [spaced.clone(), sha256.clone()] {
            let pinned = ServerValidation::thumbprints(["00".repeat(20), pin]).expect("pins");
            assert_eq!(
                call(&client(&endpoint, backend, pinned, None))
                    .await
                    .expect("pinned"),
                0
            );
        }
        // Unpinned and self-signed: the system roots refuse it, and it is not a pin error.
        let err = call(&client(
            &endpoint,
            backend,
            ServerValidation::system_roots(),
            None,
        ))
        .await
        .expect_err("untrusted");
        assert!(matches!(err, Error::Connect(_)), "{backend:?}: {err:?}");
    }
}

#[tokio::test]
async fn an_expired_pinned_certificate_is_refused() {
    let server = leaf("cluster.test", None, true);
    let endpoint = gateway(&[&server], Vec::new()).await;
    for backend in backends() {
        let pinned = ServerValidation::thumbprints([server.sha1()]).expect("pin");
        let err = call(&client(&endpoint, backend, pinned, None))
            .await
            .expect_err("expired");
        let Error::ServerCertificate { mismatch, .. } = &err else {
            panic!("{backend:?}: expected ServerCertificate, got {err:?}");
        };
        assert!(mismatch.found.contains("expired"), "{mismatch}");
    }
}

#[tokio::test]
async fn common_name_with_issuer_pinning() {
    let root = ca("Cluster CA");
    let other_root = ca("Other CA");
    // The certificate names cluster.test; the client dials 127.0.0.1: the host is not checked.
    let server = leaf("cluster.test", Some(&root), false);
    let endpoint = gateway(&[&server], Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = write(dir.path(), "ca.pem", root.pem().as_bytes());
    let root_sha1 = Thumbprint::sha1_of(root.der()).to_string();
    let other_sha1 = Thumbprint::sha1_of(other_root.der()).to_string();
    for backend in backends() {
        let by_name = |names: &[&str], issuers: &[&str]| {
            let v = ServerValidation::common_names(names)
                .ca_file(&ca_file)
                .expect("ca");
            if issuers.is_empty() {
                v
            } else {
                v.issuer_thumbprints(issuers).expect("issuers")
            }
        };
        let ok = by_name(&["CLUSTER.test"], &[&root_sha1]);
        assert_eq!(
            call(&client(&endpoint, backend, ok, None))
                .await
                .expect("CN + issuer"),
            0
        );
        let ok = by_name(&["cluster.test"], &[]);
        assert_eq!(
            call(&client(&endpoint, backend, ok, None))
                .await
                .expect("CN"),
            0
        );

        let wrong_name = by_name(&["other.test"], &[]);
        let err = call(&client(&endpoint, backend, wrong_name, None))
            .await
            .expect_err("CN");
        assert!(
            matches!(&err, Error::ServerCertificate { mismatch, .. } if mismatch.found.contains("cluster.test")),
            "{backend:?}: {err:?}"
        );
        let wrong_issuer = by_name(&["cluster.test"], &[&other_sha1]);
        let err = call(&client(&endpoint, backend, wrong_issuer, None))
            .await
            .expect_err("issuer");
        assert!(
            matches!(&err, Error::ServerCertificate { mismatch, .. } if mismatch.found.contains(&root_sha1)),
            "{backend:?}: {err:?}"
        );
        // Without the CA the chain is not valid, whatever the name.
        let untrusted = ServerValidation::common_names(["cluster.test"]);
        let err = call(&client(&endpoint, backend, untrusted, None))
            .await
            .expect_err("chain");
        assert!(matches!(err, Error::Connect(_)), "{backend:?}: {err:?}");
    }
}

#[tokio::test]
async fn insecure_mode_accepts_any_certificate() {
    let server = leaf("anything", None, true);
    let endpoint = gateway(&[&server], Vec::new()).await;
    for backend in backends() {
        let insecure = ServerValidation::insecure_accept_any_certificate();
        assert!(insecure.is_insecure());
        assert_eq!(
            call(&client(&endpoint, backend, insecure, None))
                .await
                .expect("insecure"),
            0
        );
    }
}

#[test]
fn certificate_files_that_cannot_be_used_say_which_and_why() {
    let me = leaf("sfrest-client", None, false);
    let dir = tempfile::tempdir().expect("dir");
    let cert = write(dir.path(), "only-cert.pem", me.cert_pem.as_bytes());
    let err = Identity::from_pem_files(&cert, None).expect_err("no key");
    assert!(
        matches!(&err, Error::Certificate { file, problem } if file.ends_with("only-cert.pem") && problem.contains("no private key")),
        "{err:?}"
    );
    let key = write(dir.path(), "only-key.pem", me.key_pem.as_bytes());
    let err = Identity::from_pem_files(&key, None).expect_err("no cert");
    assert!(err.to_string().contains("no certificate"), "{err}");
    let expired = leaf("old", None, true);
    let both = format!("{}{}", expired.cert_pem, expired.key_pem);
    let err = Identity::from_pem(both.as_bytes(), "old.pem").expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
    let missing =
        Identity::from_pem_files(dir.path().join("absent.pem"), None).expect_err("absent");
    assert!(missing.to_string().contains("absent.pem"), "{missing}");
    // The key never shows.
    let identity = pem_identity(&me);
    let debug = format!("{identity:?}");
    let key_body: String = me.key_pem.lines().nth(1).unwrap_or_default().to_string();
    assert!(
        !debug.contains(&key_body) && debug.contains(&me.sha1()),
        "{debug}"
    );
}

/// A Windows gateway that wants the client certificate only after the request, seen from a
/// client that cannot renegotiate: the handshake asks for no certificate, the request head is
/// read, and the connection is closed without an answer.
#[cfg(feature = "tls")]
async fn closes_after_the_request(server: &Made) -> String {
    use tokio::io::AsyncReadExt;
    let key = PrivateKeyDer::try_from(server.key_der.clone()).expect("key");
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(server.der.clone())], key)
            .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("https://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                drop(tls);
            });
        }
    });
    endpoint
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_connection_closed_after_sending_a_certificate_says_renegotiation() {
    let server = leaf("cluster.test", None, false);
    let me = leaf("sfrest-client", None, false);
    let endpoint = closes_after_the_request(&server).await;
    let pin = || ServerValidation::thumbprints([server.sha1()]).expect("pin");
    let err = call(&client(
        &endpoint,
        TlsBackend::Rustls,
        pin(),
        Some(pem_identity(&me)),
    ))
    .await
    .expect_err("closed");
    assert!(
        matches!(&err, Error::Renegotiation { endpoint: e, .. } if *e == endpoint),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("renegotiation")
            && text.contains("native-tls")
            && text.contains("clientcertnegotiation=enable"),
        "{text}"
    );
    // Without a client certificate it is only a broken connection.
    let err = call(&client(&endpoint, TlsBackend::Rustls, pin(), None))
        .await
        .expect_err("closed");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}
