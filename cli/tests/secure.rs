//! `sfrest` against `sfrest emulator --tls`: client certificates (PEM, PFX), server pinning,
//! Entra ID tokens from a command, several endpoints, and what a user sees when one of them
//! is wrong.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use sha1::{Digest, Sha1};

struct Certificate {
    pem_file: PathBuf,
    pfx_file: PathBuf,
    thumbprint: String,
}

/// A client certificate as `NAME.pem` (certificate and key) and `NAME.pfx` (password
/// `pfx-pass`, AES).
fn certificate(dir: &Path, name: &str) -> Certificate {
    use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKeyChain};
    let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
    let pem_file = dir.join(format!("{name}.pem"));
    let pem = format!("{}{}", made.cert.pem(), made.signing_key.serialize_pem());
    std::fs::write(&pem_file, pem).expect("write pem");
    let chain = PrivateKeyChain::new(
        p12_keystore::LocalKeyId(vec![1u8; 20]),
        p12_keystore::PrivateKey::from_der(&made.signing_key.serialize_der()).expect("key"),
        [p12_keystore::Certificate::from_der(made.cert.der()).expect("cert")],
    );
    let mut store = KeyStore::new();
    store.add_entry(name, KeyStoreEntry::PrivateKeyChain(chain));
    let pfx_file = dir.join(format!("{name}.pfx"));
    std::fs::write(&pfx_file, store.writer("pfx-pass").write().expect("pfx")).expect("write");
    let thumbprint = Sha1::digest(made.cert.der())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Certificate {
        pem_file,
        pfx_file,
        thumbprint,
    }
}

