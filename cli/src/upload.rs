//! `sfrest upload`: a resumable upload, and the command that resumes it when there is
//! something on the server to resume.

use std::{path::PathBuf, time::Duration};

use crate::progress::Progress;
use clap::Args;
use servicefabric_deploy::{ClientExt, ProgressFn, UploadOptions};
use servicefabric_rest::{Client, Error, Uuid};

use crate::{
    Target,
    output::{Failure, interrupted, note, out},
};

/// How long to wait for the session read-back that decides whether to print the resume hint.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct UploadArgs {
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
    /// Chunks sent at once.
    #[arg(long, default_value_t = 4)]
    chunks_in_flight: usize,
    /// Keep a resume record here (a file, or a directory): a later run resumes by itself, and
    /// starts over if the file changed meanwhile.
    #[arg(long)]
    resume_record: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub target: Target,
}

pub async fn run(args: &UploadArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "upload").await?;
    let id = args.session_id.unwrap_or_else(Uuid::new_v4);
    let progress = std::sync::Arc::new(Progress::start(&format!("upload {}", args.path), false));
    let shown = progress.clone();
    let found = std::sync::Arc::new(std::sync::OnceLock::new());
    let options = UploadOptions {
        session_id: args.session_id,
        chunk_size: args.chunk_size,
        chunks_in_flight: args.chunks_in_flight,
        resume_record: args.resume_record.clone(),
        progress: Some(ProgressFn::new(move |p| {
            // The first report is the session read back: what an earlier run sent.
            let found = *found.get_or_init(|| p.acknowledged);
            shown.bytes(p.acknowledged, p.total, found);
        })),
        ..UploadOptions::default()
    };
    // Without a record the session id is chosen here, so an interruption can name it.
    let options = UploadOptions {
        session_id: options
            .session_id
            .or(args.resume_record.is_none().then_some(id)),
        ..options
    };
    if args.resume_record.is_some() {
        // Hashing a large file takes a moment before the first byte goes out: say so.
        progress.phase("reading the file's SHA-256 for the resume record");
    }
    let outcome = tokio::select! {
        outcome = client.upload_file(&args.file, &args.path, &options) => outcome,
        signal = interrupted() => {
            progress.clear();
            hint(&client, args, target, id).await;
            return Err(Failure::Signal(signal));
        }
    };
    match &outcome {
        Ok(_) => progress.finish(),
        Err(_) => progress.clear(),
    }
    match outcome {
        Ok(report) => {
            if report.started_over {
                note(format_args!(
                    "sfrest: {} changed since its upload session began; sent again in session {}",
                    args.file.display(),
                    report.session_id
                ));
            }
            if args.json {
                return out(format_args!(
                    "{}\n",
                    serde_json::json!({
                        "Path": args.path, "SessionId": report.session_id, "FileSize": report.file_size,
                        "BytesSent": report.bytes_sent, "ChunksSent": report.chunks_sent,
                        "ResumedBytes": report.resumed_bytes, "Retries": report.retries,
                        "StartedOver": report.started_over, "Committed": true,
                    })
                ));
            }
            out(format_args!(
                "uploaded {} of {} bytes in {} chunks to {} (session {}, {} resumed, {} retries); committed\n",
                report.bytes_sent,
                report.file_size,
                report.chunks_sent,
                args.path,
                report.session_id,
                report.resumed_bytes,
                report.retries
            ))
        }
        // Refused before anything was sent: there is nothing to resume.
        Err(e @ Error::InvalidInput { .. }) => Err(e.into()),
        Err(e) => {
            hint(&client, args, target, id).await;
            Err(e.into())
        }
    }
}

/// Prints the resume command when session `id` exists on the server for this path, or when
/// the server cannot be asked (it may still hold the session).
async fn hint(client: &Client, args: &UploadArgs, target: &Target, id: Uuid) {
    if let Some(record) = &args.resume_record {
        note(format_args!(
            "sfrest: run the same command again to resume (the session is in {})",
            record.display()
        ));
        return;
    }
    // Complete, so that pasting it works: the connection flags too (never a secret).
    let command = format!(
        "sfrest upload '{}' --path '{}' --session-id {id} {}",
        args.file.display(),
        args.path,
        target.flags()
    );
    let command = command.trim_end().to_string();
    let wanted = args.path.replace('/', "\\");
    match tokio::time::timeout(CHECK_TIMEOUT, client.upload_sessions_by_id(id)).await {
        Ok(Ok(sessions)) => {
            let resumable = sessions
                .iter()
                .any(|s| s.store_relative_path == args.path || s.store_relative_path == wanted);
            if resumable {
                note(format_args!("sfrest: resume with: {command}"));
            } else {
                note(format_args!(
                    "sfrest: the gateway holds no upload session {id} for this path: nothing to \
                     resume"
                ));
            }
        }
        Ok(Err(e)) => note(format_args!(
            "sfrest: cannot check upload session {id} ({e}); if it exists, resume with: {command}"
        )),
        Err(_) => note(format_args!(
            "sfrest: no answer checking upload session {id}; if it exists, resume with: {command}"
        )),
    }
}
