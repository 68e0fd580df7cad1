//! `sfrest emulator`: the gateway emulator in the foreground, until Ctrl-C or SIGTERM (either
//! way its temporary directory is removed).

use std::{net::ToSocketAddrs, path::PathBuf};

use clap::Args;
use servicefabric_emulator::{Emulator, FaultPlan};

use crate::output::{Failure, note};

#[derive(Args)]
pub struct EmulatorArgs {
    /// Address to listen on (HOST:PORT; port 0 picks a free one, e.g. localhost:0).
    #[arg(long, default_value = "127.0.0.1:19080")]
    listen: String,
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
    /// Inject faults, seeded: "seed=N;*:503=F,504=F,drop=F,latency=MSms;OPERATION:..."
    /// (fractions of requests; OPERATION is an operationId such as UploadFileChunk).
    #[arg(long, value_parser = parse_faults)]
    faults: Option<FaultPlan>,
}

fn parse_faults(text: &str) -> Result<FaultPlan, String> {
    text.parse()
}

pub async fn run(args: &EmulatorArgs) -> Result<(), Failure> {
    let listen = args
        .listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "invalid --listen {:?}: expected HOST:PORT, such as 127.0.0.1:19080 or localhost:0",
                args.listen
            ))
        })?;
    let mut signals = crate::output::Interrupts::listen();
    let mut builder = Emulator::builder().listen(listen).seeded(!args.no_seed);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(bytes) = args.page_bytes {
        builder = builder.page_bytes(bytes);
    }
    if let Some(names) = args.page_max_names {
        builder = builder.page_max_names(names);
    }
    if let Some(plan) = &args.faults {
        builder = builder.faults(plan.clone());
    }
    let emulator = builder.start().await.map_err(|e| {
        Failure::Usage(format!(
            "cannot start the emulator on {listen} ({e}): expected a free address this machine \
             owns and a writable data directory"
        ))
    })?;
    note(format_args!(
        "sfrest: emulator listening on {} (data in {}); Ctrl-C stops it",
        emulator.endpoint(),
        emulator.data_dir().display()
    ));
    if let Some(plan) = &args.faults {
        note(format_args!("sfrest: injecting faults: {plan}"));
    }
    let signal = signals.recv().await;
    // Dropping the emulator removes its temporary directory.
    emulator.shutdown().await;
    note(format_args!("sfrest: emulator stopped (signal {signal})"));
    Ok(())
}
