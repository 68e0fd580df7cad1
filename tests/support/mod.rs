//! A loopback HTTP/1.1 server for tests: records each raw request line and answers with
//! scripted raw bytes, so tests see exactly what went on the wire. Beside it: a log capture
//! and the TLS backends of this build.
#![allow(dead_code)]

pub mod logs;
pub mod matrix;
#[cfg(any(feature = "tls", feature = "native-tls"))]
pub mod tls;
pub mod venv;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// What the server sends back for one request.
pub struct Reply {
    pub raw: Vec<u8>,
    pub delay: Duration,
    /// Close the connection after writing (for truncated bodies).
    pub close: bool,
    /// Write the answer a byte at a time with this pause (a trickling server).
    pub trickle: Duration,
}

/// Raw bytes, written as they are.
pub fn raw_reply(raw: impl Into<Vec<u8>>) -> Reply {
    Reply {
        raw: raw.into(),
        delay: Duration::ZERO,
        close: false,
        trickle: Duration::ZERO,
    }
}

/// A complete answer with a JSON (or any) body, as the gateway frames it.
pub fn reply(status: u16, reason: &str, body: &str) -> Reply {
    Reply {
        raw: format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        delay: Duration::ZERO,
        close: false,
        trickle: Duration::ZERO,
    }
}

/// An answer with any content type.
pub fn reply_typed(status: u16, reason: &str, content_type: &str, body: &str) -> Reply {
    Reply {
        raw: format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        delay: Duration::ZERO,
        close: false,
        trickle: Duration::ZERO,
    }
}

/// A valid, empty answer to any of the three seed operations.
pub fn empty_answer(target: &str) -> Reply {
    if target.contains("GetSubNames") {
        reply(
            200,
            "OK",
            r#"{"ContinuationToken":"","IsConsistent":true,"SubNames":[]}"#,
        )
    } else {
        reply(200, "OK", r#"{"UploadSessions":[]}"#)
    }
}

pub type Responder = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

pub struct Stub {
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Stub {
    /// Request lines received so far (`GET /path?query HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.heads()
            .iter()
            .map(|h| h.lines().next().unwrap_or_default().to_string())
            .collect()
    }
    /// Request bodies received so far, in order (empty for a bodiless request).
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().expect("bodies").clone()
    }
    /// Whole request heads (request line and headers).
    pub fn heads(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Request targets received so far.
    pub fn targets(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap_or_default().to_string())
            .collect()
    }
}

pub async fn serve(responder: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let responder: Responder = Arc::new(responder);
    let server_log = log.clone();
    let server_bodies = bodies.clone();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let log = server_log.clone();
            let bodies = server_bodies.clone();
            let responder = responder.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    buf.drain(..head_end);
                    // Skip the request body, so the next request's head starts clean.
                    let body_len = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while buf.len() < body_len {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body: Vec<u8> = buf.drain(..body_len).collect();
                    let line = head.lines().next().unwrap_or_default().to_string();
                    log.lock().expect("log").push(head.clone());
                    bodies.lock().expect("bodies").push(body);
                    let target = line.split(' ').nth(1).unwrap_or_default().to_string();
                    let reply = responder(&target);
                    tokio::time::sleep(reply.delay).await;
                    if !reply.trickle.is_zero() {
                        for byte in &reply.raw {
                            if socket.write_all(&[*byte]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(reply.trickle).await;
                        }
                    } else if socket.write_all(&reply.raw).await.is_err() || reply.close {
                        let _ = socket.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    Stub {
        url,
        log,
        bodies,
        connections,
    }
}

/// A TCP relay to `upstream` that can be taken down: a gateway node in front of one cluster.
pub struct Relay {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    pub async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let open = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let piping = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open.lock().expect("relay").push(piping);
            }
        });
        Self {
            url,
            task,
            connections,
        }
    }

    /// Stops listening and cuts every open connection: the node is down.
    pub fn take_down(&self) {
        self.task.abort();
        for piping in self.connections.lock().expect("relay").drain(..) {
            piping.abort();
        }
    }
}
