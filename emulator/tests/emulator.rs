//! The client against the embedded emulator (both sides over real HTTP), and the emulator's
//! gateway semantics checked on the raw wire.

use std::{collections::BTreeSet, time::Duration};

use futures::TryStreamExt;
use servicefabric_emulator::Emulator;
use servicefabric_rest::{ChunkRange, Client, Error, ErrorCode, reqwest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const SEED_ID: &str = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b";

async fn seeded() -> (Emulator, Client) {
    let emulator = Emulator::start_seeded().await.expect("emulator");
    let client = Client::new(emulator.endpoint()).expect("client");
    (emulator, client)
}

/// Sends raw bytes and returns the raw answer (status line, headers, body).
async fn raw(emulator: &Emulator, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(emulator.local_addr())
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).to_string()
}

async fn get(emulator: &Emulator, target: &str) -> String {
    raw(
        emulator,
        &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[tokio::test]
async fn seeded_names_in_ordinal_order_with_implicit_parents() {
    let (_e, client) = seeded().await;
    let direct: Vec<String> = client
        .sub_names("fabric:/samples", false)
        .try_collect()
        .await
        .expect("direct");
    assert_eq!(
        direct,
        [
            "fabric:/samples/CalculatorApp",
            "fabric:/samples/apps",
            "fabric:/samples/data",
            "fabric:/samples/mynames"
        ]
    );
    let all: Vec<String> = client
        .sub_names("samples", true)
        .try_collect()
        .await
        .expect("recursive");
    assert_eq!(all.len(), 11, "7 seed names and 4 implicit parents");
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "ordinal order");
    assert!(
        all.contains(&"fabric:/samples/CalculatorApp/CalculatorService".to_string()),
        "implicit parent"
    );
    let err = client
        .sub_names_page("fabric:/nope", false, None)
        .await
        .expect_err("missing");
    assert!(
        matches!(&err, Error::Gateway { code: ErrorCode::NameDoesNotExist, status, .. } if status.as_u16() == 404),
        "{err:?}"
    );
}

#[tokio::test]
async fn seeded_sessions_and_204() {
    let (_e, client) = seeded().await;
    let by_id = client
        .upload_sessions_by_id(SEED_ID.parse().expect("uuid"))
        .await
        .expect("by id");
    assert_eq!(by_id.len(), 1);
    assert_eq!(
        by_id[0].expected_ranges,
        [
            ChunkRange {
                start: 0,
                end: 402_128
            },
            ChunkRange {
                start: 730_105,
                end: 2_097_151
            }
        ]
    );
    let by_path = client
        .upload_sessions_by_path("SwaggerTest\\Common.dll")
        .await
        .expect("by path");
    assert_eq!(by_path.len(), 3);
    assert!(
        client
            .upload_sessions_by_id(Uuid::new_v4())
            .await
            .expect("none")
            .is_empty()
    );
    assert!(
        client
            .upload_sessions_by_path("swaggertest\\common.dll")
            .await
            .expect("case-sensitive")
            .is_empty()
    );
}

#[tokio::test]
async fn wire_format_of_answers() {
    let (e, _client) = seeded().await;
    let answer = get(&e, "/Names/samples/$/GetSubNames?api-version=6.0").await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 200"), "{answer}");
    assert!(body(&answer).starts_with(r#"{"ContinuationToken":"","IsConsistent":true,"SubNames":["fabric:\/samples\/CalculatorApp""#), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json; charset=utf-8")
    );

    let answer = get(
        &e,
        &format!("/ImageStore/$/GetUploadSession?api-version=6.0&session-id={SEED_ID}"),
    )
    .await;
    assert!(body(&answer).contains(r#""FileSize":"2097152","ModifiedDate":"2017-09-28T17:06:37.26Z","ExpectedRanges":[{"StartPosition":"0","EndPosition":"402128"}"#), "{answer}");

    let answer = get(
        &e,
        &format!(
            "/ImageStore/$/GetUploadSession?api-version=6.0&session-id={}",
            Uuid::new_v4()
        ),
    )
    .await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 204"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json; charset=utf-8"),
        "even when empty"
    );
    assert_eq!(body(&answer), "");

    let answer = get(&e, "/Names/nope/$/GetSubNames?api-version=6.0").await;
    assert_eq!(
        status_line(&answer),
        "HTTP/1.1 404 FABRIC_E_NAME_DOES_NOT_EXIST"
    );
    assert_eq!(
        body(&answer),
        r#"{"Error":{"Code":"FABRIC_E_NAME_DOES_NOT_EXIST","Message":"Name does not exist."}}"#
    );

    let answer = get(&e, "/Names/nope?api-version=6.0").await;
    assert!(status_line(&answer).starts_with("HTTP/1.1 404"), "{answer}");
    assert_eq!(body(&answer), "", "GetNameExistsInfo: 404 with no body");
}

#[tokio::test]
async fn query_and_routing_rules() {
    let (e, _client) = seeded().await;
    let code = |answer: &str| {
        status_line(answer)
            .split(' ')
            .nth(2)
            .unwrap_or_default()
            .to_string()
    };
    for bad in [
        "",
        "?api-version=",
        "?api-version=six",
        "?api-version=9.2",
        "?api-version=10.0",
        "?Api-Version=6.0",
    ] {
        let answer = get(&e, &format!("/Names/samples/$/GetSubNames{bad}")).await;
        assert_eq!(code(&answer), "E_INVALIDARG", "{bad}: {answer}");
    }
    assert!(
        status_line(&get(&e, "/Names/samples/$/GetSubNames?api-version=9.1").await).contains("200")
    );
    assert!(
        status_line(&get(&e, "/Names/samples/$/GetSubNames?api-version=1.0").await).contains("200")
    );
    // First of a repeated name wins; `Recursive` compares case-insensitively; names are case-sensitive.
    let recursive = body(
        &get(
            &e,
            "/Names/samples/$/GetSubNames?api-version=6.0&Recursive=TRUE&Recursive=false",
        )
        .await,
    )
    .to_string();
    assert!(recursive.contains("Name-1"), "{recursive}");
    let lower = body(
        &get(
            &e,
            "/Names/samples/$/GetSubNames?api-version=6.0&recursive=true",
        )
        .await,
    )
    .to_string();
    assert!(!lower.contains("Name-1"), "{lower}");
    // `~` reads as `/` in a name.
    assert!(
        body(&get(&e, "/Names/samples~apps/$/GetSubNames?api-version=6.0").await)
            .contains("NotepadApp")
    );
    // An upload session's path is matched as received: the seeded sessions are under
    // `SwaggerTest\Common.dll`, and `SwaggerTest/Common.dll` (raw `/`, `%2F`, or a trailing
    // `/` that the route drops) is another path, with no session.
    for (path, status) in [
        ("SwaggerTest%5CCommon.dll", "200"),
        ("SwaggerTest/Common.dll", "204"),
        ("SwaggerTest%2FCommon.dll", "204"),
        ("SwaggerTest/Common.dll/", "204"),
    ] {
        let answer = get(
            &e,
            &format!("/ImageStore/{path}/$/GetUploadSession?api-version=6.0"),
        )
        .await;
        assert!(status_line(&answer).contains(status), "{path}: {answer}");
    }
    // Query values are not decoded: an encoded GUID fails.
    let answer = get(&e, "/ImageStore/$/GetUploadSession?api-version=6.0&session-id=4a2340e8%2Dd8d8-497c-95fe-cdaa1052f33b").await;
    assert_eq!(code(&answer), "FABRIC_E_INVALID_UPLOAD_SESSION_ID");
    assert_eq!(
        code(&get(&e, "/ImageStore/$/GetUploadSession?api-version=6.0").await),
        "FABRIC_E_INVALID_UPLOAD_SESSION_ID"
    );
    // Literal segments are case-sensitive.
    assert_eq!(
        code(&get(&e, "/names/samples/$/GetSubNames?api-version=6.0").await),
        "E_INVALIDARG"
    );
    assert_eq!(
        code(&get(&e, "/Names/samples/$/getsubnames?api-version=6.0").await),
        "E_INVALIDARG"
    );
    // Tokens: malformed 400, over 4096 characters 413.
    assert_eq!(
        code(
            &get(
                &e,
                "/Names/samples/$/GetSubNames?api-version=6.0&ContinuationToken=nonsense"
            )
            .await
        ),
        "E_INVALIDARG"
    );
    let long = "x".repeat(5000);
    assert_eq!(
        code(
            &get(
                &e,
                &format!("/Names/samples/$/GetSubNames?api-version=6.0&ContinuationToken={long}")
            )
            .await
        ),
        "FABRIC_E_VALUE_TOO_LARGE"
    );
}

#[tokio::test]
async fn names_lifecycle_through_the_client() {
    let e = Emulator::start().await.expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    client
        .create_name("fabric:/t/a/b")
        .await
        .expect("create with parents");
    assert!(client.name_exists("t/a").await.expect("exists"));
    assert!(
        !client
            .name_exists("t/zz")
            .await
            .expect("bodiless 404 is false")
    );
    let err = client.create_name("t/a/b").await.expect_err("exists");
    assert_eq!(err.code(), Some(&ErrorCode::NameAlreadyExists));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409));
    let err = client.delete_name("t/a").await.expect_err("not empty");
    assert_eq!(err.code(), Some(&ErrorCode::NameNotEmpty));
    client.delete_name("t/a/b").await.expect("delete leaf");
    client.delete_name("t/a").await.expect("delete parent");
    assert!(!client.name_exists("t/a").await.expect("gone"));
    // Names with characters that need escaping survive the round trip.
    for name in [
        "fabric:/t/with space",
        "fabric:/t/é#?%&=",
        "fabric:/t/back\\slash",
    ] {
        client.create_name(name).await.expect(name);
        assert!(client.name_exists(name).await.expect(name), "{name}");
    }
    let listed: Vec<String> = client
        .sub_names("t", false)
        .try_collect()
        .await
        .expect("list");
    assert_eq!(
        listed,
        [
            "fabric:/t/back\\slash",
            "fabric:/t/with space",
            "fabric:/t/é#?%&="
        ]
    );
}

