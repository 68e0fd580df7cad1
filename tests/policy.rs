//! The request policy, from outside: retries within their bounds, `Retry-After`, what is never
//! re-sent, several gateways, bounded bodies, and the spans users see.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::TryStreamExt;
use servicefabric_emulator::Emulator;
use servicefabric_rest::{Client, Error, ErrorCode, RetryPolicy};
use support::{Relay, Reply, reply, serve};

fn busy() -> Reply {
    reply(
        503,
        "E_ABORT",
        r#"{"Error":{"Code":"E_ABORT","Message":"Null"}}"#,
    )
}

fn busy_for(seconds: u64) -> Reply {
    let body = r#"{"Error":{"Code":"E_ABORT","Message":"Null"}}"#;
    Reply {
        raw: format!(
            "HTTP/1.1 503 E_ABORT\r\nRetry-After: {seconds}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        delay: Duration::ZERO,
        close: false,
        trickle: Duration::ZERO,
    }
}

fn empty_page() -> Reply {
    reply(
        200,
        "OK",
        r#"{"ContinuationToken":"","IsConsistent":true,"SubNames":[]}"#,
    )
}

/// Short waits, so the tests measure behaviour rather than sleep.
fn quick() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(40))
}

fn client(url: &str, policy: RetryPolicy) -> Client {
    Client::builder(url)
        .retry_policy(policy)
        .build()
        .expect("client")
}

/// A port nothing listens on.
async fn dead_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

#[tokio::test]
async fn a_503_storm_is_retried_within_the_policy_then_reported() {
    let stub = serve(|_| busy()).await;
    let started = Instant::now();
    let err = client(&stub.url, quick().max_retries(3))
        .sub_names_page("fabric:/a", false, None)
        .await
        .expect_err("always busy");
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, Error::Gateway { code: ErrorCode::Abort, status, .. } if status.as_u16() == 503),
        "{err}"
    );
    assert_eq!(stub.requests().len(), 4, "the first attempt and 3 retries");
    println!("503 storm: 4 attempts in {elapsed:?}");

    let once = serve(|_| busy()).await;
    let err = client(&once.url, RetryPolicy::none())
        .sub_names_page("fabric:/a", false, None)
        .await
        .expect_err("busy");
    assert!(err.is_transient(), "{err}");
    assert_eq!(once.requests().len(), 1, "RetryPolicy::none sends once");
}

#[tokio::test]
async fn a_gateway_that_recovers_is_invisible_to_reads() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let stub = serve(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            busy()
        } else {
            empty_page()
        }
    })
    .await;
    let page = client(&stub.url, quick())
        .sub_names_page("fabric:/a", false, None)
        .await
        .expect("third answer is a page");
    assert!(page.names.is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let stub = serve(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            busy_for(1)
        } else {
            empty_page()
        }
    })
    .await;
    let started = Instant::now();
    client(&stub.url, quick())
        .sub_names_page("fabric:/a", false, None)
        .await
        .expect("second answer is a page");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "the 10 ms backoff gave way to Retry-After: 1 ({waited:?})"
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_retry_after_past_the_total_cap_ends_the_call_at_once() {
    let stub = serve(|_| busy_for(3600)).await;
    let started = Instant::now();
    let err = client(&stub.url, quick().max_elapsed(Duration::from_secs(10)))
        .sub_names_page("fabric:/a", false, None)
        .await
        .expect_err("busy for an hour");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)), "{err}");
    assert_eq!(stub.requests().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hour-long sleep"
    );
}

#[tokio::test]
async fn creates_and_deletes_are_not_resent_once_they_reached_the_server() {
    let stub = serve(|_| busy()).await;
    let c = client(&stub.url, quick());
    let err = c.create_name("fabric:/x").await.expect_err("busy");
    assert!(err.is_transient(), "{err}");
    let err = c.delete_name("fabric:/x").await.expect_err("busy");
    assert!(err.is_transient(), "{err}");
    let methods: Vec<String> = stub
        .requests()
        .iter()
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(methods, ["POST", "DELETE"], "each sent exactly once");

    let timeout = serve(|_| Reply {
        delay: Duration::from_secs(5),
        ..busy()
    })
    .await;
    let slow = Client::builder(&timeout.url)
        .retry_policy(quick())
        .http_timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let err = slow.create_name("fabric:/x").await.expect_err("timeout");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert_eq!(
        timeout.requests().len(),
        1,
        "a timed-out create is not re-sent"
    );
}