struct Running {
    child: Child,
    endpoint: String,
    thumbprint: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sfrest emulator --tls ...` on a free port; the endpoint and thumbprint from its banner.
fn secured_emulator(extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--tls"])
        .args(extra)
        .env_remove("SF_EMULATOR_TOKEN")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut banner = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut banner)
        .expect("banner");
    let word_after = |marker: &str| {
        banner
            .split_whitespace()
            .skip_while(|w| *w != marker)
            .nth(1)
            .map(|w| w.trim_end_matches(';').to_string())
    };
    let endpoint = word_after("on").expect("endpoint in banner");
    let thumbprint = word_after("thumbprint").expect("thumbprint in banner");
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{banner}");
    assert_eq!(thumbprint.len(), 40, "{banner}");
    Running {
        child,
        endpoint,
        thumbprint,
    }
}

/// Runs sfrest with `args` and `env`; exit code, stdout, stderr.
fn sfrest(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfrest"))
        .args(args)
        // No saved profile of the machine's user applies.
        .env("XDG_CONFIG_HOME", "/nonexistent/sfrest-test-config")
        .env_remove("SF_PROFILE")
        .env_remove("SF_ENDPOINT")
        .env_remove("SF_TOKEN")
        .env_remove("SF_PFX_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run sfrest");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn client_certificates_as_pem_or_pfx_and_a_pinned_gateway() {
    let dir = tempfile::tempdir().expect("dir");
    let admin = certificate(dir.path(), "admin");
    let stranger = certificate(dir.path(), "stranger");
    let emulator = secured_emulator(&["--client-thumbprint", &admin.thumbprint]);
    let exists = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "names",
            "exists",
            "fabric:/samples",
            "--endpoint",
            &emulator.endpoint,
            "--server-thumbprint",
            &emulator.thumbprint,
        ];
        args.extend_from_slice(extra);
        sfrest(&args, env)
    };
    let pem = admin.pem_file.to_str().expect("path");
    let (code, out, err) = exists(&["--pem", pem], &[]);
    assert_eq!((code, out.as_str()), (0, "true\n"), "{err}");

    let pfx = admin.pfx_file.to_str().expect("path");
    let (code, out, err) = exists(&["--pfx", pfx], &[("SF_PFX_PASSWORD", "pfx-pass")]);
    assert_eq!((code, out.as_str()), (0, "true\n"), "{err}");

    // No password and no terminal: the message says where the password comes from.
    let (code, _, err) = exists(&["--pfx", pfx], &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("admin.pfx") && err.contains("SF_PFX_PASSWORD"),
        "{err}"
    );
    let (code, _, err) = exists(&["--pfx", pfx], &[("SF_PFX_PASSWORD", "wrong-pass")]);
    assert_eq!(
        code, 2,
        "a certificate that cannot be used is refused input"
    );
    assert!(
        err.contains("wrong password") && !err.contains("wrong-pass"),
        "{err}"
    );
    // A PEM file given as --pfx: use --pem, and no word about a password.
    let (code, _, err) = exists(&["--pfx", pem], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--pem") && !err.contains("SF_PFX_PASSWORD"),
        "{err}"
    );

    // A certificate the gateway does not list, or none: its 403.
    let other = stranger.pem_file.to_str().expect("path");
    for extra in [&["--pem", other][..], &[]] {
        let (code, out, err) = exists(extra, &[]);
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        assert!(err.contains("403"), "{err}");
    }
}

#[test]
fn an_unpinned_or_wrongly_pinned_gateway_is_refused_and_insecure_warns() {
    let emulator = secured_emulator(&[]);
    let base = [
        "names",
        "exists",
        "fabric:/samples",
        "--endpoint",
        &emulator.endpoint,
    ];
    let wrong = "00".repeat(20);
    let mut args = base.to_vec();
    args.extend(["--server-thumbprint", &wrong]);
    let (code, _, err) = sfrest(&args, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&wrong) && err.contains(&emulator.thumbprint),
        "names what was expected and what was shown: {err}"
    );
    // The system roots do not know a self-signed certificate.
    let (code, _, err) = sfrest(&base, &[]);
    assert_eq!(code, 1, "{err}");
    let mut args = base.to_vec();
    args.push("--insecure");
    let (code, out, err) = sfrest(&args, &[]);
    assert_eq!((code, out.as_str()), (0, "true\n"), "{err}");
    assert!(
        err.contains("warning") && err.contains("--insecure"),
        "{err}"
    );
}

#[test]
fn tokens_from_a_command_refreshed_once_and_never_over_http() {
    let dir = tempfile::tempdir().expect("dir");
    let emulator = secured_emulator(&["--bearer-token", "tok-right"]);
    // The command is told the scope, and is run again when the gateway refuses its token:
    // a stale token first (a cache), then the right one.
    let count = dir.path().join("count");
    let scope_seen = dir.path().join("scope");
    let command = format!(
        "echo \"$SF_TOKEN_SCOPE\" > '{}'; if [ -f '{c}' ]; then echo tok-right; else touch '{c}'; echo tok-stale; fi",
        scope_seen.display(),
        c = count.display()
    );
    let pinned = [
        "--endpoint",
        &emulator.endpoint,
        "--server-thumbprint",
        &emulator.thumbprint,
    ];
    let mut args = vec!["names", "exists", "fabric:/samples"];
    args.extend(pinned);
    args.extend(["--token-cmd", &command]);
    let (code, out, err) = sfrest(&args, &[]);
    assert_eq!((code, out.as_str()), (0, "true\n"), "{err}");
    let scope = std::fs::read_to_string(&scope_seen).expect("scope");
    assert_eq!(
        scope.trim(),
        "11111111-1111-1111-1111-00000000e770/.default"
    );

    // A wrong token from the environment: the gateway's 403, and the token is not printed.
    let mut args = vec!["names", "exists", "fabric:/samples"];
    args.extend(pinned);
    let (code, _, err) = sfrest(&args, &[("SF_TOKEN", "tok-wrong")]);
    assert_eq!(code, 1);
    assert!(err.contains("403") && !err.contains("tok-wrong"), "{err}");

    // A command that fails: its stderr, not a token.
    let mut args = vec!["names", "exists", "fabric:/samples"];
    args.extend(pinned);
    args.extend([
        "--token-cmd",
        "echo tok-right; echo 'not logged in' >&2; exit 3",
    ]);
    let (code, _, err) = sfrest(&args, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not logged in") && !err.contains("tok-right"),
        "{err}"
    );

    // Over http the token is refused before anything is sent.
    let (code, _, err) = sfrest(
        &[
            "names",
            "exists",
            "fabric:/samples",
            "--endpoint",
            "http://127.0.0.1:9",
            "--token",
            "tok-right",
        ],
        &[],
    );
    assert_eq!(code, 2, "a token with an http endpoint is refused input");
    assert!(
        err.contains("https") && err.contains("http://127.0.0.1:9") && !err.contains("tok-right"),
        "{err}"
    );
}

#[test]
fn several_endpoints_skip_a_node_that_is_down() {
    let emulator = secured_emulator(&[]);
    // Port 9 (discard) refuses on loopback: the first node is down.
    let both = format!("https://127.0.0.1:9,{}", emulator.endpoint);
    let (code, out, err) = sfrest(
        &[
            "names",
            "ls",
            "fabric:/samples",
            "--json",
            "--endpoint",
            &both,
            "--server-thumbprint",
            &emulator.thumbprint,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("fabric:/samples/apps"), "{out}");
    let (code, out, err) = sfrest(
        &[
            "names",
            "exists",
            "fabric:/samples",
            "--endpoint",
            "https://127.0.0.1:9",
            "--endpoint",
            &emulator.endpoint,
            "--server-thumbprint",
            &emulator.thumbprint,
        ],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, "true\n"), "{err}");
}