#[tokio::test]
async fn paging_sees_every_stable_name_exactly_once_while_names_change() {
    let e = Emulator::builder()
        .page_bytes(2_000)
        .start()
        .await
        .expect("emulator");
    let stable: Vec<String> = (0..2_000)
        .map(|i| format!("fabric:/churn/s{i:05}"))
        .collect();
    e.create_names(&stable).expect("seed");
    e.create_names((0..500).map(|i| format!("fabric:/churn/v{i:05}")))
        .expect("volatile");
    let client = Client::new(e.endpoint()).expect("client");
    let writer = client.clone();
    let churn = tokio::spawn(async move {
        for i in 0..300 {
            let _ = writer.delete_name(&format!("churn/v{i:05}")).await;
            let _ = writer.create_name(&format!("churn/n{i:05}")).await;
        }
    });
    let mut pages = Box::pin(client.sub_name_pages("churn", false));
    let mut seen = Vec::new();
    let mut consistent = Vec::new();
    while let Some(page) = pages.try_next().await.expect("page") {
        consistent.push(page.is_consistent);
        seen.extend(page.names);
    }
    churn.await.expect("churn");
    assert!(consistent.len() > 5, "several pages: {}", consistent.len());
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no name twice");
    assert!(
        stable.iter().all(|s| unique.contains(s)),
        "every stable name seen"
    );
    // Once inconsistent, later pages stay inconsistent.
    if let Some(first_false) = consistent.iter().position(|c| !c) {
        assert!(
            consistent[first_false..].iter().all(|c| !c),
            "{consistent:?}"
        );
    }
}

