//! A loopback HTTP server for CLI tests that answers what a hostile or failing gateway would:
//! one request per connection, the answer chosen by a closure over (method, target, count).
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
};

/// Status, reason and JSON body of one answer (an empty body is sent with no content).
pub type Answer = (u16, &'static str, String);

/// Serves on a free port in a background thread; returns its URL. `answer` gets the method,
/// the target and how many requests came before this one.
pub fn serve(answer: impl Fn(&str, &str, usize) -> Answer + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let answer = Arc::new(answer);
    let count = Arc::new(AtomicUsize::new(0));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            let count = count.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let mut words = line.split_whitespace();
                let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let (status, reason, body) =
                    answer(method, target, count.fetch_add(1, Ordering::SeqCst));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

/// A `FabricError` answer.
pub fn fabric_error(status: u16, code: &'static str) -> Answer {
    (
        status,
        code,
        format!(r#"{{"Error":{{"Code":"{code}","Message":"Null"}}}}"#),
    )
}

/// A GetSubNames page.
pub fn names_page(names: &[String], token: &str) -> Answer {
    (
        200,
        "OK",
        serde_json::json!({"ContinuationToken": token, "IsConsistent": true, "SubNames": names})
            .to_string(),
    )
}

/// A GetUploadSession answer with one session.
pub fn one_session(id: &str, path: &str, size: u64, missing: (u64, u64)) -> Answer {
    (
        200,
        "OK",
        serde_json::json!({"UploadSessions": [{
            "StoreRelativePath": path, "SessionId": id, "FileSize": size.to_string(),
            "ModifiedDate": "2017-09-28T17:06:37.26Z",
            "ExpectedRanges": [{"StartPosition": missing.0.to_string(), "EndPosition": missing.1.to_string()}],
        }]})
        .to_string(),
    )
}
