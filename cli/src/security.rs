//! Flags for secured clusters: the client certificate, how the gateway's certificate is
//! checked, and Entra ID tokens. Secrets never come from an argument in clear except
//! `--token`, which the users asked for (prefer `SF_TOKEN` or `--token-cmd`).

use std::{path::PathBuf, process::Stdio, time::Duration};

use clap::{Args, ValueEnum};
use servicefabric_rest::{
    ClientBuilder, Error,
    auth::{self, AccessToken, TokenRequest},
    tls::{Identity, ServerValidation, TlsBackend},
};

use crate::output::Failure;

/// How long `--token-cmd` may take (an interactive `az login` is not expected here).
const TOKEN_CMD_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Args, Clone, Default)]
#[command(next_help_heading = "TLS and tokens")]
pub struct SecurityArgs {
    /// Client certificate, PEM: certificate and key in one file, or the certificate with --key.
    #[arg(long, value_name = "FILE", conflicts_with = "pfx")]
    pem: Option<PathBuf>,
    /// The private key of --pem, when it is in its own file.
    #[arg(long = "key", value_name = "FILE", requires = "pem")]
    key_file: Option<PathBuf>,
    /// Client certificate, PKCS#12 (.pfx/.p12); the password comes from SF_PFX_PASSWORD, or
    /// is asked for on the terminal.
    #[arg(long, value_name = "FILE")]
    pfx: Option<PathBuf>,
    /// Trust the CA certificates in this PEM file, instead of the system's roots, for chain
    /// checks.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Pin the gateway's certificate by thumbprint (SHA-1 as Service Fabric shows it, or
    /// SHA-256); repeatable.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["server_cn", "insecure"])]
    server_thumbprint: Vec<String>,
    /// Pin the gateway's certificate by common name (the chain must be valid); repeatable.
    #[arg(long, value_name = "NAME", conflicts_with = "insecure")]
    server_cn: Vec<String>,
    /// With --server-cn: the issuer's thumbprint must be one of these; repeatable.
    #[arg(long, value_name = "HEX", requires = "server_cn")]
    issuer_thumbprint: Vec<String>,
    /// Do not check the gateway's certificate at all (prints a warning). For throwaway test
    /// clusters only.
    #[arg(long)]
    insecure: bool,
    /// Entra ID bearer token (visible to other local users in the process list: prefer the
    /// SF_TOKEN variable or --token-cmd).
    #[arg(
        long,
        env = "SF_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_cmd"
    )]
    token: Option<String>,
    /// Entra ID: a shell command that prints a token, run when one is needed and again when
    /// the gateway refuses it; `{scope}` is replaced by the cluster's scope (also in
    /// SF_TOKEN_SCOPE). E.g. "az account get-access-token --scope {scope} --query accessToken -o tsv".
    #[arg(long, value_name = "CMD")]
    token_cmd: Option<String>,
    /// Which TLS library does the handshake: rustls, or native (OpenSSL/SChannel), which
    /// Windows clusters that ask for the client certificate late need.
    #[arg(long, value_enum)]
    tls_backend: Option<Backend>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Rustls,
    Native,
}

/// A value quoted for a POSIX shell.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

impl SecurityArgs {
    /// These options for a saved profile: never a secret (a token given by value is not
    /// kept; `--token-cmd` is).
    pub fn to_profile(&self) -> serde_json::Value {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        serde_json::json!({
            "pem": path(&self.pem), "key": path(&self.key_file), "pfx": path(&self.pfx),
            "ca": path(&self.ca), "serverThumbprint": self.server_thumbprint,
            "serverCn": self.server_cn, "issuerThumbprint": self.issuer_thumbprint,
            "insecure": self.insecure, "tokenCmd": self.token_cmd,
            "tlsBackend": self.tls_backend.map(|b| match b {
                Backend::Rustls => "rustls",
                Backend::Native => "native",
            }),
        })
    }

