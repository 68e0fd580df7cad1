//! `sfrest`: the Service Fabric gateway from the command line. Without `--endpoint` (or
//! `SF_ENDPOINT`) it runs against an embedded emulator holding the seed pages' state.

mod table;
mod tour;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use futures::TryStreamExt;
use servicefabric_rest::{
    Client, Error, UploadOptions,
    emulator::{Emulator, EmulatorBuilder},
};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "sfrest",
    version,
    about = "Service Fabric HTTP gateway client (REST API 6.0)"
)]
struct Cli {
    /// Gateway URL, e.g. http://localhost:19080. Without one, an embedded emulator with the
    /// seeded state is used.
    #[arg(long, env = "SF_ENDPOINT", global = true)]
    endpoint: Option<String>,
    /// Server-side timeout in seconds (1..=4294967295).
    #[arg(long, default_value_t = 60, global = true)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Service Fabric names.
    Names {
        #[command(subcommand)]
        command: NamesCommand,
    },
    /// Show image-store upload sessions and the byte ranges they still miss.
    UploadSession(SessionArgs),
    /// Upload a local file to the image store in chunks and commit it; resumable.
    Upload(UploadArgs),
    /// Run the gateway emulator in the foreground (for curl, sfctl, the Python SDK).
    Emulator(EmulatorArgs),
    /// Walk through the three operations against the seeded emulator, paging included.
    Tour,
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
        /// Print a JSON array of names.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct SessionArgs {
    #[command(flatten)]
    target: SessionTarget,
    /// Print JSON (numbers as numbers).
    #[arg(long)]
    json: bool,
}

/// Exactly one of `--id` and `--path`.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct SessionTarget {
    /// The session id (a UUID).
    #[arg(long)]
    id: Option<Uuid>,
    /// The image-store relative path (e.g. SwaggerTest\Common.dll).
    #[arg(long)]
    path: Option<String>,
}

#[derive(Args)]
struct UploadArgs {
    /// The local file.
    file: PathBuf,
    /// Image-store relative path to upload to (e.g. Store\\MyApp\\Code.zip).
    #[arg(long)]
    path: String,
    /// Resume this session (printed by an earlier, interrupted upload).
    #[arg(long)]
    session_id: Option<Uuid>,
    /// Largest chunk in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    chunk_size: u64,
}

#[derive(Args)]
struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:19080")]
    listen: SocketAddr,
    /// Keep state here across restarts (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Start empty instead of with the seed pages' names and sessions.
    #[arg(long)]
    no_seed: bool,
    /// Cut GetSubNames pages at this many bytes.
    #[arg(long)]
    page_bytes: Option<usize>,
    /// Cut GetSubNames pages at this many names.
    #[arg(long)]
    page_max_names: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

fn report(e: &Error) {
    match e {
        Error::Gateway {
            status,
            code,
            message,
        } => {
            eprintln!("error: {code}: {message} (HTTP {status})")
        }
        other => eprintln!("error: {other}"),
    }
}

/// The client for `--endpoint`, or for an embedded emulator started from `embedded` (kept
/// alive by the returned handle); says so on stderr.
pub(crate) async fn connect(
    cli: &Cli,
    embedded: EmulatorBuilder,
    note: &str,
) -> Result<(Client, Option<Emulator>), Error> {
    let (endpoint, emulator) = match &cli.endpoint {
        Some(endpoint) => (endpoint.clone(), None),
        None => {
            let emulator = embedded.start().await.map_err(|e| Error::InvalidInput {
                what: "embedded emulator",
                value: e.to_string(),
                expected: "a free loopback port and a writable temporary directory".into(),
            })?;
            eprintln!(
                "sfrest: no --endpoint or SF_ENDPOINT given; using an embedded emulator with the seeded state at {}{note}",
                emulator.endpoint()
            );
            (emulator.endpoint().to_string(), Some(emulator))
        }
    };
    let client = Client::builder(&endpoint)
        .server_timeout(cli.timeout)
        .build()?;
    Ok((client, emulator))
}

async fn run(cli: Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Emulator(args) => return run_emulator(args).await,
        Command::Tour => return tour::run(&cli).await,
        _ => {}
    }
    let (client, _emulator) = connect(&cli, Emulator::builder().seeded(true), "").await?;
    match cli.command {
        Command::Names {
            command:
                NamesCommand::Ls {
                    name,
                    recursive,
                    json,
                },
        } => {
            let mut names = Box::pin(client.sub_names(&name, recursive));
            let mut count = 0usize;
            if json {
                print!("[");
            } else {
                println!("NAME");
            }
            while let Some(name) = names.try_next().await? {
                if json {
                    let sep = if count == 0 { "" } else { "," };
                    print!("{sep}{}", serde_json::Value::String(name));
                } else {
                    println!("{name}");
                }
                count += 1;
            }
            if json {
                println!("]");
            } else {
                eprintln!("{count} names");
            }
        }
        Command::UploadSession(args) => {
            let sessions = match (&args.target.id, &args.target.path) {
                (Some(id), _) => client.upload_sessions_by_id(*id).await?,
                (None, Some(path)) => client.upload_sessions_by_path(path).await?,
                (None, None) => Vec::new(),
            };
            if args.json {
                println!("{}", table::sessions_json(&sessions));
            } else if sessions.is_empty() {
                println!("no upload session");
            } else {
                print!("{}", table::sessions_table(&sessions));
            }
        }
        Command::Upload(args) => {
            let options = UploadOptions {
                session_id: Some(args.session_id.unwrap_or_else(Uuid::new_v4)),
                chunk_size: args.chunk_size,
                ..UploadOptions::default()
            };
            let id = options.session_id.unwrap_or_default();
            match client.upload_file(&args.file, &args.path, &options).await {
                Ok(report) => println!(
                    "uploaded {} of {} bytes in {} chunks to {} (session {}, {} retries); committed",
                    report.bytes_sent,
                    report.file_size,
                    report.chunks_sent,
                    args.path,
                    report.session_id,
                    report.retries
                ),
                Err(e) => {
                    eprintln!(
                        "sfrest: resume with: sfrest upload {} --path '{}' --session-id {id}",
                        args.file.display(),
                        args.path
                    );
                    return Err(e);
                }
            }
        }
        Command::Emulator(_) | Command::Tour => {}
    }
    Ok(())
}

async fn run_emulator(args: &EmulatorArgs) -> Result<(), Error> {
    let mut builder = Emulator::builder()
        .listen(args.listen)
        .seeded(!args.no_seed);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(bytes) = args.page_bytes {
        builder = builder.page_bytes(bytes);
    }
    if let Some(names) = args.page_max_names {
        builder = builder.page_max_names(names);
    }
    let emulator = builder.start().await.map_err(|e| Error::InvalidInput {
        what: "listen address",
        value: format!("{} ({e})", args.listen),
        expected: "a free address this machine owns".into(),
    })?;
    eprintln!(
        "sfrest: emulator listening on {} (data in {}); Ctrl-C stops it",
        emulator.endpoint(),
        emulator.data_dir().display()
    );
    let _ = tokio::signal::ctrl_c().await;
    emulator.shutdown().await;
    Ok(())
}
