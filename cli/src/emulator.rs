//! `sfrest emulator`: the gateway emulator in the foreground, until Ctrl-C or SIGTERM (either
//! way its temporary directory is removed).

use std::{net::ToSocketAddrs, path::PathBuf};

use clap::Args;
use servicefabric_emulator::{Emulator, FaultPlan, HealthRule, TlsOptions};

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
    /// Serve https, as a secured cluster does, with a certificate made at start (its
    /// thumbprint is printed) or the one given by --tls-cert and --tls-key.
    #[arg(long)]
    tls: bool,
    /// With --tls: the certificate chain to serve, PEM (leaf first).
    #[arg(long, value_name = "FILE", requires_all = ["tls", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// With --tls-cert: its private key, PEM.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With --tls: write the served certificate (PEM) here, for tools that trust a file
    /// (curl --cacert, sfctl --ca).
    #[arg(long, value_name = "FILE", requires = "tls")]
    write_cert: Option<PathBuf>,
    /// With --tls: serve only clients whose certificate has this SHA-1 thumbprint (others get
    /// 403); repeatable.
    #[arg(long, value_name = "HEX", requires = "tls")]
    client_thumbprint: Vec<String>,
    /// Act as an Entra ID cluster: every request but GetAadMetadata must carry this bearer
    /// token (401 without, 403 with another). Also read from SF_EMULATOR_TOKEN.
    #[arg(
        long,
        env = "SF_EMULATOR_TOKEN",
        hide_env_values = true,
        requires = "tls"
    )]
    bearer_token: Option<String>,
    /// Upgrade domains of the emulated cluster (UD0, UD1, …).
    #[arg(long, default_value_t = servicefabric_emulator::DEFAULT_UPGRADE_DOMAINS)]
    upgrade_domains: usize,
    /// Run every upgrade timer F times faster (domains, health checks, timeouts).
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    time_scale: f64,
    /// Make applications report a health state: TYPE@VERSION=Ok|Warning|Error[:from=UDn]
    /// (repeatable).
    #[arg(long, value_name = "RULE", value_parser = parse_health)]
    health: Vec<HealthRule>,
}

fn parse_health(text: &str) -> Result<HealthRule, String> {
    text.parse()
}

/// The `--tls` options, reading the given certificate files.
fn tls_options(args: &EmulatorArgs) -> Result<TlsOptions, Failure> {
    let read = |file: &PathBuf| {
        std::fs::read(file).map_err(|e| {
            Failure::Usage(format!(
                "cannot read {} ({e}): expected a PEM file",
                file.display()
            ))
        })
    };
    let options = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => TlsOptions::certificate(read(cert)?, read(key)?),
        _ => TlsOptions::generated(),
    };
    Ok(options.client_thumbprints(&args.client_thumbprint))
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
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err(Failure::Usage(format!(
            "--time-scale {}: expected a positive factor such as 100",
            args.time_scale
        )));
    }
    builder = builder
        .upgrade_domains(args.upgrade_domains)
        .time_scale(args.time_scale);
    for rule in &args.health {
        builder = builder.health(rule.clone());
    }
    if let Some(plan) = &args.faults {
        builder = builder.faults(plan.clone());
    }
    if args.tls {
        builder = builder.tls(tls_options(args)?);
    }
    if let Some(token) = &args.bearer_token {
        builder = builder.bearer_token(token);
    }
    let emulator = builder.start().await.map_err(|e| {
        Failure::Usage(format!(
            "cannot start the emulator on {listen} ({e}): expected a free address this machine \
             owns and a writable data directory"
        ))
    })?;
    // Written before the banner: whoever waits for the banner may read it at once.
    if let (Some(file), Some(pem)) = (&args.write_cert, emulator.server_certificate_pem()) {
        std::fs::write(file, pem)
            .map_err(|e| Failure::Usage(format!("cannot write {} ({e})", file.display())))?;
    }
    let certificate = emulator
        .server_thumbprint()
        .map(|t| format!("certificate thumbprint {t}; "))
        .unwrap_or_default();
    note(format_args!(
        "sfrest: emulator listening on {} ({certificate}data in {}); Ctrl-C stops it",
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
