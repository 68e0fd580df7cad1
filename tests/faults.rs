//! The fault matrix: the client against the emulator's fault plan, and against small hostile
//! servers. Every cell ends in a success or a typed error: no panic, no hang (each call runs
//! under a generous guard that fails the test if it ever fires), no silent wrong answer.

mod support;

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, TryStreamExt};
use servicefabric_emulator::{Emulator, FaultPlan, Faults};
use servicefabric_rest::{Client, Error, RetryPolicy, Uuid};
use support::{
    Reply,
    matrix::{self, guarded, patient},
    raw_reply, reply, serve,
};

/// Names and paging under one fault plan: what succeeded is exactly what the emulator holds.
/// (The file upload of the same matrix runs in servicefabric-deploy's tests/faults.rs.)
async fn workload_under(plan: FaultPlan) {
    let emulator = Emulator::builder()
        .page_max_names(4)
        .faults(plan.clone())
        .start()
        .await
        .expect("emulator");
    let client = patient(emulator.endpoint());
    let mut created = BTreeSet::new();
    for i in 0..24 {
        let name = format!("fabric:/matrix/n{i:02}");
        match guarded("create", client.create_name(&name)).await {
            Ok(()) => {
                created.insert(name);
            }
            // Not re-sent once it reached the server; the plan's faults are never acted on.
            Err(e) => assert!(e.is_transient(), "{plan}: {e}"),
        }
    }
    let listed: BTreeSet<String> = guarded(
        "paging",
        client.sub_names("fabric:/matrix", false).try_collect(),
    )
    .await
    .unwrap_or_else(|e| panic!("{plan}: paging failed: {e}"));
    assert_eq!(
        listed, created,
        "{plan}: every acknowledged name, nothing else"
    );
}

#[tokio::test]
async fn the_client_holds_up_under_every_fault_of_the_plan() {
    for plan in matrix::plans() {
        workload_under(plan).await;
    }
}

#[tokio::test]
async fn a_seeded_plan_repeats() {
    async fn outcomes(seed: u64) -> Vec<bool> {
        let plan = FaultPlan::new(seed).every_operation(Faults {
            busy: 0.5,
            ..Faults::default()
        });
        let emulator = Emulator::builder().faults(plan).start().await.expect("e");
        let client = Client::builder(emulator.endpoint())
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("client");
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(client.name_exists("fabric:/x").await.is_ok());
        }
        seen
    }
    let first = outcomes(77).await;
    assert_eq!(first, outcomes(77).await);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}

/// A hostile server: how it answers every request.
struct Hostile {
    name: &'static str,
    answer: fn(usize) -> Reply,
}

fn fabric_busy() -> Reply {
    reply(
        503,
        "E_ABORT",
        r#"{"Error":{"Code":"E_ABORT","Message":"Null"}}"#,
    )
}