#[tokio::test]
async fn upload_lifecycle_with_resume_and_commit() {
    let e = Emulator::start().await.expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let id = Uuid::new_v4();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let part = |s: u64, end: u64| data[s as usize..=end as usize].to_vec();
    let path = "apps\\demo\\pkg.zip";
    client
        .upload_chunk(
            path,
            id,
            ChunkRange {
                start: 4_000,
                end: 5_999,
            },
            10_000,
            part(4_000, 5_999),
        )
        .await
        .expect("middle first");
    let session = &client.upload_sessions_by_id(id).await.expect("session")[0];
    assert_eq!(
        session.expected_ranges,
        [
            ChunkRange {
                start: 0,
                end: 3_999
            },
            ChunkRange {
                start: 6_000,
                end: 9_999
            }
        ]
    );
    assert_eq!(session.missing_bytes(), 8_000);
    let err = client
        .upload_chunk(
            path,
            id,
            ChunkRange {
                start: 5_000,
                end: 6_999,
            },
            10_000,
            part(5_000, 6_999),
        )
        .await
        .expect_err("overlap");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    let err = client
        .upload_chunk(
            "elsewhere",
            id,
            ChunkRange { start: 0, end: 9 },
            10_000,
            part(0, 9),
        )
        .await
        .expect_err("conflict");
    assert_eq!(err.code(), Some(&ErrorCode::UploadSessionIdConflict));
    let err = client
        .commit_upload_session(id)
        .await
        .expect_err("incomplete");
    assert_eq!(err.code(), Some(&ErrorCode::InvalidArg));
    // Resume: send exactly what the session says is missing.
    for r in session.expected_ranges.clone() {
        client
            .upload_chunk(path, id, r, 10_000, part(r.start, r.end))
            .await
            .expect("missing range");
    }
    assert!(client.upload_sessions_by_id(id).await.expect("complete")[0].is_complete());
    client.commit_upload_session(id).await.expect("commit");
    client
        .commit_upload_session(id)
        .await
        .expect("commit again is 200");
    let stored = std::fs::read(e.data_dir().join("store/apps/demo/pkg.zip"))
        .expect("committed file on disk");
    assert_eq!(stored, data);
    // The runtime keeps a committed session listed, complete, until it is deleted or expires.
    let kept = client
        .upload_sessions_by_id(id)
        .await
        .expect("after commit");
    assert!(kept.len() == 1 && kept[0].is_complete(), "{kept:?}");
    assert!(kept[0].expected_ranges.is_empty());
    assert_eq!(
        client
            .upload_sessions_by_path(path)
            .await
            .expect("by path")
            .len(),
        1
    );
    client.delete_upload_session(id).await.expect("delete");
    assert!(
        client
            .upload_sessions_by_id(id)
            .await
            .expect("gone")
            .is_empty()
    );
    assert_eq!(
        std::fs::read(e.data_dir().join("store/apps/demo/pkg.zip")).expect("still stored"),
        data
    );

    let other = Uuid::new_v4();
    client
        .upload_chunk("x", other, ChunkRange { start: 0, end: 0 }, 5, vec![1u8])
        .await
        .expect("chunk");
    client.delete_upload_session(other).await.expect("delete");
    assert!(
        client
            .upload_sessions_by_path("x")
            .await
            .expect("deleted")
            .is_empty()
    );
}

