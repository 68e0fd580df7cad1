//! The client against the emulator acting as a secured cluster: https with a generated
//! certificate, client certificates by thumbprint, and Entra ID bearer tokens (fetched,
//! refreshed once on a refusal, never sent over http, never shown). Every test runs on each
//! enabled TLS backend.
#![cfg(any(feature = "tls", feature = "native-tls"))]

mod support;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use servicefabric_emulator::{Emulator, TlsOptions};
use servicefabric_rest::{
    Client, ClientBuilder, Error, RetryPolicy,
    auth::{self, AccessToken, TokenRequest},
    tls::{Identity, ServerValidation, Thumbprint, TlsBackend},
};
use support::tls::backends;

/// A builder for `emulator`, pinned to the certificate it generated.
fn pinned(emulator: &Emulator, backend: TlsBackend) -> ClientBuilder {
    let thumbprint = emulator.server_thumbprint().expect("https");
    Client::builder(emulator.endpoint())
        .retry_policy(RetryPolicy::none())
        .tls_backend(backend)
        .server_validation(ServerValidation::thumbprints([thumbprint]).expect("pin"))
}

async fn entra_cluster(token: &str) -> Emulator {
    Emulator::builder()
        .seeded(true)
        .tls(TlsOptions::generated())
        .bearer_token(token)
        .start()
        .await
        .expect("emulator")
}

#[tokio::test]
async fn a_static_token_goes_over_https_and_a_wrong_one_gets_the_gateway_answer() {
    let emulator = entra_cluster("right-token").await;
    for backend in backends() {
        let client = pinned(&emulator, backend)
            .token_provider(auth::static_token("right-token"))
            .build()
            .expect("client");
        assert!(client.name_exists("fabric:/samples").await.expect("call"));

        let wrong = pinned(&emulator, backend)
            .token_provider(auth::static_token("wrong-token"))
            .build()
            .expect("client");
        let error = wrong.name_exists("fabric:/samples").await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(403), "{error}");
        assert!(!format!("{error} {error:?} {wrong:?}").contains("wrong-token"));

        let none = pinned(&emulator, backend).build().expect("client");
        let error = none.name_exists("fabric:/samples").await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(401), "{error}");
    }
}

/// What a provider was asked: the scope, and whether to refresh.
type Asked = (Option<String>, bool);

#[tokio::test]
async fn a_refused_token_is_refreshed_once_with_the_scope_from_the_metadata() {
    let emulator = entra_cluster("fresh").await;
    for backend in backends() {
        let requests: Arc<Mutex<Vec<Asked>>> = Arc::default();
        let seen = requests.clone();
        // Hands out a stale token first, as a cache would, and the right one when forced.
        let provider = auth::token_fn(move |request: TokenRequest| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .expect("log")
                    .push((request.scope(), request.refresh));
                let token = if request.refresh { "fresh" } else { "stale" };
                Ok::<_, std::io::Error>(AccessToken::new(token))
            }
        });
        let client = pinned(&emulator, backend)
            .token_provider(provider)
            .build()
            .expect("client");
        // A create is not re-sent after a failure, but a refused token means nothing was done.
        client
            .create_name("fabric:/secured/a")
            .await
            .expect("create");
        assert!(
            client
                .name_exists("fabric:/secured/a")
                .await
                .expect("exists")
        );
        client
            .delete_name("fabric:/secured/a")
            .await
            .expect("delete");
        let scope = format!("{}/.default", "11111111-1111-1111-1111-00000000e770");
        assert_eq!(
            *requests.lock().expect("log"),
            [(Some(scope.clone()), false), (Some(scope), true)],
            "one token, one refresh, then the refreshed token is kept"
        );
    }
}

#[tokio::test]
async fn a_token_the_gateway_keeps_refusing_is_refreshed_only_once() {
    let emulator = entra_cluster("right").await;
    for backend in backends() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let provider = auth::token_fn(move |_: TokenRequest| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(AccessToken::new("never-right")) }
        });
        let client = pinned(&emulator, backend)
            .retry_policy(RetryPolicy::default())
            .token_provider(provider)
            .build()
            .expect("client");
        let error = client.name_exists("fabric:/samples").await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(403));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_failing_provider_is_a_token_error_and_nothing_is_sent() {
    let emulator = entra_cluster("right").await;
    for backend in backends() {
        let client = pinned(&emulator, backend)
            .token_provider(auth::token_fn(|_: TokenRequest| async {
                Err::<AccessToken, _>(std::io::Error::other("az: not logged in"))
            }))
            .build()
            .expect("client");
        let error = client.create_name("fabric:/never").await.unwrap_err();
        assert!(matches!(error, Error::Token(_)), "{error:?}");
        assert!(error.to_string().contains("az: not logged in"), "{error}");
        assert!(!error.is_transient());
    }
    let check = pinned(&emulator, backends()[0])
        .token_provider(auth::static_token("right"))
        .build()
        .expect("client");
    assert!(!check.name_exists("fabric:/never").await.expect("exists"));
}

#[tokio::test]
async fn tokens_are_never_sent_over_plain_http() {
    let plain = Emulator::builder()
        .bearer_token("secret-token")
        .start()
        .await
        .expect("emulator");
    let error = Client::builder(plain.endpoint())
        .token_provider(auth::static_token("secret-token"))
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { what: "endpoint", value, .. } if value == plain.endpoint()),
        "{error:?}"
    );
    assert!(!error.to_string().contains("secret-token"));
    // One http endpoint among https ones is refused too.
    let error = Client::builder("https://node0:19080")
        .endpoints(["https://node0:19080", "http://node1:19080"])
        .token_provider(auth::static_token("secret-token"))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("http://node1:19080"), "{error}");
}