const HOSTILE: &[Hostile] = &[
    Hostile {
        name: "HTML 502 from a proxy",
        answer: |_| support::reply_typed(502, "Bad Gateway", "text/html", "<html>502</html>"),
    },
    Hostile {
        name: "empty 200",
        answer: |_| reply(200, "OK", ""),
    },
    Hostile {
        name: "empty 500",
        answer: |_| reply(500, "Internal Server Error", ""),
    },
    Hostile {
        name: "truncated body",
        answer: |_| Reply {
            close: true,
            ..raw_reply(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"SubNames\":[\"fabric:/a",
            )
        },
    },
    Hostile {
        name: "trickling body",
        answer: |_| Reply {
            trickle: Duration::from_millis(50),
            ..reply(
                200,
                "OK",
                r#"{"ContinuationToken":"","IsConsistent":true,"SubNames":[]}"#,
            )
        },
    },
    Hostile {
        name: "redirect",
        answer: |_| {
            raw_reply(
                "HTTP/1.1 302 Found\r\nLocation: http://elsewhere.invalid/\r\nContent-Length: 0\r\n\r\n",
            )
        },
    },
    Hostile {
        name: "503 storm",
        answer: |_| fabric_busy(),
    },
    Hostile {
        name: "reset before answering",
        answer: |_| Reply {
            close: true,
            ..raw_reply("")
        },
    },
    Hostile {
        name: "garbage status line",
        answer: |_| Reply {
            close: true,
            ..raw_reply("SPDY/9 lol\r\n\r\n")
        },
    },
    Hostile {
        name: "endless fresh tokens, no names",
        answer: |n| {
            reply(
                200,
                "OK",
                &format!(r#"{{"ContinuationToken":"t{n}","IsConsistent":true,"SubNames":[]}}"#),
            )
        },
    },
    Hostile {
        name: "wrong JSON types",
        answer: |_| {
            reply(
                200,
                "OK",
                r#"{"UploadSessions":[{"FileSize":7,"ExpectedRanges":"all"}],"SubNames":{"a":1}}"#,
            )
        },
    },
];

#[tokio::test]
async fn hostile_servers_get_typed_errors_and_never_a_hang() {
    for hostile in HOSTILE {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let answer = hostile.answer;
        let stub = serve(move |_| answer(seen.fetch_add(1, Ordering::SeqCst))).await;
        let client = Client::builder(&stub.url)
            .retry_policy(
                RetryPolicy::default()
                    .initial_backoff(Duration::from_millis(1))
                    .max_backoff(Duration::from_millis(5)),
            )
            .http_timeout(Duration::from_millis(800))
            .build()
            .expect("client");
        let name = hostile.name;
        let id = Uuid::new_v4();

        let page = guarded(name, client.sub_names_page("fabric:/a", false, None)).await;
        let all: Result<Vec<String>, Error> =
            guarded(name, client.sub_names("fabric:/a", true).try_collect()).await;
        let sessions = guarded(name, client.upload_sessions_by_id(id)).await;
        let exists = guarded(name, client.name_exists("fabric:/a")).await;
        let create = guarded(name, client.create_name("fabric:/a")).await;
        let commit = guarded(name, client.commit_upload_session(id)).await;

        // Nothing here is a valid answer to a listing: each must be an error, and typed.
        match name {
            "trickling body" => {
                assert!(matches!(page, Err(Error::Timeout(_))), "{name}: {page:?}")
            }
            "redirect" => assert!(matches!(page, Err(Error::Redirect { .. })), "{name}"),
            "endless fresh tokens, no names" => {
                assert!(page.is_ok(), "one page alone is fine");
                assert!(matches!(all, Err(Error::Decode { .. })), "{name}: {all:?}");
            }
            "503 storm" => assert!(
                page.as_ref().is_err_and(Error::is_transient),
                "{name}: {page:?}"
            ),
            _ => assert!(page.is_err(), "{name}: {page:?}"),
        }
        if name != "endless fresh tokens, no names" {
            assert!(all.is_err(), "{name}: {all:?}");
        }
        // An empty 200 is the gateway's "no session"; anything else is an error.
        match name {
            "empty 200" => assert_eq!(sessions.as_deref().ok(), Some(&[][..])),
            // The spec makes `UploadSessions` optional: a body without it lists none.
            "endless fresh tokens, no names" => {
                assert_eq!(sessions.as_deref().ok(), Some(&[][..]), "{name}")
            }
            _ => assert!(sessions.is_err(), "{name}: {sessions:?}"),
        }
        // Bodiless successes are successes; everything else fails, typed.
        let _ = (exists, create, commit);
        let requests = stub.requests().len();
        assert!(
            requests < 200,
            "{name}: {requests} requests; retries stay bounded"
        );
    }
}

#[tokio::test]
async fn endless_tokens_with_names_stream_until_the_consumer_stops() {
    let stub = serve(|target| {
        let n = target.len();
        reply(
            200,
            "OK",
            &format!(r#"{{"ContinuationToken":"t{n}-{}","IsConsistent":true,"SubNames":["fabric:/a/x"]}}"#, Uuid::new_v4()),
        )
    })
    .await;
    let client = Client::new(&stub.url).expect("client");
    let first: Vec<String> = guarded(
        "endless",
        client
            .sub_names("fabric:/a", false)
            .take(500)
            .try_collect::<Vec<_>>(),
    )
    .await
    .expect("names");
    assert_eq!(first.len(), 500, "a consumer that stops is never blocked");
}