#[tokio::test]
async fn chunk_bodies_must_match_their_range() {
    let e = Emulator::start().await.expect("emulator");
    let http = reqwest::Client::new();
    let id = Uuid::new_v4();
    let url = format!(
        "{}/ImageStore/f/$/UploadChunk?api-version=6.0&session-id={id}",
        e.endpoint()
    );
    for (range, body) in [
        ("bytes 0-9/10", vec![0u8; 5]),
        ("bytes 0-4/10", vec![0u8; 9]),
        ("bytes 0-9/9", vec![0u8; 10]),
    ] {
        let r = http
            .put(&url)
            .header("Content-Range", range)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 400, "{range}");
    }
    let client = Client::new(e.endpoint()).expect("client");
    assert!(
        client
            .upload_sessions_by_id(id)
            .await
            .expect("none")
            .is_empty(),
        "a refused first chunk creates nothing"
    );
}

#[tokio::test]
async fn a_restart_with_the_same_data_dir_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = Uuid::new_v4();
    let committed = Uuid::new_v4();
    {
        let e = Emulator::builder()
            .data_dir(dir.path())
            .start()
            .await
            .expect("emulator");
        let client = Client::new(e.endpoint()).expect("client");
        client.create_name("fabric:/kept/name").await.expect("name");
        client
            .upload_chunk(
                "open.bin",
                id,
                ChunkRange { start: 0, end: 99 },
                200,
                vec![7u8; 100],
            )
            .await
            .expect("chunk");
        client
            .upload_chunk(
                "done.bin",
                committed,
                ChunkRange { start: 0, end: 2 },
                3,
                b"abc".to_vec(),
            )
            .await
            .expect("chunk");
        client
            .commit_upload_session(committed)
            .await
            .expect("commit");
        e.shutdown().await;
    }
    let e = Emulator::builder()
        .data_dir(dir.path())
        .start()
        .await
        .expect("restart");
    let client = Client::new(e.endpoint()).expect("client");
    assert!(client.name_exists("kept/name").await.expect("exists"));
    let session = &client.upload_sessions_by_id(id).await.expect("session")[0];
    assert_eq!(
        session.expected_ranges,
        [ChunkRange {
            start: 100,
            end: 199
        }]
    );
    client
        .upload_chunk(
            "open.bin",
            id,
            ChunkRange {
                start: 100,
                end: 199,
            },
            200,
            vec![8u8; 100],
        )
        .await
        .expect("resume after restart");
    client.commit_upload_session(id).await.expect("commit");
    assert_eq!(
        std::fs::read(dir.path().join("store/done.bin")).expect("file"),
        b"abc"
    );
    let open = std::fs::read(dir.path().join("store/open.bin")).expect("file");
    assert_eq!((open[0], open[199], open.len()), (7, 8, 200));
}

