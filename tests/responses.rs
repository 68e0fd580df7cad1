//! How answers are read: seed examples, the gateway's quirks, and bad answers that must give
//! typed errors (never a panic, a hang or a silent wrong answer).

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::TryStreamExt;
use servicefabric_rest::{Client, Error, ErrorCode};
use support::{Reply, reply, reply_typed, serve};
use uuid::Uuid;

fn fixture(name: &str) -> String {
    let all: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/seed_examples.json")).expect("fixtures");
    let example = all
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["name"] == name)
        .expect(name);
    serde_json::to_string(&example["body"]).expect("json")
}

fn id() -> Uuid {
    "4a2340e8-d8d8-497c-95fe-cdaa1052f33b"
        .parse()
        .expect("uuid")
}

#[tokio::test]
async fn seed_upload_sessions_decode_to_u64s() {
    let by_id = fixture("GetUploadSessionById");
    let by_path = fixture("GetUploadSessionByPath");
    let server = serve(move |t| {
        reply(
            200,
            "OK",
            if t.starts_with("/ImageStore/$") {
                &by_id
            } else {
                &by_path
            },
        )
    })
    .await;
    let client = Client::new(&server.url).expect("client");

    let sessions = client.upload_sessions_by_id(id()).await.expect("by id");
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s.store_relative_path, "SwaggerTest\\Common.dll");
    assert_eq!(s.session_id, id());
    assert_eq!(s.file_size, 2_097_152);
    assert_eq!(
        s.expected_ranges
            .iter()
            .map(|r| r.as_range())
            .collect::<Vec<_>>(),
        [0..=402_128, 730_105..=2_097_151]
    );
    assert_eq!(s.missing_bytes(), 402_129 + (2_097_151 - 730_105 + 1));
    assert_eq!(
        s.modified_date.map(|d| d.timestamp_millis()),
        Some(1_506_618_397_260)
    );

    let sessions = client
        .upload_sessions_by_path("SwaggerTest\\Common.dll")
        .await
        .expect("by path");
    let ids: Vec<String> = sessions.iter().map(|s| s.session_id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "2032ac6c-a348-4594-86da-dab0f2bb1ae1",
            "fb2da2b2-7cb4-45d2-a2e6-c4888d205bc5"
        ]
    );
    assert_eq!(sessions[1].expected_ranges[0].end, 616_947);
}

#[tokio::test]
async fn seed_sub_names_decode() {
    let body = fixture("GetSubNamesRecursive");
    let server = serve(move |_| reply(200, "OK", &body)).await;
    let client = Client::new(&server.url).expect("client");
    let page = client
        .sub_names_page("fabric:/samples", true, None)
        .await
        .expect("page");
    assert_eq!(page.names.len(), 7);
    assert_eq!(
        page.names[3],
        "fabric:/samples/CalculatorApp/CalculatorService"
    );
    assert_eq!(page.continuation_token, None, "\"\" means no more pages");
    assert!(page.is_consistent);
}

