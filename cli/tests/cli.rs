//! The `sfrest` binary as a user and a script run it.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

/// A config directory of these tests' own: no saved profile of the machine's user applies.
fn isolated_config() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("config dir"))
        .path()
}

fn sfrest(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(args)
        .env("XDG_CONFIG_HOME", isolated_config())
        .env_remove("SF_PROFILE")
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
fn standalone_emulator(extra: &[&str]) -> (Running, String) {
    let (child, banner) = emulator_with_banner("127.0.0.1:0", extra);
    let endpoint = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("endpoint in banner")
        .to_string();
    (child, endpoint)
}

/// `sfrest emulator --listen LISTEN`, and the banner line it prints on stderr.
fn emulator_with_banner(listen: &str, extra: &[&str]) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(["emulator", "--listen", listen])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("banner");
    (Running(child), line)
}

/// An emulator process, killed when dropped: a failing assertion must not leave it running
/// (it would hold the test harness's output pipe open).
struct Running(std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
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
    assert!(
        out.contains("committed; the gateway still lists the session, with no missing range"),
        "{out}"
    );
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

#[test]
fn json_is_whole_or_nothing_when_a_call_fails() {
    // Page 1 arrives, page 2 fails: a streaming printer would have written `["fabric:/a/x"`.
    let url = support::serve(|_, target, n| {
        if target.contains("GetSubNames") && n == 0 {
            support::names_page(&["fabric:/a/x".to_string()], "fabric:/a/x$1")
        } else {
            support::fabric_error(503, "E_ABORT")
        }
    });
    let (code, out, err) = sfrest(&["--endpoint", &url, "names", "ls", "a", "--json"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "", "stdout holds valid JSON or nothing");
    assert!(err.contains("E_ABORT"), "{err}");
    let (code, out, _) = sfrest(&[
        "upload-session",
        "--endpoint",
        &url,
        "--id",
        "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
        "--json",
    ]);
    assert_eq!((code, out.as_str()), (1, ""));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let names: Vec<String> = (0..50_000)
        .map(|i| format!("fabric:/big/name-{i:06}"))
        .collect();
    let url = support::serve(move |_, _, _| support::names_page(&names, ""));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(["names", "ls", "big", "--endpoint", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line"); // the reader (and the pipe) is dropped here, as `head -1` does
    assert_eq!(first, "NAME\n");
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn cells_longer_than_65535_characters_print() {
    let path = "p".repeat(70_000);
    let answer_path = path.clone();
    let url = support::serve(move |_, _, _| {
        support::one_session(
            "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
            &answer_path,
            10,
            (0, 9),
        )
    });
    let (code, out, err) = sfrest(&[
        "upload-session",
        "--id",
        "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
        "--endpoint",
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.lines().nth(1).is_some_and(|row| row.contains(&path)),
        "row with the path"
    );
}

#[test]
fn state_changes_refuse_without_an_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, b"data").expect("write");
    let file = file.to_string_lossy().to_string();
    let id = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b";
    for args in [
        vec!["names", "create", "fabric:/x"],
        vec!["names", "rm", "fabric:/samples/data"],
        vec!["upload", &file, "--path", "x"],
        vec!["upload-session", "commit", "--id", id],
        vec!["upload-session", "delete", "--id", id],
    ] {
        let (code, out, err) = sfrest(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        assert!(
            err.contains("--endpoint")
                && err.contains("SF_ENDPOINT")
                && err.contains("changes state"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("resume with"), "{err}");
    }
    // Read commands keep the embedded default.
    let (code, out, err) = sfrest(&["names", "exists", "fabric:/samples/apps"]);
    assert_eq!((code, out.as_str()), (0, "true\n"), "{err}");
}

#[test]
fn names_and_sessions_change_through_the_cli() {
    let (mut child, endpoint) = standalone_emulator(&["--no-seed"]);
    let run = |args: &[&str]| {
        let mut all = vec!["--endpoint", endpoint.as_str()];
        all.extend_from_slice(args);
        sfrest(&all)
    };
    assert_eq!(run(&["names", "create", "fabric:/cli/a"]).0, 0);
    assert_eq!(run(&["names", "exists", "fabric:/cli"]).1, "true\n");
    let (code, _, err) = run(&["names", "rm", "fabric:/cli"]);
    assert_eq!(code, 1, "not empty");
    assert!(
        err.contains("FABRIC_E_NAME_NOT_EMPTY") && err.contains("fabric:/cli"),
        "{err}"
    );
    assert_eq!(run(&["names", "rm", "fabric:/cli/a"]).0, 0);
    assert_eq!(run(&["names", "exists", "fabric:/cli/a"]).1, "false\n");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, vec![7u8; 1000]).expect("write");
    let id = "0f0e0d0c-0b0a-4908-8706-050403020100";
    // Commit of an unknown session: the gateway's 400, named.
    let (code, _, err) = run(&["upload-session", "commit", "--id", id]);
    assert_eq!(code, 1);
    assert!(err.contains("E_INVALIDARG") && err.contains(id), "{err}");
    let (code, out, err) = run(&[
        "upload",
        &file.to_string_lossy(),
        "--path",
        "d\\f.bin",
        "--session-id",
        id,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("committed"), "{out}");
    assert_eq!(run(&["upload-session", "delete", "--id", id]).0, 0);
    let (_, out, _) = run(&["upload-session", "--id", id]);
    assert_eq!(out, "no upload session\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn resume_hint_only_when_the_server_holds_the_session() {
    let id = "11111111-2222-4333-8444-555555555555";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, vec![1u8; 300]).expect("write");
    let file = file.to_string_lossy().to_string();
    let upload = |url: &str| {
        sfrest(&[
            "upload",
            &file,
            "--path",
            "a\\f.bin",
            "--chunk-size",
            "100",
            "--session-id",
            id,
            "--endpoint",
            url,
        ])
    };

    // The first chunk is taken, the second refused: the session exists to resume.
    let url = support::serve(move |method, target, n| match method {
        "GET" if n == 0 => (204, "No Content", String::new()),
        "GET" => support::one_session(id, "a\\f.bin", 300, (100, 299)),
        _ if target.contains("UploadChunk") && n == 1 => (200, "OK", String::new()),
        _ => support::fabric_error(400, "FABRIC_E_UPLOAD_SESSION_RANGE_NOT_SATISFIABLE"),
    });
    let (code, _, err) = upload(&url);
    assert_eq!(code, 1, "{err}");
    // The command is complete: pasted, it reaches the same gateway.
    assert!(
        err.contains(&format!(
            "resume with: sfrest upload '{file}' --path 'a\\f.bin' --session-id {id} --endpoint '{url}'"
        )),
        "{err}"
    );

    // The first chunk is refused (a path the gateway will not take): nothing to resume.
    let url = support::serve(|method, _, _| match method {
        "GET" => (204, "No Content", String::new()),
        _ => support::fabric_error(400, "E_INVALIDARG"),
    });
    let (code, _, err) = upload(&url);
    assert_eq!(code, 1);
    assert!(!err.contains("resume with"), "{err}");
    assert!(err.contains("nothing to resume"), "{err}");

    // Local mistakes are refused before anything is sent.
    for local in ["/no/such/file", dir.path().to_str().expect("utf-8")] {
        let (code, _, err) = sfrest(&["upload", local, "--path", "x", "--endpoint", &url]);
        assert_eq!(code, 2, "refused input");
        assert!(err.contains(local) && !err.contains("resume with"), "{err}");
    }
    let (code, _, err) = sfrest(&["upload", &file, "--path", "a\\..\\b", "--endpoint", &url]);
    assert_eq!(code, 2, "refused input");
    assert!(!err.contains("resume with"), "{err}");
}

#[test]
fn sigterm_during_an_upload_prints_the_resume_hint() {
    let (mut emulator, endpoint) = standalone_emulator(&["--no-seed"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![3u8; 64 * 1024 * 1024]).expect("write");
    let id = "21111111-2222-4333-8444-555555555555";
    let upload = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(["upload", &file.to_string_lossy(), "--path", "big.bin"])
        .args([
            "--chunk-size",
            "16384",
            "--session-id",
            id,
            "--endpoint",
            &endpoint,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the gateway holds part of the file, then stop the upload.
    let started = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        let (_, out, _) = sfrest(&["upload-session", "--id", id, "--endpoint", &endpoint]);
        out.contains("big.bin")
    });
    assert!(started, "the upload never reached the emulator");
    sigterm(&upload);
    let out = upload.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    let _ = emulator.kill();
    let _ = emulator.wait();
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(
        err.contains(&format!("--session-id {id}")) && err.contains("resume with"),
        "{err}"
    );
}

#[test]
fn tour_on_an_explicit_endpoint_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (mut child, endpoint) =
        standalone_emulator(&["--no-seed", "--data-dir", &data.to_string_lossy()]);
    let keep = sfrest(&[
        "names",
        "create",
        "fabric:/keep/me",
        "--endpoint",
        &endpoint,
    ]);
    assert_eq!(keep.0, 0, "{}", keep.2);
    let (code, out, err) = sfrest(&["tour", "--endpoint", &endpoint]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("page 1:") && out.contains("== 5."), "{out}");
    assert!(out.contains("now reports the session complete"), "{out}");
    let prefix = err
        .split_whitespace()
        .find(|w| w.starts_with("fabric:/sfrest-tour-"))
        .expect("the tour names its prefix")
        .to_string();
    let exists = |name: &str| sfrest(&["names", "exists", name, "--endpoint", &endpoint]).1;
    assert_eq!(exists(&prefix), "false\n", "the tour's names are gone");
    assert_eq!(
        exists("fabric:/keep/me"),
        "true\n",
        "existing state untouched"
    );
    let store = data.join("store");
    let files = std::fs::read_dir(&store).map(|d| d.count()).unwrap_or(0);
    let sessions = std::fs::read_dir(data.join("sessions"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
        })
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        (files, sessions),
        (0, 0),
        "no committed file and no open session left"
    );
}

#[test]
fn emulator_listens_on_localhost_0_and_cleans_up_on_sigterm() {
    let (mut child, banner) = emulator_with_banner("localhost:0", &[]);
    let data = banner
        .split("(data in ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("data dir in banner")
        .to_string();
    assert!(std::path::Path::new(&data).is_dir(), "{banner}");
    assert!(!banner.contains(":0 "), "prints the real port: {banner}");
    sigterm(&child);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(!std::path::Path::new(&data).exists(), "{data} removed");
}

#[test]
fn help_lists_only_flags_that_mean_something() {
    let (_, help, _) = sfrest(&["emulator", "--help"]);
    assert!(
        help.contains("--listen") && !help.contains("--endpoint") && !help.contains("--timeout"),
        "{help}"
    );
    let (_, help, _) = sfrest(&["names", "ls", "--help"]);
    assert!(
        help.contains("--endpoint") && help.contains("--timeout"),
        "{help}"
    );
    // Both placements of --endpoint keep working.
    let (mut child, endpoint) = standalone_emulator(&[]);
    let before = sfrest(&[
        "--endpoint",
        &endpoint,
        "names",
        "exists",
        "fabric:/samples",
    ]);
    let after = sfrest(&[
        "names",
        "exists",
        "fabric:/samples",
        "--endpoint",
        &endpoint,
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(before.1, "true\n", "{}", before.2);
    assert_eq!(after.1, "true\n", "{}", after.2);
    assert!(!before.2.contains("embedded") && !after.2.contains("embedded"));
}

#[test]
fn app_upload_provision_and_store_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (mut child, endpoint) =
        standalone_emulator(&["--no-seed", "--data-dir", &data.to_string_lossy()]);
    let package = dir.path().join("My App");
    let resume = dir.path().join("resume").to_string_lossy().to_string();
    let (code, out, err) = sfrest(&["app", "sample", &package.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("wrote 23 files"), "{out}");
    let pkg = package.to_string_lossy().to_string();

    let upload = |extra: &[&str]| {
        let mut args = vec![
            "app",
            "upload",
            &pkg,
            "--endpoint",
            &endpoint,
            "--resume-dir",
            &resume,
        ];
        args.extend_from_slice(extra);
        sfrest(&args)
    };
    let (code, out, err) = upload(&["--provision", "--json"]);
    let (du_code, du, _) = sfrest(&["store", "du", "My App", "--endpoint", &endpoint]);
    let (ls_code, ls, _) = sfrest(&["store", "ls", "My App", "--json", "--endpoint", &endpoint]);
    let (again_code, again, again_err) = upload(&["--provision"]);
    let (rm_code, rm, _) = sfrest(&["store", "rm", "My App", "--endpoint", &endpoint]);
    let broken = dir.path().join("broken");
    sfrest(&["app", "sample", &broken.to_string_lossy()]);
    std::fs::remove_file(broken.join("ApplicationManifest.xml")).expect("remove");
    let (bad_code, _, bad_err) = sfrest(&[
        "app",
        "upload",
        &broken.to_string_lossy(),
        "--endpoint",
        &endpoint,
    ]);
    let (no_target, _, no_target_err) = sfrest(&["app", "upload", &pkg]);
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let summary: serde_json::Value =
        serde_json::from_str(lines.next().expect("summary")).expect("json summary");
    assert_eq!(summary["files"], 23);
    assert_eq!(summary["filesSent"], 23);
    assert_eq!(summary["pathInStore"], "My App");
    assert_eq!(lines.next(), Some("provisioned My App"));
    assert_eq!(du_code, 0);
    assert!(du.starts_with("23 files, "), "{du}");
    assert_eq!(ls_code, 0);
    let listing: serde_json::Value = serde_json::from_str(&ls).expect("ls json");
    let folders = listing
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["type"] == "folder")
        .count();
    assert_eq!(folders, 3, "{ls}");
    assert_eq!(again_code, 0, "a re-run finds the job done: {again_err}");
    assert!(
        again.contains("0 of 23 files") && again.contains("already in the store"),
        "{again}"
    );
    assert!(again.contains("was already provisioned"), "{again}");
    assert_eq!(rm_code, 0);
    assert_eq!(rm, "deleted My App\n");
    assert!(!data.join("store/My App").exists());
    assert_eq!(bad_code, 2, "a package refused before anything is sent");
    assert!(bad_err.contains("ApplicationManifest.xml"), "{bad_err}");
    assert_eq!(no_target, 2, "{no_target_err}");
}

#[test]
fn app_upload_killed_midway_finishes_on_the_next_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Slow enough that the kill lands mid-upload.
    let (mut child, endpoint) = standalone_emulator(&[
        "--no-seed",
        "--data-dir",
        &data.to_string_lossy(),
        "--faults",
        "*:latency=20ms",
    ]);
    let package = dir.path().join("Pkg");
    let pkg = package.to_string_lossy().to_string();
    let (code, _, err) = sfrest(&[
        "app",
        "sample",
        &pkg,
        "--files",
        "60",
        "--file-size",
        "65536",
    ]);
    assert_eq!(code, 0, "{err}");
    let resume = dir.path().join("resume").to_string_lossy().to_string();
    let args = [
        "app",
        "upload",
        &pkg,
        "--endpoint",
        &endpoint,
        "--resume-dir",
        &resume,
        "--parallel",
        "2",
        "--session-threshold",
        "1048576",
        "--chunk-size",
        "262144",
    ];
    let mut first = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Killed once some files are in the store, before it is done.
    let count = |dir: &std::path::Path| walk_files(dir);
    let started = std::time::Instant::now();
    while count(&data.join("store/Pkg")) < 20 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = first.kill(); // SIGKILL: no cleanup at all
    let _ = first.wait();
    assert!(
        !data.join("store/Pkg/_.dir").exists(),
        "a killed upload is not marked complete"
    );
    let (code, out, err) = sfrest(&args);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("of 71 files"), "{out}");
    assert!(
        !out.contains("0 bytes already in the store"),
        "resumed: {out}"
    );
    assert!(data.join("store/Pkg/_.dir").is_file());
    for entry in [
        "ApplicationManifest.xml",
        "FrontEndPkg/Code/big library.dll",
    ] {
        assert_eq!(
            std::fs::read(data.join("store/Pkg").join(entry)).expect("stored"),
            std::fs::read(package.join(entry)).expect("local"),
            "{entry}"
        );
    }
}

/// Files below `dir` (0 when it does not exist).
fn walk_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                if path.is_dir() { walk_files(&path) } else { 1 }
            })
            .sum()
    })
}