    /// The options a saved profile holds.
    pub fn from_profile(value: &serde_json::Value) -> Self {
        let path = |key: &str| value[key].as_str().map(PathBuf::from);
        let list = |key: &str| {
            value[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            pem: path("pem"),
            key_file: path("key"),
            pfx: path("pfx"),
            ca: path("ca"),
            server_thumbprint: list("serverThumbprint"),
            server_cn: list("serverCn"),
            issuer_thumbprint: list("issuerThumbprint"),
            insecure: value["insecure"].as_bool().unwrap_or(false),
            token: None,
            token_cmd: value["tokenCmd"].as_str().map(str::to_string),
            tls_backend: match value["tlsBackend"].as_str() {
                Some("rustls") => Some(Backend::Rustls),
                Some("native") => Some(Backend::Native),
                _ => None,
            },
        }
    }

    /// These options as command-line flags, to repeat them in a printed command. Never a
    /// secret: a token given by value is left out (it comes from SF_TOKEN or --token-cmd);
    /// a PFX password is never on the command line anyway.
    pub fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        let path = |flag: &str, p: &Option<PathBuf>, out: &mut Vec<String>| {
            if let Some(p) = p {
                out.push(format!("{flag} {}", quoted(&p.display().to_string())));
            }
        };
        path("--pem", &self.pem, &mut out);
        path("--key", &self.key_file, &mut out);
        path("--pfx", &self.pfx, &mut out);
        path("--ca", &self.ca, &mut out);
        for t in &self.server_thumbprint {
            out.push(format!("--server-thumbprint {t}"));
        }
        for cn in &self.server_cn {
            out.push(format!("--server-cn {}", quoted(cn)));
        }
        for t in &self.issuer_thumbprint {
            out.push(format!("--issuer-thumbprint {t}"));
        }
        if self.insecure {
            out.push("--insecure".into());
        }
        if let Some(cmd) = &self.token_cmd {
            out.push(format!("--token-cmd {}", quoted(cmd)));
        }
        if let Some(backend) = self.tls_backend {
            out.push(
                match backend {
                    Backend::Rustls => "--tls-backend rustls",
                    Backend::Native => "--tls-backend native",
                }
                .into(),
            );
        }
        out
    }

    /// This command's flags, else the top-level ones, flag by flag.
    pub fn or(&self, top: &SecurityArgs) -> SecurityArgs {
        let list = |mine: &Vec<String>, theirs: &Vec<String>| {
            if mine.is_empty() {
                theirs.clone()
            } else {
                mine.clone()
            }
        };
        SecurityArgs {
            pem: self.pem.clone().or_else(|| top.pem.clone()),
            key_file: self.key_file.clone().or_else(|| top.key_file.clone()),
            pfx: self.pfx.clone().or_else(|| top.pfx.clone()),
            ca: self.ca.clone().or_else(|| top.ca.clone()),
            server_thumbprint: list(&self.server_thumbprint, &top.server_thumbprint),
            server_cn: list(&self.server_cn, &top.server_cn),
            issuer_thumbprint: list(&self.issuer_thumbprint, &top.issuer_thumbprint),
            insecure: self.insecure || top.insecure,
            token: self.token.clone().or_else(|| top.token.clone()),
            token_cmd: self.token_cmd.clone().or_else(|| top.token_cmd.clone()),
            tls_backend: self.tls_backend.or(top.tls_backend),
        }
    }

    /// Pins the gateway to `thumbprint` when no other way to trust it was given (a publish
    /// profile's `ServerCertThumbprint`); says whether it did.
    pub fn pin_when_unset(&mut self, thumbprint: &str) -> bool {
        if !self.server_thumbprint.is_empty()
            || !self.server_cn.is_empty()
            || self.ca.is_some()
            || self.insecure
        {
            return false;
        }
        self.server_thumbprint.push(thumbprint.to_string());
        true
    }

    /// Whether any TLS setting was given (they need an https endpoint).
    fn any_tls(&self) -> bool {
        self.pem.is_some()
            || self.pfx.is_some()
            || self.ca.is_some()
            || !self.server_thumbprint.is_empty()
            || !self.server_cn.is_empty()
            || self.insecure
            || self.tls_backend.is_some()
    }

    /// Puts the flags on a client builder.
    pub fn apply(&self, mut builder: ClientBuilder) -> Result<ClientBuilder, Failure> {
        if self.any_tls() {
            builder = builder.server_validation(self.validation()?);
            if let Some(identity) = self.identity()? {
                builder = builder.client_identity(identity);
            }
            if let Some(backend) = self.tls_backend {
                builder = builder.tls_backend(match backend {
                    Backend::Rustls => TlsBackend::Rustls,
                    Backend::Native => TlsBackend::NativeTls,
                });
            }
        }
        if let Some(token) = &self.token {
            builder = builder.token_provider(auth::static_token(token.trim()));
        } else if let Some(command) = &self.token_cmd {
            builder = builder.token_provider(token_command(command.clone()));
        }
        Ok(builder)
    }