#[tokio::test]
async fn idle_sessions_expire() {
    let e = Emulator::builder()
        .session_ttl(Duration::from_millis(200))
        .start()
        .await
        .expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let id = Uuid::new_v4();
    client
        .upload_chunk("f", id, ChunkRange { start: 0, end: 0 }, 2, vec![1u8])
        .await
        .expect("chunk");
    assert_eq!(
        client.upload_sessions_by_id(id).await.expect("live").len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        client
            .upload_sessions_by_id(id)
            .await
            .expect("expired")
            .is_empty()
    );
}

#[tokio::test]
async fn hostile_requests_get_answers_and_the_server_keeps_serving() {
    let (e, client) = seeded().await;
    let huge_header = format!(
        "GET /Names/samples/$/GetSubNames?api-version=6.0 HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let requests = [
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "GET /$/$/$ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "GET /Names/%FF%FE/$/GetSubNames?api-version=6.0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "PATCH /Names/samples?api-version=6.0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "POST /Names/$/Create?api-version=6.0 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{bad}".to_string(),
        "PUT /ImageStore/f/$/UploadChunk?api-version=6.0&session-id=4a2340e8-d8d8-497c-95fe-cdaa1052f33c HTTP/1.1\r\nHost: x\r\nContent-Range: bytes 18446744073709551614-18446744073709551615/18446744073709551615\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
        "GET /ImageStore/../../etc/passwd/$/GetUploadSession?api-version=6.0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        huge_header,
        "garbage\r\n\r\n".to_string(),
    ];
    for request in &requests {
        let answer = raw(&e, request).await;
        let status = status_line(&answer);
        assert!(
            status.is_empty()
                || status.starts_with("HTTP/1.1 4")
                || status.starts_with("HTTP/1.1 2"),
            "{status} for {:.80}",
            request
        );
    }
    let big_create = format!("{{\"Name\":\"fabric:/{}\"}}", "a".repeat(100_000));
    let r = reqwest::Client::new()
        .post(format!("{}/Names/$/Create?api-version=6.0", e.endpoint()))
        .body(big_create)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);
    // Still serving.
    assert!(client.name_exists("samples").await.expect("alive"));
}

