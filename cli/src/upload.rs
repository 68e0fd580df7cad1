//! `sfrest upload`: a resumable upload, and the command that resumes it when there is
//! something on the server to resume.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
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
    /// Keep a resume record here (a file, or a directory): a later run resumes by itself, and
    /// starts over if the file changed meanwhile.
    #[arg(long)]
    resume_record: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
}

pub async fn run(args: &UploadArgs, target: &Target) -> Result<(), Failure> {
    let client = crate::connect_for_change(target, "upload").await?;
    let id = args.session_id.unwrap_or_else(Uuid::new_v4);
    let bar = progress_bar();
    let shown = bar.clone();
    let options = UploadOptions {
        session_id: args.session_id,
        chunk_size: args.chunk_size,
        resume_record: args.resume_record.clone(),
        progress: Some(ProgressFn::new(move |p| {
            shown.set_length(p.total);
            shown.set_position(p.acknowledged);
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
    let outcome = tokio::select! {
        outcome = client.upload_file(&args.file, &args.path, &options) => outcome,
        signal = interrupted() => {
            bar.abandon();
            hint(&client, args, id).await;
            return Err(Failure::Signal(signal));
        }
    };
    bar.finish_and_clear();
    match outcome {
        Ok(report) => {
            if report.started_over {
                note(format_args!(
                    "sfrest: {} changed since its upload session began; sent again in session {}",
                    args.file.display(),
                    report.session_id
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
            hint(&client, args, id).await;
            Err(e.into())
        }
    }
}

/// A byte progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Prints the resume command when session `id` exists on the server for this path, or when
/// the server cannot be asked (it may still hold the session).
async fn hint(client: &Client, args: &UploadArgs, id: Uuid) {
    if let Some(record) = &args.resume_record {
        note(format_args!(
            "sfrest: run the same command again to resume (the session is in {})",
            record.display()
        ));
        return;
    }
    let command = format!(
        "sfrest upload '{}' --path '{}' --session-id {id}",
        args.file.display(),
        args.path
    );
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
