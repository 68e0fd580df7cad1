//! What goes on the wire: request targets byte for byte, against a loopback server.

mod support;

use futures::TryStreamExt;
use servicefabric_rest::{Client, Error};
use support::serve;
use uuid::Uuid;

async fn stub() -> support::Stub {
    serve(support::empty_answer).await
}

async fn by_path(path: &str) -> String {
    let server = stub().await;
    let client = Client::new(&server.url).expect("client");
    client.upload_sessions_by_path(path).await.expect("call");
    server.targets().pop().expect("one request")
}

async fn names(name: &str, recursive: bool, token: Option<&str>) -> String {
    let server = stub().await;
    let client = Client::new(&server.url).expect("client");
    client
        .sub_names_page(name, recursive, token)
        .await
        .expect("call");
    server.targets().pop().expect("one request")
}

/// The five targets gateway.md gives for the official Python SDK.
#[tokio::test]
async fn python_sdk_targets_byte_for_byte() {
    let server = stub().await;
    let client = Client::new(&server.url).expect("client");
    let id: Uuid = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b"
        .parse()
        .expect("uuid");
    client.upload_sessions_by_id(id).await.expect("by id");
    assert_eq!(
        server.targets()[0],
        "/ImageStore/$/GetUploadSession?api-version=6.0&session-id=4a2340e8-d8d8-497c-95fe-cdaa1052f33b&timeout=60"
    );
    assert_eq!(
        by_path("SwaggerTest\\Common.dll").await,
        "/ImageStore/SwaggerTest%5CCommon.dll/$/GetUploadSession?api-version=6.0&timeout=60"
    );
    assert_eq!(
        by_path("Store/MyApp/Code.zip").await,
        "/ImageStore/Store%2FMyApp%2FCode.zip/$/GetUploadSession?api-version=6.0&timeout=60"
    );
    assert_eq!(
        names("fabric:/samples/apps", false, None).await,
        "/Names/samples/apps/$/GetSubNames?api-version=6.0&Recursive=false&timeout=60"
    );
    assert_eq!(
        names(
            "samples",
            true,
            Some("fabric:/samples/apps/PersistentQueueApp$131439231986491349")
        )
        .await,
        "/Names/samples/$/GetSubNames?api-version=6.0&Recursive=true&ContinuationToken=fabric:/samples/apps/PersistentQueueApp$131439231986491349&timeout=60"
    );
}

#[tokio::test]
async fn content_paths_are_one_percent_encoded_segment() {
    let cases = [
        ("dir with space\\file.txt", "dir%20with%20space%5Cfile.txt"),
        ("données/é.zip", "donn%C3%A9es%2F%C3%A9.zip"),
        ("a#b?c%d", "a%23b%3Fc%25d"),
        ("a+b&c=d$e~f", "a%2Bb%26c%3Dd%24e~f"),
        ("..hidden/.x", "..hidden%2F.x"),
    ];
    for (path, encoded) in cases {
        assert_eq!(
            by_path(path).await,
            format!("/ImageStore/{encoded}/$/GetUploadSession?api-version=6.0&timeout=60"),
            "{path:?}"
        );
    }
}

#[tokio::test]
async fn names_keep_slashes_and_escape_what_the_url_would_break() {
    let cases = [
        ("fabric:/my app/x", "my%20app/x"),
        ("fabric:/données/é", "donn%C3%A9es/%C3%A9"),
        ("fabric:/a#b/c?d", "a%23b/c%3Fd"),
        ("fabric:/100%/x", "100%25/x"),
        ("a&b=c", "a&b=c"),
        ("dir\\sub", "dir%5Csub"),
    ];
    for (name, encoded) in cases {
        assert_eq!(
            names(name, false, None).await,
            format!("/Names/{encoded}/$/GetSubNames?api-version=6.0&Recursive=false&timeout=60"),
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn continuation_tokens_go_verbatim() {
    let token = "fabric:/a b/c$1";
    let target = names("fabric:/a", true, Some(token)).await;
    // Verbatim: `:` `/` `$` untouched; only what a URL cannot carry (space) is escaped.
    assert!(
        target.contains("&ContinuationToken=fabric:/a%20b/c$1&"),
        "{target}"
    );
}

#[tokio::test]
async fn refused_input_sends_nothing() {
    let server = stub().await;
    let client = Client::new(&server.url).expect("client");
    for path in ["", ".", "..", "a/../b", "a\\.\\b", "nul\0byte"] {
        let err = client.upload_sessions_by_path(path).await.expect_err(path);
        assert!(
            matches!(&err, Error::InvalidInput { what: "content path", value, .. } if value == path),
            "{err}"
        );
    }
    for name in [
        "",
        "fabric:/",
        "fabric:",
        "fabric:samples",
        "a//b",
        "a/",
        "a$b",
        "a+b",
        "a|b",
        "a~b",
        "a/./b",
        "a/..",
    ] {
        let err = client
            .sub_names_page(name, false, None)
            .await
            .expect_err(name);
        assert!(
            matches!(&err, Error::InvalidInput { what: "name", value, .. } if value == name),
            "{err}"
        );
        let mut stream = Box::pin(client.sub_names(name, false));
        assert!(stream.try_next().await.is_err(), "stream for {name:?}");
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[tokio::test]
async fn server_timeout_bounds_and_value() {
    for bad in [0, 4_294_967_296] {
        let err = Client::builder("http://localhost:19080")
            .server_timeout(bad)
            .build()
            .expect_err("bad timeout");
        assert!(
            err.to_string().contains(&bad.to_string())
                && err.to_string().contains("1..=4294967295"),
            "{err}"
        );
    }
    let server = stub().await;
    let client = Client::builder(&server.url)
        .server_timeout(4_294_967_295)
        .build()
        .expect("client");
    client.upload_sessions_by_path("x").await.expect("call");
    assert_eq!(
        server.targets()[0],
        "/ImageStore/x/$/GetUploadSession?api-version=6.0&timeout=4294967295"
    );
}

#[tokio::test]
async fn bad_endpoints_are_refused_with_the_value() {
    for bad in ["", "localhost:19080", "ftp://host", "http://host/?q=1"] {
        let err = Client::new(bad).expect_err(bad);
        assert!(
            matches!(&err, Error::InvalidInput { what: "endpoint", value, .. } if value == bad),
            "{err}"
        );
    }
}

#[cfg(not(any(feature = "tls", feature = "native-tls")))]
#[test]
fn https_without_the_tls_feature_is_refused_up_front() {
    let err = Client::new("https://cluster.example:19080").expect_err("no TLS stack");
    let text = err.to_string();
    assert!(
        text.contains("`tls`") && text.contains("`native-tls`"),
        "{text}"
    );
}

#[tokio::test]
async fn no_extra_api_version_header_and_one_connection_reused() {
    let server = stub().await;
    let client = Client::new(&server.url).expect("client");
    for _ in 0..3 {
        client.upload_sessions_by_path("x").await.expect("call");
    }
    let clone = client.clone();
    clone.sub_names_page("a", false, None).await.expect("call");
    let heads = server.heads();
    assert_eq!(heads.len(), 4);
    assert!(
        heads
            .iter()
            .all(|h| !h.to_ascii_lowercase().contains("\napi-version:")),
        "{heads:?}"
    );
    assert_eq!(
        server.connections(),
        1,
        "clones share one pool and reuse the connection"
    );
}