#[tokio::test]
async fn a_slow_chunk_does_not_block_others_and_an_abandoned_one_frees_its_range() {
    let e = Emulator::start().await.expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let id = Uuid::new_v4();
    let url = format!(
        "{}/ImageStore/slow.bin/$/UploadChunk?api-version=6.0&session-id={id}",
        e.endpoint()
    );
    // 1,000 bytes sent as 10 pieces, 100 ms apart.
    let slow_body = || {
        reqwest::Body::wrap_stream(futures::stream::unfold(0u8, |i| async move {
            if i == 10 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::io::Error>(vec![i; 100]), i + 1))
        }))
    };
    let http = reqwest::Client::new();
    let slow = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.put(&url)
                .header("Content-Range", "bytes 0-999/2000")
                .body(slow_body())
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Meanwhile: other calls answer at once, and the reserved range cannot be sent twice.
    let started = std::time::Instant::now();
    assert!(
        client
            .upload_sessions_by_id(Uuid::new_v4())
            .await
            .expect("by id")
            .is_empty()
    );
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "not blocked by the slow chunk: {:?}",
        started.elapsed()
    );
    let err = client
        .upload_chunk(
            "slow.bin",
            id,
            ChunkRange {
                start: 500,
                end: 1_499,
            },
            2_000,
            vec![0u8; 1_000],
        )
        .await
        .expect_err("overlaps the chunk in flight");
    assert_eq!(
        err.code(),
        Some(&ErrorCode::UploadSessionRangeNotSatisfiable)
    );
    client
        .upload_chunk(
            "slow.bin",
            id,
            ChunkRange {
                start: 1_000,
                end: 1_999,
            },
            2_000,
            vec![9u8; 1_000],
        )
        .await
        .expect("the other half goes in parallel");
    assert_eq!(slow.await.expect("join").expect("slow chunk"), 200);
    let session = &client.upload_sessions_by_id(id).await.expect("session")[0];
    assert!(session.is_complete(), "{session:?}");

    // A client that gives up mid-body leaves the range free for a retry.
    let other = Uuid::new_v4();
    let url = format!(
        "{}/ImageStore/cut.bin/$/UploadChunk?api-version=6.0&session-id={other}",
        e.endpoint()
    );
    let abandoned = tokio::time::timeout(
        Duration::from_millis(250),
        http.put(&url)
            .header("Content-Range", "bytes 0-999/1000")
            .body(slow_body())
            .send(),
    )
    .await;
    assert!(abandoned.is_err(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(100)).await;
    client
        .upload_chunk(
            "cut.bin",
            other,
            ChunkRange { start: 0, end: 999 },
            1_000,
            vec![1u8; 1_000],
        )
        .await
        .expect("range free again");
    client.commit_upload_session(other).await.expect("commit");
    assert_eq!(
        std::fs::read(e.data_dir().join("store/cut.bin")).expect("stored"),
        vec![1u8; 1_000]
    );
}

/// The `Message` of a FabricError answer.
fn message(answer: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body(answer)).unwrap_or_default();
    value["Error"]["Message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn error_code(answer: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body(answer)).unwrap_or_default();
    value["Error"]["Code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn committed_sessions_stay_listed_until_they_expire() {
    let e = Emulator::builder()
        .session_ttl(Duration::from_millis(300))
        .start()
        .await
        .expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let id = Uuid::new_v4();
    client
        .upload_chunk(
            "kept\\f.bin",
            id,
            ChunkRange { start: 0, end: 1 },
            2,
            vec![7u8, 8],
        )
        .await
        .expect("chunk");
    client.commit_upload_session(id).await.expect("commit");
    for found in [
        client.upload_sessions_by_id(id).await.expect("by id"),
        client
            .upload_sessions_by_path("kept\\f.bin")
            .await
            .expect("by path"),
    ] {
        assert!(
            found.len() == 1 && found[0].expected_ranges.is_empty(),
            "{found:?}"
        );
    }
    client
        .commit_upload_session(id)
        .await
        .expect("a second commit answers 200");
    assert_eq!(
        std::fs::read(e.data_dir().join("store/kept/f.bin")).expect("stored"),
        [7, 8]
    );
    // Listing does not refresh a session: it expires after its last chunk, committed or not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        client
            .upload_sessions_by_id(id)
            .await
            .expect("read")
            .is_empty()
    );
    let gone = client.commit_upload_session(id).await.expect_err("expired");
    assert_eq!(gone.code(), Some(&ErrorCode::InvalidArg));
    assert!(
        e.data_dir().join("store/kept/f.bin").is_file(),
        "the file stays"
    );
}