#[tokio::test]
async fn no_session_is_an_empty_list_for_204_and_empty_200() {
    let server = serve(|t| {
        if t.contains("empty200") {
            reply(200, "OK", "")
        } else {
            reply(204, "No Content", "")
        }
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    assert!(
        client
            .upload_sessions_by_id(id())
            .await
            .expect("204")
            .is_empty()
    );
    assert!(
        client
            .upload_sessions_by_path("x")
            .await
            .expect("204")
            .is_empty()
    );
    assert!(
        client
            .upload_sessions_by_path("empty200")
            .await
            .expect("empty 200")
            .is_empty()
    );
    // For names an empty body is not a valid page.
    assert!(matches!(
        client.sub_names_page("a", false, None).await,
        Err(Error::Decode { .. })
    ));
}

#[tokio::test]
async fn known_and_unknown_error_codes_are_typed() {
    let server = serve(|t| {
        if t.contains("missing") {
            reply(404, "FABRIC_E_NAME_DOES_NOT_EXIST", r#"{"Error":{"Code":"FABRIC_E_NAME_DOES_NOT_EXIST","Message":"Name does not exist."}}"#)
        } else if t.contains("busy") {
            reply(503, "E_ABORT", r#"{"Error":{"Code":"E_ABORT","Message":"Null"}}"#)
        } else {
            reply(400, "FABRIC_E_FUTURE_CODE", r#"{"Error":{"Code":"FABRIC_E_FUTURE_CODE","Message":"from a newer runtime"}}"#)
        }
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let err = client
        .sub_names_page("missing", false, None)
        .await
        .expect_err("404");
    assert!(
        matches!(&err, Error::Gateway { status, code: ErrorCode::NameDoesNotExist, message, .. } if status.as_u16() == 404 && message == "Name does not exist."),
        "{err:?}"
    );
    assert!(!err.is_transient());

    let err = client
        .sub_names_page("busy", false, None)
        .await
        .expect_err("503");
    assert_eq!(err.code(), Some(&ErrorCode::Abort));
    assert!(err.is_transient());

    let err = client
        .sub_names_page("other", false, None)
        .await
        .expect_err("400");
    assert!(
        matches!(&err, Error::Gateway { code: code @ ErrorCode::Unhandled(_), message, .. } if code.as_str() == "FABRIC_E_FUTURE_CODE" && message == "from a newer runtime"),
        "{err:?}"
    );
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(!err.code().is_some_and(ErrorCode::is_known));
    // Codes the gateway returns outside the published list are known by name.
    assert_eq!(
        ErrorCode::from_code("FABRIC_E_INVALID_UPLOAD_SESSION_ID"),
        ErrorCode::InvalidUploadSessionId
    );
}

#[tokio::test]
async fn html_and_bodiless_failures_keep_status_and_snippet() {
    let server = serve(|t| {
        if t.contains("html") {
            reply_typed(
                502,
                "Bad Gateway",
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
        } else {
            reply_typed(404, "Not Found", "text/plain", "")
        }
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let err = client
        .sub_names_page("html", false, None)
        .await
        .expect_err("502");
    assert!(
        matches!(&err, Error::UnexpectedResponse { status, body_snippet, .. } if status.as_u16() == 502 && body_snippet.contains("502 Bad Gateway")),
        "{err:?}"
    );
    assert!(err.is_transient());
    let err = client
        .upload_sessions_by_path("bodiless")
        .await
        .expect_err("404");
    assert!(
        matches!(&err, Error::UnexpectedResponse { status, body_snippet, .. } if status.as_u16() == 404 && body_snippet.is_empty()),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn undecodable_success_bodies_are_decode_errors() {
    let server = serve(|t| {
        if t.contains("truncated") {
            reply(200, "OK", r#"{"UploadSessions":[{"StoreRelativePath":"a","Sess"#)
        } else if t.contains("notjson") {
            reply_typed(200, "OK", "text/html", "<html>login</html>")
        } else {
            reply(200, "OK", r#"{"UploadSessions":[{"StoreRelativePath":"a","SessionId":"4a2340e8-d8d8-497c-95fe-cdaa1052f33b","FileSize":"2MB","ExpectedRanges":[]}]}"#)
        }
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let err = client
        .upload_sessions_by_path("truncated")
        .await
        .expect_err("truncated");
    assert!(
        matches!(&err, Error::Decode { body_snippet, .. } if body_snippet.contains("StoreRelativePath")),
        "{err:?}"
    );
    let err = client
        .upload_sessions_by_path("notjson")
        .await
        .expect_err("html");
    assert!(
        matches!(&err, Error::Decode { body_snippet, .. } if body_snippet.contains("login")),
        "{err:?}"
    );
    let err = client
        .upload_sessions_by_path("number")
        .await
        .expect_err("bad number");
    assert!(
        matches!(&err, Error::Decode { detail, .. } if detail.contains("FileSize") && detail.contains("\"2MB\"")),
        "{err:?}"
    );
}

#[tokio::test]
async fn body_cut_short_by_the_connection_is_a_transport_error() {
    let server = serve(|_| Reply {
        raw: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"UploadSessions\":[".to_vec(),
        delay: Duration::ZERO,
        close: true,
        trickle: Duration::ZERO,
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let err = client.upload_sessions_by_path("x").await.expect_err("cut");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_times_out() {
    let server = serve(|_| Reply {
        delay: Duration::from_secs(5),
        ..reply(200, "OK", r#"{"UploadSessions":[]}"#)
    })
    .await;
    // One attempt: this is about the HTTP timeout; retries of timeouts are tests/policy.rs's.
    let client = Client::builder(&server.url)
        .server_timeout(1)
        .http_timeout(Duration::from_millis(300))
        .retry_policy(servicefabric_rest::RetryPolicy::none())
        .build()
        .expect("client");
    let started = std::time::Instant::now();
    let err = client.upload_sessions_by_path("x").await.expect_err("slow");
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "gave up at the HTTP timeout, not the server's answer"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let err = Client::new(&url)
        .expect("client")
        .upload_sessions_by_id(id())
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    assert!(err.is_transient());
    // Display carries the cause, not only "error sending request".
    let text = err.to_string().to_lowercase();
    assert!(text.contains("connection refused"), "{text}");
}

#[tokio::test]
async fn not_found_errors_name_what_was_asked_for() {
    let server = serve(|t| {
        if t.contains("GetSubNames") {
            reply(404, "FABRIC_E_NAME_DOES_NOT_EXIST", r#"{"Error":{"Code":"FABRIC_E_NAME_DOES_NOT_EXIST","Message":"Name does not exist."}}"#)
        } else {
            reply_typed(404, "Not Found", "text/html", "<html>no</html>")
        }
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let err = client
        .sub_names_page("fabric:/nope/app", false, None)
        .await
        .expect_err("404");
    let text = err.to_string();
    assert!(
        text.contains("fabric:/nope/app") && text.contains("FABRIC_E_NAME_DOES_NOT_EXIST"),
        "{text}"
    );
    let err = client
        .upload_sessions_by_path("Store\\App\\gone.zip")
        .await
        .expect_err("404");
    assert!(err.to_string().contains("Store\\App\\gone.zip"), "{err}");
    let id = id();
    let err = client.commit_upload_session(id).await.expect_err("404");
    assert!(err.to_string().contains(&id.to_string()), "{err}");
}

#[tokio::test]
async fn raw_client_fills_in_api_version_and_keeps_failure_statuses() {
    use servicefabric_rest::generated::Error as RawError;
    let server = serve(|t| {
        if t.contains("empty") {
            reply_typed(404, "Not Found", "application/json", "")
        } else if t.contains("html") {
            reply_typed(503, "Service Unavailable", "text/html", "<html>busy</html>")
        } else if t.contains("fabric") {
            reply(
                409,
                "FABRIC_E_NAME_ALREADY_EXISTS",
                r#"{"Error":{"Code":"FABRIC_E_NAME_ALREADY_EXISTS","Message":"Null"}}"#,
            )
        } else {
            reply(
                200,
                "OK",
                r#"{"ContinuationToken":"","IsConsistent":true,"SubNames":["fabric:/a/b"]}"#,
            )
        }
    })
    .await;
    let raw = Client::new(&server.url).expect("client").raw();
    // No .api_version(..): the spec's version is the default.
    let page = raw
        .get_sub_name_info_list()
        .name_id("a")
        .send()
        .await
        .expect("page");
    assert_eq!(page.into_inner().sub_names.len(), 1);
    assert_eq!(
        server.targets().last().map(String::as_str),
        Some("/Names/a/$/GetSubNames?api-version=6.0")
    );
    for (name, status) in [("empty", 404), ("html", 503)] {
        match raw.get_name_exists_info().name_id(name).send().await {
            Err(RawError::UnexpectedResponse(response)) => {
                assert_eq!(response.status().as_u16(), status, "{name}")
            }
            other => panic!("{name}: expected UnexpectedResponse, got {other:?}"),
        }
    }
    match raw.get_name_exists_info().name_id("fabric").send().await {
        Err(RawError::ErrorResponse(value)) => {
            assert_eq!(value.status().as_u16(), 409);
            assert_eq!(value.into_inner().error.code, ErrorCode::NameAlreadyExists);
        }
        other => panic!("expected ErrorResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn streams_poll_without_pinning() {
    let server = serve(|_| reply(200, "OK", r#"{"ContinuationToken":"","IsConsistent":true,"SubNames":["fabric:/a/b","fabric:/a/c"]}"#)).await;
    let client = Client::new(&server.url).expect("client");
    let mut names = client.sub_names("a", false);
    let mut seen = Vec::new();
    while let Some(name) = names.try_next().await.expect("name") {
        seen.push(name);
    }
    assert_eq!(seen, ["fabric:/a/b", "fabric:/a/c"]);
    let mut pages = client.sub_name_pages("a", false);
    let page = pages.try_next().await.expect("page").expect("one page");
    assert_eq!(page.continuation_token, None);
    assert!(pages.try_next().await.expect("end").is_none());
}

fn page(names: &[String], token: &str) -> String {
    serde_json::json!({"ContinuationToken": token, "IsConsistent": true, "SubNames": names})
        .to_string()
}

#[tokio::test]
async fn three_pages_are_followed_to_the_end() {
    let server = serve(|t| {
        let (names, token) = if !t.contains("ContinuationToken") {
            (
                vec!["fabric:/p/a".to_string(), "fabric:/p/b".into()],
                "fabric:/p/b$7",
            )
        } else if t.contains("ContinuationToken=fabric:/p/b$7&") {
            (vec!["fabric:/p/c".to_string()], "fabric:/p/c$7")
        } else if t.contains("ContinuationToken=fabric:/p/c$7&") {
            (vec!["fabric:/p/d".to_string()], "")
        } else {
            return reply(
                400,
                "E_INVALIDARG",
                r#"{"Error":{"Code":"E_INVALIDARG","Message":"Invalid argument"}}"#,
            );
        };
        reply(200, "OK", &page(&names, token))
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let names: Vec<String> = client
        .sub_names("fabric:/p", true)
        .try_collect()
        .await
        .expect("all pages");
    assert_eq!(
        names,
        ["fabric:/p/a", "fabric:/p/b", "fabric:/p/c", "fabric:/p/d"]
    );
    assert_eq!(server.requests().len(), 3);
    let pages: Vec<_> = client
        .sub_name_pages("p", true)
        .try_collect()
        .await
        .expect("pages");
    assert_eq!(
        pages
            .iter()
            .map(|p| p.continuation_token.clone())
            .collect::<Vec<_>>(),
        [
            Some("fabric:/p/b$7".into()),
            Some("fabric:/p/c$7".into()),
            None
        ]
    );
}

#[tokio::test]
async fn absent_token_ends_paging() {
    let server = serve(|_| {
        reply(
            200,
            "OK",
            r#"{"IsConsistent":false,"SubNames":["fabric:/x/y"]}"#,
        )
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let pages: Vec<_> = client
        .sub_name_pages("x", false)
        .try_collect()
        .await
        .expect("pages");
    assert_eq!(pages.len(), 1);
    assert!(!pages[0].is_consistent);
}

#[tokio::test]
async fn a_repeated_token_fails_instead_of_looping() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = serve(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        reply(
            200,
            "OK",
            &page(&["fabric:/loop/a".to_string()], "fabric:/loop/a$1"),
        )
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let err = client
        .sub_names("loop", false)
        .try_collect::<Vec<_>>()
        .await
        .expect_err("loop");
    assert!(
        matches!(&err, Error::RepeatedContinuationToken { token } if token == "fabric:/loop/a$1"),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A longer cycle (a -> b -> c -> a ...) is caught too.
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let server = serve(move |_| {
        let i = counter.fetch_add(1, Ordering::SeqCst);
        reply(
            200,
            "OK",
            &page(&[format!("fabric:/c/{i}")], &format!("t{}", i % 3)),
        )
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let err = client
        .sub_names("c", false)
        .try_collect::<Vec<_>>()
        .await
        .expect_err("cycle");
    assert!(
        matches!(err, Error::RepeatedContinuationToken { .. }),
        "{err:?}"
    );
    assert!(n.load(Ordering::SeqCst) < 20);
}

#[tokio::test]
async fn redirects_are_errors_naming_the_location_and_never_followed() {
    let elsewhere = serve(support::empty_answer).await;
    let location = format!("{}/ImageStore/$/CommitUploadSession", elsewhere.url);
    let answer = location.clone();
    let server = serve(move |_| Reply {
        raw: format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {answer}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes(),
        delay: Duration::ZERO,
        close: false,
        trickle: Duration::ZERO,
    })
    .await;
    let client = Client::new(&server.url).expect("client");
    let id = id();
    let err = client.commit_upload_session(id).await.expect_err("307");
    assert!(
        matches!(&err, Error::Redirect { status, location: Some(l), .. } if status.as_u16() == 307 && *l == location),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&location) && err.to_string().contains("not followed"),
        "{err}"
    );
    assert!(!err.is_transient());
    let err = client
        .upload_chunk(
            "a",
            id,
            servicefabric_rest::ChunkRange { start: 0, end: 3 },
            4,
            b"data".to_vec(),
        )
        .await
        .expect_err("307");
    assert!(matches!(err, Error::Redirect { .. }), "{err:?}");
    assert!(
        elsewhere.requests().is_empty(),
        "followed: {:?}",
        elsewhere.requests()
    );
}