#[tokio::test]
async fn aad_metadata_reports_the_cluster_settings_or_none() {
    let entra = entra_cluster("t").await;
    let plain_tls = Emulator::builder()
        .tls(TlsOptions::generated())
        .start()
        .await
        .expect("emulator");
    for backend in backends() {
        // Needs no token: this is how a client learns which one to get.
        let client = pinned(&entra, backend).build().expect("client");
        let metadata = client.aad_metadata().await.expect("metadata").expect("aad");
        assert_eq!(metadata.cluster, "11111111-1111-1111-1111-00000000e770");
        assert_eq!(
            metadata.scope(),
            "11111111-1111-1111-1111-00000000e770/.default"
        );
        assert!(metadata.authority.ends_with(&metadata.tenant));

        let client = pinned(&plain_tls, backend).build().expect("client");
        assert_eq!(client.aad_metadata().await.expect("metadata"), None);
    }
}

#[tokio::test]
async fn no_token_in_logs_spans_or_debug_output() {
    // A process-wide subscriber: a scoped one (`set_default`) races with the other tests of
    // this binary over tracing's per-callsite cache, and then sees nothing.
    use support::logs::Captured;
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    let captured = CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_writer(move || writer.clone())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        captured
    });
    let emulator = entra_cluster("s3cr3t-value").await;
    for backend in backends() {
        let first = Arc::new(AtomicUsize::new(0));
        let provider = auth::token_fn(move |_: TokenRequest| {
            // A stale token first, so the refusal and the refresh are logged too.
            let token = if first.fetch_add(1, Ordering::SeqCst) == 0 {
                "s3cr3t-stale"
            } else {
                "s3cr3t-value"
            };
            async move { Ok::<_, std::io::Error>(AccessToken::new(token)) }
        });
        let client = pinned(&emulator, backend)
            .token_provider(provider)
            .build()
            .expect("client");
        assert!(client.name_exists("fabric:/samples").await.expect("call"));
        let debug = format!("{client:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }
    let logs = captured.text();
    assert!(
        logs.contains("servicefabric_request"),
        "spans were captured"
    );
    assert!(logs.contains("refused the token"), "the refresh was logged");
    assert!(!logs.contains("s3cr3t"), "{logs}");
}

/// Made with rcgen: a client certificate and its thumbprint.
fn client_certificate(cn: &str) -> (Identity, String) {
    let made = rcgen::generate_simple_self_signed(vec![cn.to_string()]).expect("cert");
    let pem = format!("{}{}", made.cert.pem(), made.signing_key.serialize_pem());
    let identity = Identity::from_pem(pem.as_bytes(), cn).expect("identity");
    (identity, Thumbprint::sha1_of(made.cert.der()).to_string())
}

#[tokio::test]
async fn the_emulator_serves_only_listed_client_certificates() {
    let (admin, admin_thumbprint) = client_certificate("admin");
    let (stranger, _) = client_certificate("stranger");
    // Listed with spaces and in lower case, as people paste them.
    let listed = admin_thumbprint
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    let emulator = Emulator::builder()
        .seeded(true)
        .tls(TlsOptions::generated().client_thumbprints([listed]))
        .start()
        .await
        .expect("emulator");
    for backend in backends() {
        let client = pinned(&emulator, backend)
            .client_identity(admin.clone())
            .build()
            .expect("client");
        assert!(client.name_exists("fabric:/samples").await.expect("admin"));
        for identity in [Some(stranger.clone()), None] {
            let mut builder = pinned(&emulator, backend);
            if let Some(identity) = identity {
                builder = builder.client_identity(identity);
            }
            let error = builder
                .build()
                .expect("client")
                .name_exists("fabric:/samples")
                .await
                .unwrap_err();
            assert_eq!(error.status().map(|s| s.as_u16()), Some(403), "{error}");
        }
    }
}

/// What `azure_identity`'s credentials look like to the client: `TokenCredential`.
#[cfg(feature = "azure-identity")]
#[derive(Debug, Default)]
struct FakeCredential {
    scopes: Mutex<Vec<String>>,
}

#[cfg(feature = "azure-identity")]
#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        self.scopes
            .lock()
            .expect("scopes")
            .extend(scopes.iter().map(|s| s.to_string()));
        let expires =
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1);
        Ok(azure_core::credentials::AccessToken::new(
            "from-azure",
            expires,
        ))
    }
}

#[cfg(feature = "azure-identity")]
#[tokio::test]
async fn azure_identity_credentials_get_the_cluster_scope() {
    let emulator = entra_cluster("from-azure").await;
    for backend in backends() {
        let credential = Arc::new(FakeCredential::default());
        let client = pinned(&emulator, backend)
            .token_provider(auth::AzureCredential::new(credential.clone()))
            .build()
            .expect("client");
        assert!(client.name_exists("fabric:/samples").await.expect("call"));
        assert!(
            client
                .name_exists("fabric:/samples/apps")
                .await
                .expect("call")
        );
        assert_eq!(
            *credential.scopes.lock().expect("scopes"),
            ["11111111-1111-1111-1111-00000000e770/.default"],
            "asked once, for the scope from GetAadMetadata; the token is kept until it expires"
        );
    }
}