#[test]
fn a_session_whose_ranges_do_not_fit_its_size_is_inconsistent_not_zero_missing() {
    // FileSize 0 with a range to u64::MAX: clamping would say "0 missing".
    let url = support::serve(|_, _, _| {
        support::one_session(
            "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
            "odd.bin",
            0,
            (0, u64::MAX),
        )
    });
    let id = [
        "--id",
        "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
        "--endpoint",
        &url,
    ];
    let (code, out, err) = sfrest(&[&["upload-session"][..], &id[..]].concat());
    assert_eq!(code, 0, "{err}");
    let row = out.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.get(3), Some(&"inconsistent"), "{out}");
    assert!(
        cells
            .get(4)
            .is_some_and(|r| r.contains("18446744073709551615")),
        "{out}"
    );

    let (code, out, err) = sfrest(&[&["upload-session", "--json"][..], &id[..]].concat());
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json[0]["MissingBytes"], serde_json::Value::Null, "{out}");
    assert_eq!(json[0]["Consistent"], false, "{out}");

    // A consistent one still shows its count.
    let url = support::serve(|_, _, _| {
        support::one_session("4a2340e8-d8d8-497c-95fe-cdaa1052f33b", "ok.bin", 10, (2, 9))
    });
    let (_, out, _) = sfrest(&[
        "upload-session",
        "--json",
        "--id",
        "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
        "--endpoint",
        &url,
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (
            json[0]["MissingBytes"].as_u64(),
            json[0]["Consistent"].as_bool()
        ),
        (Some(8), Some(true))
    );
}

