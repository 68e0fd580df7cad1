//! Throughput of the typed client against a raw reqwest + serde_json loop sending the same
//! requests, in one run, on loopback; and peak memory of streaming names. Both sides send
//! the same request bytes (same target, same Accept header) and use a per-request timeout.
//!
//! ```sh
//! cargo bench -p servicefabric-rest --bench client
//! ```
//!
//! The servers run in a child process (this binary with `serve`), so the peak RSS printed is
//! the client's alone: a fixed-answer server (precomputed bodies, so the client dominates the
//! cost) and the emulator holding 1,000,000 names. The machines here are noisy: rounds pair a
//! client run with a raw run back to back (alternating which goes first), the ratio is the
//! median of the paired ratios, and CPU time per call or name is reported too.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use servicefabric_emulator::Emulator;
use servicefabric_rest::Client;
use uuid::Uuid;

/// By-id calls in one `profile` loop.
const CALLS: usize = 10_000;
/// By-id calls in one benchmark round.
const ROUND_CALLS: usize = 2_000;
const PAGES: usize = 1_000;
const PAGE_NAMES: usize = 1_000;
const ROUNDS: usize = 7;
/// By-id rounds are short (about 50 ms), and many: a burst of load swings single rounds by
/// ±50% on this machine, and the median of many short pairs is what stays put.
const BY_ID_ROUNDS: usize = 61;
const SESSION: &str = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b";
const SESSION_BODY: &str = r#"{"UploadSessions":[{"StoreRelativePath":"SwaggerTest\\Common.dll","SessionId":"4a2340e8-d8d8-497c-95fe-cdaa1052f33b","FileSize":"2097152","ModifiedDate":"2017-09-28T17:06:37.26Z","ExpectedRanges":[{"StartPosition":"0","EndPosition":"402128"},{"StartPosition":"730105","EndPosition":"2097151"}]}]}"#;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // `cargo bench` adds `--bench`; the mode is whichever word is given besides it.
    let has = |word: &str| std::env::args().skip(1).any(|a| a == word);
    if has("serve") {
        runtime.block_on(serve())
    } else if has("profile") {
        runtime.block_on(profile())
    } else {
        runtime.block_on(bench())
    }
}

// ---- child: the servers ----

/// Page `i` of the fixed-answer server: 1,000 names and a token to page `i + 1`.
fn fixed_page(i: usize) -> Bytes {
    let names: Vec<String> = (0..PAGE_NAMES)
        .map(|n| format!("fabric:/bench/p{i:04}/n{n:04}"))
        .collect();
    let token = if i + 1 < PAGES {
        format!("fabric:/bench/p{i:04}/n0999${}", 7)
    } else {
        String::new()
    };
    let body =
        serde_json::json!({"ContinuationToken": token, "IsConsistent": true, "SubNames": names});
    Bytes::from(body.to_string())
}

async fn serve() -> Result<()> {
    let pages: Arc<Vec<Bytes>> = Arc::new((0..PAGES).map(fixed_page).collect());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fixed = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let pages = pages.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let pages = pages.clone();
                    async move {
                        let query = req.uri().query().unwrap_or_default();
                        let body = if req.uri().path().contains("GetSubNames") {
                            // The token names page i's last entry: fabric:/bench/pIIII/n0999$7.
                            let next = query
                                .split("ContinuationToken=fabric:/bench/p")
                                .nth(1)
                                .and_then(|t| t.get(..4))
                                .and_then(|n| n.parse::<usize>().ok())
                                .map_or(0, |i| i + 1);
                            pages.get(next).cloned().unwrap_or_default()
                        } else {
                            Bytes::from_static(SESSION_BODY.as_bytes())
                        };
                        let mut response = Response::new(Full::new(body));
                        response.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static(
                                "application/json; charset=utf-8",
                            ),
                        );
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let emulator = Emulator::builder()
        .page_max_names(PAGE_NAMES)
        .start()
        .await?;
    emulator.create_names((0..1_000_000).map(|i| format!("fabric:/million/n{i:07}")))?;
    emulator.create_names((0..10_000).map(|i| format!("fabric:/tenk/n{i:05}")))?;
    println!("{fixed} {}", emulator.endpoint());
    // Serve until the parent closes our stdin.
    let mut line = String::new();
    let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
    Ok(())
}

