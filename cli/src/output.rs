//! What the CLI writes, and how it ends. stdout holds only results (valid JSON with `--json`);
//! notes and errors go to stderr. A closed stdout (`sfrest … | head -1`) ends the command
//! quietly instead of panicking in `println!`.

use std::{
    fmt::Display,
    io::{self, Write},
    process::ExitCode,
};

use servicefabric_rest::Error;

/// Why a command did not finish.
pub enum Failure {
    /// The call failed; printed with the gateway's code when there is one.
    Client(Error),
    /// The command line asks for something the CLI will not do; says why.
    Usage(String),
    /// stdout was closed by its reader: nothing left to say.
    ClosedPipe,
    /// SIGINT or SIGTERM; the exit status is 128 + the signal number.
    Signal(u8),
    /// The calls succeeded but what they followed ended badly (an upgrade rolled back or
    /// failed); exit status 1, as for a failed call.
    Outcome(String),
    /// Said already; exit with this status (`app deploy`'s own codes).
    Exit(u8),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Client(e)
    }
}

impl Failure {
    /// Prints the failure to stderr and gives the exit status: 1 for a failed call, 2 for a
    /// refused command line, 0 for a closed pipe, 128 + N for signal N.
    pub fn report(self) -> ExitCode {
        match self {
            Self::Client(Error::Gateway {
                status,
                code,
                message,
                resource,
                ..
            }) => {
                let about = resource.map(|r| format!(" ({r})")).unwrap_or_default();
                // The gateway writes `Null` for codes without a text: not a sentence to show.
                let message = match message.trim() {
                    "" | "Null" => String::new(),
                    text => format!(": {text}"),
                };
                note(format_args!(
                    "error: {code}{message}{about} (HTTP {status})"
                ));
                if status.as_u16() == 404 && about.contains("content path") {
                    note("hint: that path is not in the image store (`sfrest store ls` lists it)");
                }
                ExitCode::FAILURE
            }
            // Input refused before anything was sent: a usage error, as the README says.
            Self::Client(Error::InvalidInput {
                what,
                value,
                expected,
                ..
            }) => {
                note(format_args!(
                    "error: invalid {what} {value:?}: expected {expected}"
                ));
                ExitCode::from(2)
            }
            Self::Client(other) => {
                note(format_args!("error: {other}"));
                if matches!(other.status().map(|s| s.as_u16()), Some(401 | 403)) {
                    note(
                        "hint: the gateway did not accept the credentials: a secured cluster \
                         wants a client certificate it lists (--pem/--pfx) or an Entra ID token \
                         (--token/--token-cmd)",
                    );
                }
                if let Error::Connect(source) = &other {
                    connect_hint(source);
                }
                scheme_hint(&other.to_string());
                ExitCode::FAILURE
            }
            Self::Usage(why) => {
                note(format_args!("error: {why}"));
                ExitCode::from(2)
            }
            Self::Outcome(what) => {
                note(format_args!("error: {what}"));
                ExitCode::FAILURE
            }
            Self::Exit(code) => ExitCode::from(code),
            Self::ClosedPipe => ExitCode::SUCCESS,
            Self::Signal(number) => ExitCode::from(128 + number),
        }
    }
}

/// Writes to stdout; a closed pipe becomes [`Failure::ClosedPipe`].
pub fn out(text: impl Display) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    write!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => Failure::ClosedPipe,
            _ => Failure::Usage(format!("cannot write to stdout: {e}")),
        })
}

/// A line on stderr; never fails (a closed stderr has no one to tell).
pub fn note(text: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// A JSON array of strings.
pub fn json_strings(list: &[String]) -> String {
    // Strings always serialise; the fallback is never taken.
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM; gives the signal's number.
pub async fn interrupted() -> u8 {
    Interrupts::listen().recv().await
}

/// SIGINT and SIGTERM, caught from the moment [`Interrupts::listen`] returns (a signal that
/// arrives before a handler exists would kill the process without cleanup).
pub struct Interrupts {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Interrupts {
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next signal's number.
    pub async fn recv(&mut self) -> u8 {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.signals {
            return tokio::select! {
                _ = int.recv() => 2,
                _ = term.recv() => 15,
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        2
    }
}

/// What to check when no connection could be made.
fn connect_hint(source: &servicefabric_rest::reqwest::Error) {
    let url = source.url();
    let refused = {
        let mut cause: Option<&dyn std::error::Error> = Some(source);
        let mut found = false;
        while let Some(c) = cause {
            if c.to_string().contains("refused") {
                found = true;
            }
            cause = c.source();
        }
        found
    };
    if refused {
        let at = url
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        note(format_args!(
            "hint: nothing accepted the connection at {at}: is a Service Fabric gateway (or \
             `sfrest emulator`) listening there?"
        ));
    }
    if let Some(url) = url
        && url.port().is_none()
    {
        note(
            "hint: the endpoint names no port, so the scheme's default (80/443) was used; a \
             cluster's HTTP gateway usually listens on 19080 (http://host:19080)",
        );
    }
}

/// The scheme does not match the server, or its certificate is not trusted: say which flag
/// fixes it.
fn scheme_hint(text: &str) {
    if text.contains("invalid HTTP version parsed") {
        note(
            "hint: the server answered in TLS: the gateway speaks https; use an https:// endpoint \
             (a secured cluster also needs --pem/--pfx or a token, and a way to trust it)",
        );
    } else if text.contains("InvalidContentType") || text.contains("wrong version number") {
        note(
            "hint: the server does not speak TLS: use an http:// endpoint for an unsecured \
             gateway",
        );
    } else if text.contains("UnknownIssuer")
        || text.contains("certificate verify failed")
        || text.contains("invalid peer certificate")
    {
        note(
            "hint: the gateway's certificate is not trusted by this machine: pin it with \
             --server-thumbprint HEX (the SHA-1 thumbprint Service Fabric shows) or \
             --server-cn NAME, trust its CA with --ca FILE, or, for a throwaway test cluster \
             only, skip the check with --insecure",
        );
    }
}
