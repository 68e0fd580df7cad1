//! `sfrest`: the Service Fabric gateway from the command line. Read commands without
//! `--endpoint` (or `SF_ENDPOINT`) run against an embedded emulator holding the seed pages'
//! state; commands that change state need a real target.

mod app;
mod deploy;
mod deploy_view;
mod emulator;
mod lifecycle;
mod output;
mod package_flags;
mod profiles;
mod progress;
mod security;
mod store;
mod table;
mod tour;
mod upload;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use futures::TryStreamExt;
use servicefabric_emulator::{Emulator, EmulatorBuilder};
use servicefabric_rest::{Client, DEFAULT_SERVER_TIMEOUT, Uuid};

use crate::output::{Failure, out};

#[derive(Parser)]
#[command(
    name = "sfrest",
    version,
    about = "Service Fabric HTTP gateway client (REST API 6.0)"
)]
struct Cli {
    /// Where to send requests; also accepted after the subcommand.
    #[command(flatten)]
    target: Target,
    /// How long work shows progress on stderr: bars on a terminal and plain timestamped
    /// lines otherwise (auto), or always one of them, or nothing.
    #[arg(long, value_enum, global = true, default_value_t = progress::ProgressMode::Auto)]
    progress: progress::ProgressMode,
    /// Show the request policy's events on stderr (each retry with its reason and wait,
    /// each failover; the emulator's injected faults); -vv adds every request's span.
    /// RUST_LOG overrides both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Use this saved connection profile (see `sfrest cluster select`) instead of the
    /// default one.
    #[arg(long, global = true, env = "SF_PROFILE")]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The gateway to talk to. Flattened into each command that talks to one, and at the top for
/// `sfrest --endpoint URL names ls …`.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Connection")]
struct Target {
    /// Gateway URL, e.g. http://localhost:19080; repeat it (or separate with commas) for
    /// one gateway per node, tried in turn. Without one, read commands use an embedded
    /// emulator with the seeded state; commands that change state refuse.
    #[arg(long, env = "SF_ENDPOINT", value_delimiter = ',')]
    endpoint: Vec<String>,
    /// Server-side timeout in seconds (1..=4294967295) [default: 60].
    #[arg(long)]
    timeout: Option<u64>,
    /// Boxed: the flags are many, and every command holds a `Target`.
    #[command(flatten)]
    security: Box<security::SecurityArgs>,
}

impl Target {
    /// This target for a saved profile (no secret).
    fn to_profile(&self) -> serde_json::Value {
        serde_json::json!({
            "endpoint": self.endpoint,
            "timeout": self.timeout,
            "security": self.security.to_profile(),
        })
    }