    fn validation(&self) -> Result<ServerValidation, Failure> {
        let validation = if self.insecure {
            crate::output::note(
                "sfrest: warning: --insecure: the gateway's certificate is not checked; anyone \
                 on the path can read and change this traffic",
            );
            ServerValidation::insecure_accept_any_certificate()
        } else if !self.server_thumbprint.is_empty() {
            ServerValidation::thumbprints(&self.server_thumbprint)?
        } else if !self.server_cn.is_empty() {
            let names = ServerValidation::common_names(&self.server_cn);
            if self.issuer_thumbprint.is_empty() {
                names
            } else {
                names.issuer_thumbprints(&self.issuer_thumbprint)?
            }
        } else {
            ServerValidation::system_roots()
        };
        Ok(match &self.ca {
            Some(ca) => validation.ca_file(ca)?,
            None => validation,
        })
    }

    fn identity(&self) -> Result<Option<Identity>, Failure> {
        if let Some(pem) = &self.pem {
            return Ok(Some(Identity::from_pem_files(
                pem,
                self.key_file.as_deref(),
            )?));
        }
        let Some(pfx) = &self.pfx else {
            return Ok(None);
        };
        let password = match std::env::var("SF_PFX_PASSWORD") {
            Ok(password) => password,
            Err(_) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
                rpassword::prompt_password(format!("Password for {}: ", pfx.display()))
                    .map_err(|e| Failure::Usage(format!("cannot read the password: {e}")))?
            }
            // No terminal to ask on: a PFX without a password is common (exports for tests).
            Err(_) => String::new(),
        };
        Identity::from_pkcs12_file(pfx, &password)
            .map(Some)
            .map_err(|e| match e {
                // The hint only when a password was the problem.
                Error::Certificate { file, problem }
                    if password.is_empty() && problem.contains("wrong password") =>
                {
                    Failure::Usage(format!(
                        "certificate file {file}: {problem} (no password was given: set \
                         SF_PFX_PASSWORD, or run on a terminal to be asked)"
                    ))
                }
                Error::Certificate { file, problem } => {
                    Failure::Usage(format!("certificate file {file}: {problem}"))
                }
                other => Failure::Client(other),
            })
    }
}

/// A provider that runs `command` in the shell and takes its trimmed stdout as the token.
fn token_command(command: String) -> impl auth::TokenProvider {
    auth::token_fn(move |request: TokenRequest| {
        let command = command.clone();
        async move { run_token_command(&command, request.scope()).await }
    })
}

async fn run_token_command(
    command: &str,
    scope: Option<String>,
) -> Result<AccessToken, std::io::Error> {
    let scope = scope.unwrap_or_default();
    let line = command.replace("{scope}", &scope);
    let mut shell = if cfg!(windows) {
        let mut c = tokio::process::Command::new("cmd");
        c.args(["/C", &line]);
        c
    } else {
        let mut c = tokio::process::Command::new("sh");
        c.args(["-c", &line]);
        c
    };
    shell
        .env("SF_TOKEN_SCOPE", &scope)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(TOKEN_CMD_TIMEOUT, shell.output())
        .await
        .map_err(|_| {
            std::io::Error::other(format!(
                "--token-cmd did not finish within {} s",
                TOKEN_CMD_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| std::io::Error::other(format!("cannot run --token-cmd: {e}")))?;
    if !output.status.success() {
        // Its stderr, not its stdout: a failing command may still have printed a token.
        let why = String::from_utf8_lossy(&output.stderr);
        let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(std::io::Error::other(format!(
            "--token-cmd failed ({}): {why}",
            output.status
        )));
    }
    let token = String::from_utf8(output.stdout)
        .map_err(|_| std::io::Error::other("--token-cmd printed something that is not UTF-8"))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(std::io::Error::other("--token-cmd printed nothing"));
    }
    Ok(AccessToken::new(token))
}