#[tokio::test]
async fn an_unreachable_gateway_is_skipped_even_for_creates() {
    let emulator = Emulator::start().await.expect("emulator");
    let dead = dead_endpoint().await;
    let c = Client::builder(&dead)
        .endpoints([dead.as_str(), emulator.endpoint()])
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    c.create_name("fabric:/moved")
        .await
        .expect("the refused connection moved the create to the live gateway");
    assert!(c.name_exists("fabric:/moved").await.expect("exists"));
    assert_eq!(
        c.endpoint(),
        emulator.endpoint(),
        "calls stay on the live one"
    );
}

#[tokio::test]
async fn paging_survives_a_gateway_going_down() {
    let emulator = Emulator::builder()
        .page_max_names(10)
        .start()
        .await
        .expect("emulator");
    let names: Vec<String> = (0..50).map(|i| format!("fabric:/pages/n{i:02}")).collect();
    emulator.create_names(&names).expect("names");
    let node0 = Relay::start(emulator.local_addr()).await;
    let node1 = Relay::start(emulator.local_addr()).await;
    let c = Client::builder(&node0.url)
        .endpoints([node0.url.as_str(), node1.url.as_str()])
        .retry_policy(quick())
        .build()
        .expect("client");
    let mut pages = c.sub_name_pages("fabric:/pages", false);
    let mut seen = pages
        .try_next()
        .await
        .expect("first page")
        .expect("some")
        .names;
    assert_eq!(seen.len(), 10);
    node0.take_down();
    while let Some(page) = pages.try_next().await.expect("later pages via node1") {
        seen.extend(page.names);
    }
    assert_eq!(seen, names, "every name once, in order");
    assert_eq!(c.endpoint(), node1.url);
}

#[tokio::test]
async fn success_bodies_past_the_limit_are_typed_errors() {
    let names: Vec<String> = (0..20_000)
        .map(|i| format!("\"fabric:/n/{i:08}\""))
        .collect();
    let body = format!(
        r#"{{"ContinuationToken":"","IsConsistent":true,"SubNames":[{}]}}"#,
        names.join(",")
    );
    assert!(body.len() > 300_000);
    let sized = body.clone();
    let stub = serve(move |_| reply(200, "OK", &sized)).await;
    let limited = |url: &str| {
        Client::builder(url)
            .max_response_bytes(100_000)
            .build()
            .expect("client")
    };
    let err = limited(&stub.url)
        .sub_names_page("fabric:/n", false, None)
        .await
        .expect_err("too large");
    assert!(
        matches!(err, Error::BodyTooLarge { limit: 100_000, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("fabric:/n"),
        "names the call: {err}"
    );

    // Without a Content-Length (chunked), reading stops at the limit too.
    let chunked = body.clone();
    let stub = serve(move |_| Reply {
        raw: format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunked}\r\n0\r\n\r\n",
            chunked.len()
        )
        .into_bytes(),
        delay: Duration::ZERO,
        close: false,
        trickle: Duration::ZERO,
    })
    .await;
    let err = limited(&stub.url)
        .sub_names_page("fabric:/n", false, None)
        .await
        .expect_err("too large");
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err}");

    let page = Client::new(&stub.url)
        .expect("client")
        .sub_names_page("fabric:/n", false, None)
        .await
        .expect("the default limit takes it");
    assert_eq!(page.names.len(), 20_000);
}

#[tokio::test]
async fn spans_show_operation_endpoint_attempt_and_status() {
    // A process-wide subscriber: a scoped one (`set_default`) races with the other tests of
    // this binary over tracing's per-callsite cache. Lines are picked by this test's endpoint.
    let captured = support::logs::Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let stub = serve(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            busy()
        } else {
            empty_page()
        }
    })
    .await;
    client(&stub.url, quick())
        .sub_names_page("fabric:/a", false, None)
        .await
        .expect("page");
    let all = captured.text();
    let text: String = all
        .lines()
        .filter(|line| line.contains(&stub.url))
        .map(|line| format!("{line}\n"))
        .collect();
    for expected in [
        "servicefabric_request",
        "operation=\"GetSubNameInfoList\"",
        &format!("endpoint={}", stub.url),
        "attempt=1",
        "status=503",
        "attempt=2",
        "status=200",
        "retrying GetSubNameInfoList",
        "elapsed_ms=",
        "bytes=",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}