    fn from_profile(value: &serde_json::Value) -> Self {
        Target {
            endpoint: value["endpoint"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            timeout: value["timeout"].as_u64(),
            security: Box::new(security::SecurityArgs::from_profile(&value["security"])),
        }
    }

    /// This target, with what it leaves unsaid taken from the profile in use. Flags and
    /// SF_* variables win; a profile's TLS options apply only with the profile's endpoints.
    fn with_profile(&self) -> Result<Target, Failure> {
        let saved = profiles::Profiles::load()?;
        let Some((_, profile)) = saved.in_use()? else {
            return Ok(self.clone());
        };
        let profile = Target::from_profile(profile);
        if !self.endpoint.is_empty() && self.endpoint != profile.endpoint {
            // Another cluster than the profile's: none of its settings apply.
            return Ok(self.clone());
        }
        Ok(self.or(&profile))
    }

    /// The endpoint, timeout and security options as flags, to repeat in a printed command
    /// (never a secret).
    fn flags(&self) -> String {
        let mut flags = Vec::new();
        if !self.endpoint.is_empty() {
            flags.push(format!("--endpoint '{}'", self.endpoint.join(",")));
        }
        if let Some(timeout) = self.timeout {
            flags.push(format!("--timeout {timeout}"));
        }
        flags.extend(self.security.flags());
        flags.join(" ")
    }

    /// This command's flags, else the top-level ones.
    fn or(&self, top: &Target) -> Target {
        Target {
            endpoint: if self.endpoint.is_empty() {
                top.endpoint.clone()
            } else {
                self.endpoint.clone()
            },
            timeout: self.timeout.or(top.timeout),
            security: Box::new(self.security.or(&top.security)),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Connection profiles: `select` saves one (as `sfctl cluster select`), `show` lists them.
    Cluster {
        #[command(subcommand)]
        command: profiles::ClusterCommand,
    },
    /// Print a completion script for a shell: `sfrest completions bash > ~/.local/share/bash-completion/completions/sfrest`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Service Fabric names.
    Names {
        #[command(subcommand)]
        command: NamesCommand,
    },
    /// Show image-store upload sessions and the byte ranges they still miss; commit or delete
    /// one.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        group(clap::ArgGroup::new("key").required(true).args(["id", "path"]))
    )]
    UploadSession {
        #[command(subcommand)]
        command: Option<SessionCommand>,
        #[command(flatten)]
        show: SessionShow,
    },
    /// Upload a local file to the image store in chunks and commit it; resumable.
    Upload(upload::UploadArgs),
    /// Application packages: upload a folder to the image store, provision its type.
    App {
        #[command(subcommand)]
        command: app::AppCommand,
    },
    /// The image store's content: list, delete, sizes.
    Store {
        #[command(subcommand)]
        command: store::StoreCommand,
    },
    /// Run the gateway emulator in the foreground (for curl, sfctl, the Python SDK).
    Emulator(emulator::EmulatorArgs),
    /// Walk through the three operations: on the seeded embedded emulator, or on --endpoint
    /// under a unique prefix it cleans up.
    Tour {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum NamesCommand {
    /// List the names under NAME (fabric:/samples or samples), following every page.
    Ls {
        /// The parent name.
        name: String,
        /// All descendants, not only direct children.
        #[arg(long)]
        recursive: bool,
        /// Print a JSON array of names (printed whole, or not at all on failure).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Create NAME; missing parents are created too.
    Create {
        /// The name (fabric:/a/b or a/b).
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Delete NAME (it must have no children).
    Rm {
        /// The name (fabric:/a/b or a/b).
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print `true` or `false`: whether NAME exists.
    Exists {
        /// The name (fabric:/a/b or a/b).
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

/// `upload-session --id ID | --path PATH`: exactly one of them (the `key` group).
#[derive(Args)]
struct SessionShow {
    /// The session id (a UUID).
    #[arg(long)]
    id: Option<Uuid>,
    /// The image-store relative path (e.g. SwaggerTest\Common.dll).
    #[arg(long)]
    path: Option<String>,
    /// Print JSON (numbers as numbers).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(Subcommand)]
enum SessionCommand {
    /// Commit a complete session: the file appears in the image store.
    Commit {
        /// The session id.
        #[arg(long)]
        id: Uuid,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a session and the chunks it received.
    Delete {
        /// The session id.
        #[arg(long)]
        id: Uuid,
        #[command(flatten)]
        target: Target,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::set_mode(cli.progress);
    profiles::select(cli.profile.clone());
    logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            output::note(format_args!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let (outcome, shown) = runtime.block_on(async {
        let outcome = run(cli).await;
        let shown = match &outcome {
            Err(Failure::Client(error)) => untrusted_certificate(error).await,
            _ => None,
        };
        (outcome, shown)
    });
    // Do not wait for tasks still blocked on a dead peer.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let code = failure.report();
            if let Some(shown) = shown {
                output::note(shown);
            }
            code
        }
    }
}

/// A gateway whose certificate this machine does not trust: shows its SHA-1 thumbprint, so
/// that it can be checked and pinned with --server-thumbprint. It is read with a pin nothing
/// matches, so the validation reports what the server showed; no request is sent.
async fn untrusted_certificate(error: &servicefabric_rest::Error) -> Option<String> {
    use servicefabric_rest::{Error, tls::ServerValidation};
    let (Error::Connect(source) | Error::Transport(source)) = error else {
        return None;
    };
    let text = error.to_string();
    if !(text.contains("UnknownIssuer") || text.contains("certificate verify failed")) {
        return None;
    }
    let origin = source.url().map(|u| u.origin().ascii_serialization())?;
    let pin = ServerValidation::thumbprints(["0".repeat(40)]).ok()?;
    let probe = Client::builder(&origin)
        .server_validation(pin)
        .retry_policy(servicefabric_rest::RetryPolicy::none())
        .http_timeout(std::time::Duration::from_secs(10))
        .build()
        .ok()?;
    match probe.cluster_version().await {
        Err(Error::ServerCertificate { mismatch, .. }) => Some(format!(
            "note: the certificate {origin} showed: {}",
            mismatch.found
        )),
        _ => None,
    }
}

/// The client for `target`, or for an embedded emulator started from `embedded` (kept alive
/// by the returned handle); says so on stderr.
pub(crate) async fn connect(
    target: &Target,
    embedded: EmulatorBuilder,
    note: &str,
) -> Result<(Client, Option<Emulator>), Failure> {
    connect_to(&target.with_profile()?, embedded, note).await
}

/// As [`connect`], for `target` as it is (no saved profile).
pub(crate) async fn connect_to(
    target: &Target,
    embedded: EmulatorBuilder,
    note: &str,
) -> Result<(Client, Option<Emulator>), Failure> {
    let (endpoints, emulator) = match target.endpoint.as_slice() {
        [_, ..] => (target.endpoint.clone(), None),
        [] => {
            let emulator = embedded.start().await.map_err(|e| {
                Failure::Usage(format!(
                    "cannot start the embedded emulator ({e}): it needs a free loopback port and \
                     a writable temporary directory"
                ))
            })?;
            output::note(format_args!(
                "sfrest: no --endpoint or SF_ENDPOINT given; using an embedded emulator with the \
                 seeded state at {}{note}",
                emulator.endpoint()
            ));
            (vec![emulator.endpoint().to_string()], Some(emulator))
        }
    };
    let builder = Client::builder(&endpoints[0])
        .endpoints(&endpoints)
        .server_timeout(target.timeout.unwrap_or(DEFAULT_SERVER_TIMEOUT));
    let client = target.security.apply(builder)?.build()?;
    Ok((client, emulator))
}

/// The client for a command that changes state: only a real target will do, since an
/// embedded emulator would take the change and vanish with it.
pub(crate) async fn connect_for_change(target: &Target, command: &str) -> Result<Client, Failure> {
    let target = &target.with_profile()?;
    if target.endpoint.is_empty() {
        return Err(Failure::Usage(format!(
            "`sfrest {command}` changes state, so it needs a gateway: give --endpoint URL or set \
             SF_ENDPOINT (for a local one, run `sfrest emulator` and pass the URL it prints)"
        )));
    }
    let (client, _) = connect(target, Emulator::builder(), "").await?;
    Ok(client)
}

/// `-v`: the policy's events (info); `-vv`: every request's span too (debug, printed when it
/// closes, with its fields). `RUST_LOG` overrides both. Nothing is installed otherwise.
fn logging(verbose: u8) {
    use tracing_subscriber::{EnvFilter, fmt::format::FmtSpan};
    let from_env = std::env::var_os("RUST_LOG").is_some();
    if verbose == 0 && !from_env {
        return;
    }
    let level = if verbose >= 2 { "debug" } else { "info" };
    let filter = if from_env {
        EnvFilter::from_default_env()
    } else {
        EnvFilter::new(format!(
            "servicefabric_rest={level},servicefabric_deploy={level},servicefabric_emulator={level}"
        ))
    };
    let spans = if verbose >= 2 {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(spans)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let top = &cli.target;
    match cli.command {
        Command::Emulator(args) => emulator::run(&args).await,
        Command::Cluster { command } => profiles::run(command, top).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "sfrest",
                &mut script,
            );
            out(String::from_utf8_lossy(&script))
        }
        Command::Tour { target } => tour::run(&target.or(top)).await,
        Command::Upload(args) => upload::run(&args, &args.target.or(top)).await,
        Command::Names { command } => names(command, top).await,
        Command::App { command } => app::run(command, top).await,
        Command::Store { command } => store::run(command, top).await,
        Command::UploadSession { command, show } => match (command, show) {
            (Some(SessionCommand::Commit { id, target }), _) => {
                let client = connect_for_change(&target.or(top), "upload-session commit").await?;
                client.commit_upload_session(id).await?;
                out(format_args!("committed upload session {id}\n"))
            }
            (Some(SessionCommand::Delete { id, target }), _) => {
                let client = connect_for_change(&target.or(top), "upload-session delete").await?;
                client.delete_upload_session(id).await?;
                out(format_args!("deleted upload session {id}\n"))
            }
            (None, show) => show_sessions(show, top).await,
        },
    }
}

async fn names(command: NamesCommand, top: &Target) -> Result<(), Failure> {
    match command {
        NamesCommand::Ls {
            name,
            recursive,
            json,
            target,
        } => {
            let (client, _emulator) =
                connect(&target.or(top), Emulator::builder().seeded(true), "").await?;
            let mut names = client.sub_names(&name, recursive);
            if json {
                // Printed whole once every page has arrived: valid JSON or nothing.
                let all: Vec<String> = names.try_collect().await?;
                return out(format_args!("{}\n", output::json_strings(&all)));
            }
            // The header goes out with the first row: a failure leaves stdout empty.
            let mut count = 0usize;
            while let Some(name) = names.try_next().await? {
                if count == 0 {
                    out("NAME\n")?;
                }
                out(format_args!("{name}\n"))?;
                count += 1;
            }
            output::note(format_args!("{count} names"));
            Ok(())
        }
        NamesCommand::Create { name, target } => {
            let client = connect_for_change(&target.or(top), "names create").await?;
            client.create_name(&name).await?;
            out(format_args!("created {name}\n"))
        }
        NamesCommand::Rm { name, target } => {
            let client = connect_for_change(&target.or(top), "names rm").await?;
            client.delete_name(&name).await?;
            out(format_args!("deleted {name}\n"))
        }
        NamesCommand::Exists { name, target } => {
            let (client, _emulator) =
                connect(&target.or(top), Emulator::builder().seeded(true), "").await?;
            let exists = client.name_exists(&name).await?;
            out(format_args!("{exists}\n"))
        }
    }
}

async fn show_sessions(show: SessionShow, top: &Target) -> Result<(), Failure> {
    let (client, _emulator) =
        connect(&show.target.or(top), Emulator::builder().seeded(true), "").await?;
    let sessions = match (&show.id, &show.path) {
        (Some(id), _) => client.upload_sessions_by_id(*id).await?,
        (None, Some(path)) => client.upload_sessions_by_path(path).await?,
        (None, None) => Vec::new(),
    };
    if show.json {
        out(format_args!("{}\n", table::sessions_json(&sessions)))
    } else if sessions.is_empty() {
        out("no upload session\n")
    } else {
        out(table::sessions_table(&sessions))
    }
}

#[cfg(test)]
mod tests {
    /// clap checks a command's flags only when it runs; this checks every command's.
    #[test]
    fn every_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    /// The flags a printed command repeats: the connection, never a token.
    #[test]
    fn printed_flags_carry_the_connection_and_no_secret() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "sfrest",
            "names",
            "ls",
            "samples",
            "--endpoint",
            "https://a:19080,https://b:19080",
            "--timeout",
            "30",
            "--token",
            "tok-secret",
            "--server-thumbprint",
            "AB12",
            "--ca",
            "my ca.pem",
        ])
        .expect("parses");
        let super::Command::Names {
            command: super::NamesCommand::Ls { target, .. },
        } = cli.command
        else {
            panic!("names ls");
        };
        let flags = target.flags();
        assert_eq!(
            flags,
            "--endpoint 'https://a:19080,https://b:19080' --timeout 30 --ca 'my ca.pem' --server-thumbprint AB12"
        );
        assert!(!flags.contains("tok-secret"));
    }
}