#[test]
fn the_application_lifecycle_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, endpoint) = standalone_emulator(&[
        "--no-seed",
        "--upgrade-domains",
        "3",
        "--time-scale",
        "1000",
        "--health",
        "SampleAppType@3.0.0=Error:from=UD1",
    ]);
    let e = ["--endpoint", endpoint.as_str()];
    let run = |args: &[&str]| {
        let all: Vec<&str> = args.iter().chain(e.iter()).copied().collect();
        sfrest(&all)
    };
    for version in ["1.0.0", "2.0.0", "3.0.0"] {
        let pkg = dir
            .path()
            .join(format!("App_{}", version.replace('.', "_")));
        let pkg = pkg.to_string_lossy().into_owned();
        let (code, _, err) = sfrest(&[
            "app",
            "sample",
            &pkg,
            "--files",
            "2",
            "--large-file-size",
            "0",
            "--type-version",
            version,
        ]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = run(&[
            "app",
            "upload",
            &pkg,
            "--provision",
            "--resume-dir",
            &dir.path().to_string_lossy(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = run(&["app", "types"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "header and three versions: {out}");

    let (code, _, err) = run(&[
        "app",
        "create",
        "fabric:/shop",
        "--type",
        "SampleAppType",
        "--version",
        "1.0.0",
        "--param",
        "Greeting=hi",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&[
        "app",
        "create",
        "fabric:/bad",
        "--type",
        "SampleAppType",
        "--version",
        "1.0.0",
        "--param",
        "Nope=1",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Parameter 'Nope' is not defined"), "{err}");
    let (code, out, _) = run(&["app", "ls", "--json"]);
    assert_eq!(code, 0);
    let apps: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(apps[0]["Parameters"]["Greeting"], "hi", "{out}");

    // A healthy monitored upgrade, followed to its end.
    let (code, out, err) = run(&[
        "app",
        "upgrade",
        "fabric:/shop",
        "--version",
        "2.0.0",
        "--health-check-stable",
        "30s",
        "--health-check-retry",
        "1m",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("accepted"), "{out}");
    let (code, out, err) = run(&["app", "status", "fabric:/shop", "--watch"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .last()
            .is_some_and(|l| l.contains("RollingForwardCompleted")),
        "{out}"
    );
    let (_, out, _) = run(&["app", "show", "fabric:/shop", "--json"]);
    let app: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(app["TypeVersion"], "2.0.0");
    assert!(
        app["Parameters"].as_object().is_some_and(|p| p.is_empty()),
        "parameters replaced: {out}"
    );

    // Error from UD1 on 3.0.0: rolled back, and --watch says so with exit 1.
    run(&[
        "app",
        "upgrade",
        "fabric:/shop",
        "--version",
        "3.0.0",
        "--health-check-stable",
        "30s",
        "--health-check-retry",
        "1m",
    ]);
    let (code, _, err) = run(&["app", "status", "fabric:/shop", "--watch"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("RollingBackCompleted") && err.contains("HealthCheck"),
        "{err}"
    );
    let (_, out, _) = run(&["app", "health", "fabric:/shop"]);
    assert!(out.starts_with("fabric:/shop: Ok"), "back on 2.0.0: {out}");

    // Manual: resumed by hand, then rolled back; a bad duration is a usage error.
    let (code, _, err) = run(&[
        "app",
        "upgrade",
        "fabric:/shop",
        "--version",
        "1.0.0",
        "--mode",
        "unmonitored-manual",
        "--health-check-stable",
        "soon",
    ]);
    assert_eq!(code, 2, "{err}");
    run(&[
        "app",
        "upgrade",
        "fabric:/shop",
        "--version",
        "1.0.0",
        "--mode",
        "unmonitored-manual",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (_, out, _) = run(&["app", "status", "fabric:/shop", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (
            status["State"].as_str(),
            status["NextUpgradeDomain"].as_str()
        ),
        (Some("RollingForwardPending"), Some("UD1")),
        "{out}"
    );
    let (code, _, err) = run(&["app", "resume", "fabric:/shop", "--domain", "UD1"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["app", "rollback", "fabric:/shop"]);
    assert_eq!(code, 0, "{err}");

    let (code, _, err) = run(&["app", "unprovision", "SampleAppType", "2.0.0"]);
    assert_eq!(code, 1, "in use: {err}");
    assert!(err.contains("FABRIC_E_APPLICATION_TYPE_IN_USE"), "{err}");
    let (code, _, err) = run(&["app", "rm", "fabric:/shop"]);
    assert_eq!(code, 0, "no terminal, no question: {err}");
    let (code, _, err) = run(&["app", "unprovision", "SampleAppType", "2.0.0"]);
    assert_eq!(code, 0, "{err}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn errors_say_what_to_do_and_nothing_reaches_stdout_before_a_failure() {
    // A missing name: no table header without a row.
    let (code, out, err) = sfrest(&["names", "ls", "fabric:/nope"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "", "nothing on stdout before the failure");
    assert!(err.contains("FABRIC_E_NAME_DOES_NOT_EXIST"), "{err}");

    // Refused input: exit 2, naming the value.
    let (code, _, err) = sfrest(&["names", "ls", "fabric:/a//b"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = sfrest(&["names", "ls", "samples", "--endpoint", "localhost:19080"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("localhost:19080"), "{err}");

    // Nothing listens: ask whether a gateway does; no port: the gateway's usual one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let (code, _, err) = sfrest(&[
        "names",
        "ls",
        "samples",
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is a Service Fabric gateway"), "{err}");
    let (_, _, err) = sfrest(&[
        "names",
        "exists",
        "samples",
        "--endpoint",
        "http://127.0.0.1",
    ]);
    assert!(err.contains("19080"), "{err}");

    // A gateway message of `Null` is not shown as a sentence.
    let url =
        support::serve(|_, _, _| support::fabric_error(409, "FABRIC_E_UPLOAD_SESSION_ID_CONFLICT"));
    let (code, _, err) = sfrest(&[
        "upload-session",
        "--id",
        "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
        "--endpoint",
        &url,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("FABRIC_E_UPLOAD_SESSION_ID_CONFLICT") && !err.contains("Null"),
        "{err}"
    );

    // A missing image-store path says so, in words.
    let (code, out, err) = sfrest(&["store", "ls", "nope"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("nope is not in the image store"), "{err}");

    // A package folder that does not exist says so.
    let (code, _, err) = sfrest(&["app", "upload", "/no/such/pkg", "--endpoint", &url]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/no/such/pkg: no such folder"), "{err}");
}

#[test]
fn progress_is_plain_timestamped_lines_in_a_build_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, endpoint) = standalone_emulator(&["--no-seed"]);
    let pkg = dir.path().join("Pkg").to_string_lossy().into_owned();
    let resume = dir.path().to_string_lossy().into_owned();
    sfrest(&[
        "app",
        "sample",
        &pkg,
        "--files",
        "3",
        "--large-file-size",
        "0",
    ]);
    // stderr is a pipe here: auto means plain; --progress works after the subcommand too.
    let (code, _, err) = sfrest(&[
        "app",
        "upload",
        &pkg,
        "--endpoint",
        &endpoint,
        "--resume-dir",
        &resume,
    ]);
    assert_eq!(code, 0, "{err}");
    let stamped = |line: &str| {
        line.len() > 21
            && line.as_bytes()[4] == b'-'
            && line.as_bytes()[10] == b'T'
            && line[..21].ends_with("Z ")
    };
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| stamped(l) && l.ends_with("app upload Pkg: started")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| stamped(l) && l.contains("ApplicationManifest.xml done")),
        "{err}"
    );
    assert!(
        lines.iter().any(|l| stamped(l) && l.contains("/s, eta")),
        "{err}"
    );
    // Run again: every file is found in the store, none is a milestone.
    let (code, _, err) = sfrest(&[
        "app",
        "upload",
        &pkg,
        "--endpoint",
        &endpoint,
        "--resume-dir",
        &resume,
        "--progress",
        "plain",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(" done ("), "{err}");
    let (code, _, err) = sfrest(&[
        "--progress",
        "none",
        "app",
        "upload",
        &pkg,
        "--endpoint",
        &endpoint,
        "--resume-dir",
        &resume,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.lines().any(stamped), "{err}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn completions_and_help_headings() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (code, out, err) = sfrest(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("sfrest") && out.contains("upload-session"),
            "{shell}: {out}"
        );
    }
    let (code, _, err) = sfrest(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
    // The connection, TLS and token options appear once, under their own headings.
    let (_, help, _) = sfrest(&["names", "ls", "--help"]);
    assert_eq!(help.matches("--endpoint").count(), 1, "{help}");
    let options = help.find("Options:").expect("options");
    let connection = help.find("Connection:").expect("connection heading");
    let tls = help.find("TLS and tokens:").expect("tls heading");
    assert!(options < connection && connection < tls, "{help}");
    assert!(help[connection..tls].contains("--endpoint"), "{help}");
    assert!(
        help[tls..].contains("--pfx") && !help[options..connection].contains("--pfx"),
        "{help}"
    );
}

#[test]
fn verbose_shows_the_policys_retries_and_the_emulators_faults() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args([
            "emulator",
            "-v",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            "seed=5;GetSubNameInfoList:503=0.5",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut banner = String::new();
    stderr.read_line(&mut banner).expect("banner");
    let endpoint = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("endpoint")
        .to_string();
    let child = Running(child);
    // -v after the subcommand; the policy retries the 503s and says so.
    let (code, _, err) = sfrest(&[
        "names",
        "ls",
        "samples",
        "--recursive",
        "--endpoint",
        &endpoint,
        "-v",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("retrying GetSubNameInfoList"), "{err}");
    let (_, _, quiet) = sfrest(&[
        "names",
        "ls",
        "samples",
        "--recursive",
        "--endpoint",
        &endpoint,
    ]);
    assert!(!quiet.contains("retrying"), "{quiet}");
    // -vv adds the request spans.
    let (_, _, spans) = sfrest(&["-vv", "names", "exists", "samples", "--endpoint", &endpoint]);
    assert!(spans.contains("servicefabric_request"), "{spans}");
    drop(child);
    let mut log = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
    assert!(log.contains("fault plan: injected"), "{log}");
}

#[test]
fn upload_json_report_and_secrets_stay_out_of_the_resume_command() {
    let (mut child, endpoint) = standalone_emulator(&["--no-seed"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.bin");
    std::fs::write(&file, vec![5u8; 10_000]).expect("write");
    let file = file.to_string_lossy().into_owned();
    let (code, out, err) = sfrest(&[
        "upload",
        &file,
        "--path",
        "j\\f.bin",
        "--chunk-size",
        "4096",
        "--json",
        "--endpoint",
        &endpoint,
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (report["BytesSent"].as_u64(), report["ChunksSent"].as_u64()),
        (Some(10_000), Some(3)),
        "{out}"
    );
    assert_eq!(report["Committed"], true);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_wrong_scheme_and_an_untrusted_certificate_say_what_to_do() {
    let (mut tls, banner) = emulator_with_banner("127.0.0.1:0", &["--tls"]);
    let endpoint = banner
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .expect("endpoint")
        .to_string();
    let thumbprint = banner
        .split("thumbprint ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("thumbprint in banner")
        .to_string();
    // http spoken to an https gateway.
    let plain = endpoint.replace("https://", "http://");
    let (code, _, err) = sfrest(&["names", "ls", "samples", "--endpoint", &plain]);
    assert_eq!(code, 1);
    assert!(err.contains("the gateway speaks https"), "{err}");
    // Its certificate is not trusted: the flags that fix it, and its SHA-1 thumbprint.
    let (code, _, err) = sfrest(&["names", "ls", "samples", "--endpoint", &endpoint]);
    assert_eq!(code, 1);
    for flag in ["--server-thumbprint", "--server-cn", "--ca", "--insecure"] {
        assert!(err.contains(flag), "{flag}: {err}");
    }
    assert!(
        err.contains(&format!("SHA-1 {thumbprint}")),
        "{thumbprint}: {err}"
    );
    let _ = tls.kill();
    let _ = tls.wait();
    // https spoken to an http gateway.
    let (mut child, endpoint) = standalone_emulator(&[]);
    let secure = endpoint.replace("http://", "https://");
    let (code, _, err) = sfrest(&["names", "ls", "samples", "--endpoint", &secure]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not speak TLS: use an http:// endpoint"),
        "{err}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs sfrest with its own config directory `config`.
fn sfrest_in(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(args)
        .env("XDG_CONFIG_HOME", config)
        .env_remove("SF_PROFILE")
        .env_remove("SF_ENDPOINT")
        .env_remove("SF_TOKEN")
        .output()
        .expect("run sfrest");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn cluster_select_saves_a_profile_that_later_commands_use() {
    let config = tempfile::tempdir().expect("config");
    let config = config.path();
    let (mut child, endpoint) = standalone_emulator(&[]);
    let (code, out, err) = sfrest_in(
        config,
        &[
            "cluster",
            "select",
            "--endpoint",
            &endpoint,
            "--timeout",
            "30",
            "--profile",
            "lab",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("saved profile lab") && err.contains("answers, runtime"),
        "{out}{err}"
    );
    // Without --endpoint, the default profile: the emulator, not an embedded one.
    let (code, out, err) = sfrest_in(config, &["names", "exists", "fabric:/samples"]);
    assert_eq!((code, out.as_str()), (0, "true\n"), "{err}");
    assert!(!err.contains("embedded emulator"), "{err}");
    // State changes too: the profile is the endpoint they need.
    let (code, _, err) = sfrest_in(config, &["names", "create", "fabric:/from-profile"]);
    assert_eq!(code, 0, "{err}");
    // Flags win over the profile.
    let (code, _, err) = sfrest_in(
        config,
        &[
            "names",
            "exists",
            "fabric:/samples",
            "--endpoint",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let (code, out, _) = sfrest_in(config, &["cluster", "show"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("* lab: --endpoint '{endpoint}' --timeout 30")),
        "{out}"
    );
    let (code, _, err) = sfrest_in(
        config,
        &["--profile", "nope", "names", "exists", "fabric:/samples"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no profile \"nope\"") && err.contains("lab"),
        "{err}"
    );
    let _ = child.kill();
    let _ = child.wait();

    // No secret is stored: a token is read each time, only --token-cmd is kept.
    let (code, _, err) = sfrest_in(
        config,
        &[
            "cluster",
            "select",
            "--profile",
            "secure",
            "--endpoint",
            "https://127.0.0.1:9",
            "--insecure",
            "--token",
            "tok-never-stored",
        ],
    );
    assert_eq!(code, 0, "saved although unreachable: {err}");
    let saved = std::fs::read_to_string(config.join("sfrest/profiles.json")).expect("profiles");
    assert!(
        !saved.contains("tok-never-stored") && saved.contains("insecure"),
        "{saved}"
    );
}
