//! The `sfrest` binary as a user runs it.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

fn sfrest(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(args)
        .env_remove("SF_ENDPOINT")
        .output()
        .expect("run sfrest");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `sfrest emulator` on a free port with `extra` arguments; returns it and its endpoint (read
/// from the banner on stderr).
fn standalone_emulator(extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("banner");
    let endpoint = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("endpoint in banner")
        .to_string();
    (child, endpoint)
}

#[test]
fn names_ls_json_against_the_embedded_emulator() {
    let (code, out, err) = sfrest(&["names", "ls", "fabric:/samples", "--recursive", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("embedded emulator"),
        "says so on stderr: {err}"
    );
    let names: Vec<String> = serde_json::from_str(&out).expect("a JSON array");
    assert_eq!(names.len(), 11);
    assert_eq!(names[0], "fabric:/samples/CalculatorApp");
}

#[test]
fn upload_session_table_and_json() {
    let (code, out, err) = sfrest(&[
        "upload-session",
        "--id",
        "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("SESSION ID"), "{out}");
    assert!(
        lines[1].contains("0-402128,730105-2097151") && lines[1].contains("1769176"),
        "{out}"
    );
    // Aligned: the PATH column starts at the same offset in header and row.
    assert_eq!(lines[0].find("PATH"), lines[1].find("SwaggerTest"), "{out}");

    let (code, out, err) = sfrest(&[
        "upload-session",
        "--path",
        "SwaggerTest\\Common.dll",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let sessions: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(sessions.as_array().map(Vec::len), Some(3));
    assert_eq!(sessions[0]["FileSize"], 2_097_152);
    assert_eq!(sessions[0]["ExpectedRanges"][1]["EndPosition"], 2_097_151);

    let (code, out, _) = sfrest(&[
        "upload-session",
        "--id",
        "00000000-0000-0000-0000-000000000001",
        "--json",
    ]);
    assert_eq!((code, out.trim()), (0, "[]"), "204 is an empty list");
}

#[test]
fn errors_print_the_gateway_code_and_exit_non_zero() {
    let (code, _, err) = sfrest(&["names", "ls", "fabric:/nope"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("FABRIC_E_NAME_DOES_NOT_EXIST") && err.contains("Name does not exist."),
        "{err}"
    );
    let (code, _, err) = sfrest(&["names", "ls", "a$b"]);
    assert_ne!(code, 0);
    assert!(err.contains("\"a$b\""), "names the bad value: {err}");
    let (code, _, err) = sfrest(&["--endpoint", "http://127.0.0.1:9", "names", "ls", "x"]);
    assert_ne!(code, 0);
    assert!(err.contains("connect"), "{err}");
    let (code, _, err) = sfrest(&["upload-session", "--id", "not-a-uuid"]);
    assert_ne!(code, 0);
    assert!(err.contains("not-a-uuid"), "{err}");
}

#[test]
fn tour_walks_the_seed_operations() {
    let (code, out, err) = sfrest(&["tour"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("page 4: 2 names, IsConsistent=true, ContinuationToken=\"\" (last page)"),
        "{out}"
    );
    assert!(
        out.contains("fb2da2b2-7cb4-45d2-a2e6-c4888d205bc5"),
        "{out}"
    );
    assert!(out.contains("committed; the session is now gone"), "{out}");
}

#[test]
fn standalone_emulator_serves_other_clients() {
    let (mut child, endpoint) = standalone_emulator(&[]);
    let (code, out, err) = sfrest(&["--endpoint", &endpoint, "names", "ls", "samples/apps"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("embedded emulator"), "{err}");
    assert!(
        out.contains("fabric:/samples/apps/PersistentQueueApp"),
        "{out}"
    );
}

#[test]
fn upload_a_file_to_a_standalone_emulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (mut child, endpoint) =
        standalone_emulator(&["--no-seed", "--data-dir", &data.to_string_lossy()]);
    let local = dir.path().join("pkg.zip");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&local, &data).expect("write");
    let local = local.to_string_lossy().to_string();
    let (code, out, err) = sfrest(&[
        "--endpoint",
        &endpoint,
        "upload",
        &local,
        "--path",
        "Store\\App\\pkg.zip",
        "--chunk-size",
        "65536",
    ]);
    let stored = std::fs::read(dir.path().join("data/store/Store/App/pkg.zip"));
    let (code2, _, err2) = sfrest(&[
        "--endpoint",
        &endpoint,
        "upload",
        "/no/such/file",
        "--path",
        "x",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("uploaded 300000 of 300000 bytes in 5 chunks"),
        "{out}"
    );
    assert_eq!(stored.expect("committed file"), data);
    assert_ne!(code2, 0);
    assert!(err2.contains("/no/such/file"), "{err2}");
    assert!(!err2.contains("resume with"), "nothing to resume: {err2}");
}