#[tokio::test]
async fn a_chunk_naming_another_total_gets_e_invalidarg() {
    let e = Emulator::start().await.expect("emulator");
    let client = Client::new(e.endpoint()).expect("client");
    let id = Uuid::new_v4();
    client
        .upload_chunk("t.bin", id, ChunkRange { start: 0, end: 0 }, 4, vec![1u8])
        .await
        .expect("first chunk");
    let put = |range: &str| {
        format!(
            "PUT /ImageStore/t.bin/$/UploadChunk?api-version=6.0&session-id={id} HTTP/1.1\r\n\
             Host: x\r\nContent-Range: {range}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
        )
    };
    // Another total, even with a range the other checks would refuse: the total comes first.
    for range in ["bytes 1-1/5", "bytes 9-9/5"] {
        let answer = raw(&e, &put(range)).await;
        assert!(status_line(&answer).contains("400"), "{answer}");
        assert_eq!(error_code(&answer), "E_INVALIDARG", "{range}: {answer}");
    }
    // The same total with a bad range: the range error, whose message is `Null`.
    let answer = raw(&e, &put("bytes 9-9/4")).await;
    assert_eq!(
        error_code(&answer),
        "FABRIC_E_UPLOAD_SESSION_RANGE_NOT_SATISFIABLE"
    );
    assert_eq!(message(&answer), "Null");
}

#[tokio::test]
async fn refusals_carry_the_runtimes_messages() {
    let (e, client) = seeded().await;
    let create = |name: &str| {
        let body = format!("{{\"Name\":\"{name}\"}}");
        format!(
            "POST /Names/$/Create?api-version=6.0 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let cases = [
        (
            raw(&e, &create("fabric:/samples/apps")).await,
            "409",
            "FABRIC_E_NAME_ALREADY_EXISTS",
            "Name already exists.",
        ),
        (
            raw(
                &e,
                "DELETE /Names/samples?api-version=6.0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await,
            "409",
            "FABRIC_E_NAME_NOT_EMPTY",
            "Name not empty.",
        ),
        (
            raw(&e, &create("fabric:/a$b")).await,
            "400",
            "FABRIC_E_INVALID_NAME_URI",
            "Invalid name URI.",
        ),
        (
            get(&e, "/Names/nope/$/GetSubNames?api-version=6.0").await,
            "404",
            "FABRIC_E_NAME_DOES_NOT_EXIST",
            "Name does not exist.",
        ),
        (
            get(&e, "/ImageStore/$/GetUploadSession?api-version=6.0&session-id=x").await,
            "400",
            "FABRIC_E_INVALID_UPLOAD_SESSION_ID",
            "The upload session identity is invalid.",
        ),
        (
            get(&e, "/Names/samples/$/GetSubNames").await,
            "400",
            "E_INVALIDARG",
            "Invalid argument",
        ),
        (
            get(&e, "/Names/samples/$/GetSubNames?api-version=6.0&Recursive=yes").await,
            "400",
            "E_INVALIDARG",
            "The parameter Recursive has invalid value 'yes'. Expected true/false.",
        ),
    ];
    for (answer, status, code, text) in cases {
        assert!(status_line(&answer).contains(status), "{answer}");
        assert_eq!(error_code(&answer), code, "{answer}");
        assert_eq!(message(&answer), text, "{answer}");
    }
    // `Recursive` compares case-insensitively, and `False` lists only children.
    let children = get(
        &e,
        "/Names/samples/$/GetSubNames?api-version=6.0&Recursive=False",
    )
    .await;
    assert!(status_line(&children).contains("200"), "{children}");
    assert!(!body(&children).contains("NotepadApp"), "{children}");
    // The client sees the same texts.
    let exists = client
        .create_name("fabric:/samples/apps")
        .await
        .expect_err("exists");
    assert!(
        exists.to_string().contains("Name already exists."),
        "{exists}"
    );
}

#[tokio::test]
async fn an_operation_the_emulator_lacks_says_so() {
    let e = Emulator::start().await.expect("emulator");
    let answer = get(&e, "/Applications/$/GetApplicationInfoList?api-version=6.0").await;
    assert!(status_line(&answer).contains("400"), "{answer}");
    assert_eq!(error_code(&answer), "E_INVALIDARG");
    let text = message(&answer);
    assert!(
        text.contains("GET /Applications/$/GetApplicationInfoList")
            && text.contains("not implemented by the emulator"),
        "{text}"
    );
    // A known route with a bad argument keeps the runtime's plain text.
    let bad = get(&e, "/Names/samples/$/GetSubNames?api-version=99.0").await;
    assert_eq!(message(&bad), "Invalid argument");
}