// ---- parent: the measurements ----

#[derive(Deserialize)]
#[allow(dead_code, non_snake_case)]
struct RawRange {
    StartPosition: String,
    EndPosition: String,
}

#[derive(Deserialize)]
#[allow(dead_code, non_snake_case)]
struct RawSession {
    StoreRelativePath: String,
    SessionId: String,
    FileSize: String,
    ModifiedDate: String,
    ExpectedRanges: Vec<RawRange>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct RawSessions {
    UploadSessions: Vec<RawSession>,
}

#[derive(Deserialize)]
#[allow(dead_code, non_snake_case)]
struct RawPage {
    ContinuationToken: String,
    IsConsistent: bool,
    SubNames: Vec<String>,
}

/// What the client sends too: the Accept header, and its default HTTP timeout (server 60 s + 10 s).
fn raw_get(http: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
    http.get(url)
        .header("accept", "application/json")
        .timeout(Duration::from_secs(70))
}

async fn raw_sessions(http: &reqwest::Client, base: &str, calls: usize) -> Result<usize> {
    let url = format!(
        "{base}/ImageStore/$/GetUploadSession?api-version=6.0&session-id={SESSION}&timeout=60"
    );
    let mut n = 0;
    for _ in 0..calls {
        let body = raw_get(http, &url).send().await?.bytes().await?;
        n += serde_json::from_slice::<RawSessions>(&body)?
            .UploadSessions
            .len();
    }
    Ok(n)
}

async fn client_sessions(client: &Client, calls: usize) -> Result<usize> {
    let id: Uuid = SESSION.parse()?;
    let mut n = 0;
    for _ in 0..calls {
        n += client.upload_sessions_by_id(id).await?.len();
    }
    Ok(n)
}

async fn raw_names(http: &reqwest::Client, base: &str, name: &str) -> Result<usize> {
    let mut token = String::new();
    let mut n = 0;
    loop {
        let mut url = format!("{base}/Names/{name}/$/GetSubNames?api-version=6.0&Recursive=false");
        if !token.is_empty() {
            url.push_str("&ContinuationToken=");
            url.push_str(&token);
        }
        url.push_str("&timeout=60");
        let body = raw_get(http, &url).send().await?.bytes().await?;
        let page: RawPage = serde_json::from_slice(&body)?;
        // Consume each name, as a consumer of the client's stream does.
        for name in &page.SubNames {
            n += usize::from(!name.is_empty());
        }
        if page.ContinuationToken.is_empty() {
            return Ok(n);
        }
        token = page.ContinuationToken;
    }
}

async fn client_names(client: &Client, name: &str) -> Result<usize> {
    let mut n = 0;
    let mut names = Box::pin(client.sub_names(name, false));
    while let Some(name) = names.try_next().await? {
        n += usize::from(!name.is_empty());
    }
    Ok(n)
}

/// Peak resident memory since the last reset, in MiB (Linux: VmHWM, reset by clear_refs 5).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Process CPU time (user + system, all threads) in seconds, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0 // utime, stime; USER_HZ is 100 on Linux
}

