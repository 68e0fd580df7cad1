//! `sfrest store ls|rm|du`: the image store's content.

use clap::Subcommand;
use futures::TryStreamExt;
use servicefabric_emulator::Emulator;

use crate::{
    Target,
    output::{Failure, note, out},
    table,
};

#[derive(Subcommand)]
pub enum StoreCommand {
    /// List the files and folders directly under PATH (the store's root without one).
    Ls {
        /// A path in the image store (Store-relative, `\` or `/` separated).
        path: Option<String>,
        /// Print JSON (sizes as numbers).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a file, or a folder with everything in it.
    Rm {
        /// A path in the image store.
        path: String,
        #[command(flatten)]
        target: Target,
    },
    /// Files and bytes under PATH, at every depth (the whole store without one).
    Du {
        /// A path in the image store.
        path: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(command: StoreCommand, top: &Target) -> Result<(), Failure> {
    match command {
        StoreCommand::Ls { path, json, target } => {
            let (client, _emulator) =
                crate::connect(&target.or(top), Emulator::builder(), "").await?;
            let mut pages = client.store_pages(path.as_deref());
            let mut rows = Vec::new();
            let mut items = Vec::new();
            loop {
                let page = match pages.try_next().await {
                    Ok(Some(page)) => page,
                    Ok(None) => break,
                    // The gateway's bodiless 404: say it in words.
                    Err(e) if e.is_not_found() => {
                        return Err(Failure::Outcome(format!(
                            "{} is not in the image store (`sfrest store ls` lists its root)",
                            path.as_deref().unwrap_or("the path")
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                for folder in page.folders {
                    rows.push(vec![
                        "dir".into(),
                        String::new(),
                        folder.file_count.to_string(),
                        folder.path.clone(),
                    ]);
                    items.push(serde_json::json!({
                        "type": "folder", "path": folder.path, "fileCount": folder.file_count,
                    }));
                }
                for file in page.files {
                    rows.push(vec![
                        "file".into(),
                        file.size.to_string(),
                        String::new(),
                        file.path.clone(),
                    ]);
                    items.push(serde_json::json!({
                        "type": "file", "path": file.path, "size": file.size,
                        "modified": file.modified_date.map(|d| d.to_rfc3339()),
                    }));
                }
            }
            if json {
                return out(format_args!("{}\n", serde_json::Value::Array(items)));
            }
            if rows.is_empty() {
                return out("empty\n");
            }
            out(table::aligned(&["TYPE", "SIZE", "FILES", "PATH"], &rows))
        }
        StoreCommand::Rm { path, target } => {
            let client = crate::connect_for_change(&target.or(top), "store rm").await?;
            client.delete_store_content(&path).await?;
            out(format_args!("deleted {path}\n"))
        }
        StoreCommand::Du { path, target } => {
            let (client, _emulator) =
                crate::connect(&target.or(top), Emulator::builder(), "").await?;
            if let Some(path) = &path
                && client.store_content(Some(path)).await?.is_none()
            {
                note(format_args!("sfrest: {path} is not in the image store"));
            }
            let files = client.store_files(path.as_deref()).await?;
            let bytes: u64 = files.iter().map(|f| f.size).sum();
            out(format_args!(
                "{} files, {bytes} bytes in {}\n",
                files.len(),
                path.as_deref().unwrap_or("the image store")
            ))
        }
    }
}