/// One timed run: (wall seconds, CPU seconds).
async fn timed<F, Fut>(f: &mut F) -> Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize>>,
{
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    f().await?;
    Ok((wall.elapsed().as_secs_f64(), cpu_seconds() - cpu))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Pair {
    client: Vec<(f64, f64)>,
    raw: Vec<(f64, f64)>,
}

impl Pair {
    fn report(&self, what: &str, units: f64, unit: &str) {
        let rate = |runs: &[(f64, f64)]| median(runs.iter().map(|(w, _)| units / w).collect());
        let cpu = |runs: &[(f64, f64)]| {
            runs.iter().map(|(_, c)| c).sum::<f64>() / (units * runs.len() as f64) * 1e6
        };
        // Each round's client and raw runs are adjacent in time: their ratio cancels drift.
        let ratios: Vec<f64> = self
            .client
            .iter()
            .zip(&self.raw)
            .map(|(c, r)| r.0 / c.0)
            .collect();
        let (low, high) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
        let paired = median(ratios);
        println!(
            "{what:<42} client {:>9.0} {unit}/s  raw {:>9.0} {unit}/s  ratio {paired:.3} (rounds {low:.2}-{high:.2})  cpu/{unit}: client {:.2} us, raw {:.2} us",
            rate(&self.client),
            rate(&self.raw),
            cpu(&self.client),
            cpu(&self.raw),
        );
    }
}

async fn compare<C, R, CF, RF>(rounds: usize, mut client: C, mut raw: R) -> Result<Pair>
where
    C: FnMut() -> CF,
    R: FnMut() -> RF,
    CF: std::future::Future<Output = Result<usize>>,
    RF: std::future::Future<Output = Result<usize>>,
{
    let mut pair = Pair {
        client: Vec::new(),
        raw: Vec::new(),
    };
    for round in 0..rounds {
        // Alternate who goes first, so drift in machine load falls on both.
        if round % 2 == 0 {
            pair.client.push(timed(&mut client).await?);
            pair.raw.push(timed(&mut raw).await?);
        } else {
            pair.raw.push(timed(&mut raw).await?);
            pair.client.push(timed(&mut client).await?);
        }
    }
    Ok(pair)
}

/// Only the client's by-id loop, for `perf record` (`bench profile`).
/// With `BENCH_ENDPOINT` (a running `bench serve`'s first endpoint), only this process is
/// profiled; `raw` profiles the raw loop instead, `names` the paging loop instead of by-id.
async fn profile() -> Result<()> {
    let fixed = std::env::var("BENCH_ENDPOINT")?;
    let client = Client::new(&fixed)?;
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let raw = std::env::args().skip(1).any(|a| a == "raw");
    if std::env::args().skip(1).any(|a| a == "names") {
        // Paging instead: 1,000 pages of 1,000 names from the fixed server.
        return if raw {
            raw_names(&http, &fixed, "bench").await.map(drop)
        } else {
            client_names(&client, "bench").await.map(drop)
        };
    }
    for _ in 0..3 {
        if raw {
            raw_sessions(&http, &fixed, CALLS).await?;
        } else {
            client_sessions(&client, CALLS).await?;
        }
    }
    Ok(())
}

/// Starts the child process with the servers; returns it and their endpoints.
fn servers() -> Result<(std::process::Child, String, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let mut endpoints = line.split_whitespace();
    let (fixed, emulator) = (
        endpoints.next().ok_or("no endpoint")?.to_string(),
        endpoints.next().ok_or("no endpoint")?.to_string(),
    );
    Ok((child, fixed, emulator))
}

async fn bench() -> Result<()> {
    let (mut child, fixed, emulator) = servers()?;
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let on_fixed = Client::new(&fixed)?;
    let on_emulator = Client::new(&emulator)?;
    // Warm both connections.
    raw_sessions(&http, &fixed, CALLS).await?;
    client_sessions(&on_fixed, CALLS).await?;

    println!(
        "{BY_ID_ROUNDS} paired rounds by id, {ROUNDS} of paging; rates are medians, ratio = median of per-round client/raw rate; one reused connection each\n"
    );
    compare(
        BY_ID_ROUNDS,
        || client_sessions(&on_fixed, ROUND_CALLS),
        || raw_sessions(&http, &fixed, ROUND_CALLS),
    )
    .await?
    .report(
        "GetUploadSession by id, 2,000 sequential",
        ROUND_CALLS as f64,
        "calls",
    );
    compare(
        ROUNDS,
        || client_names(&on_fixed, "bench"),
        || raw_names(&http, &fixed, "bench"),
    )
    .await?
    .report(
        "GetSubNames, 1,000 pages x 1,000 names",
        (PAGES * PAGE_NAMES) as f64,
        "names",
    );
    compare(
        ROUNDS,
        || client_names(&on_emulator, "million"),
        || raw_names(&http, &emulator, "million"),
    )
    .await?
    .report("emulator: stream 1,000,000 names", 1_000_000.0, "names");

    println!();
    for (label, name) in [("10,000", "tenk"), ("1,000,000", "million")] {
        reset_peak_rss();
        let n = client_names(&on_emulator, name).await?;
        println!(
            "peak RSS streaming {label:>9} names through Client::sub_names: {:6.1} MiB ({n} names)",
            peak_rss_mib()
        );
    }
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(())
}
