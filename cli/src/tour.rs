//! `sfrest tour`: the seed pages' walk-through, live: names, recursive paging with
//! continuation tokens, upload sessions by id and by path, then an interrupted upload resumed
//! from its expected ranges (the gateway's word for the bytes it still misses).
//!
//! On the embedded emulator it reads the seeded state, commits the seeded session, then deploys
//! a sample application twice (created, then upgraded through every domain with a diff
//! package) and a third time (already at target). On
//! `--endpoint` it touches nothing that exists: it creates names under a unique prefix and one
//! upload session of its own, and removes them all afterwards, on failure and Ctrl-C too.

use futures::TryStreamExt;
use servicefabric_deploy::{ClientExt, DeployOptions};
use servicefabric_emulator::{Emulator, SamplePackage, write_sample_package};
use servicefabric_rest::{ChunkRange, Client, Uuid};

use crate::{
    Target,
    output::{Failure, interrupted, note, out},
    table,
};

const SEED_SESSION: Uuid = Uuid::from_u128(0x4a2340e8_d8d8_497c_95fe_cdaa1052f33b);
/// The names the tour creates on a real gateway, below its prefix (the seed pages' shape).
const TOUR_NAMES: &[&str] = &[
    "apps/NotepadApp",
    "apps/PersistentQueueApp",
    "apps/VolatileQueueApp",
    "data",
    "mynames/name-1",
];
/// Size of the tour's own upload; its first and last thirds are sent before the tour starts.
const TOUR_FILE_BYTES: u64 = 96 * 1024;

/// What the walk-through reads.
struct Scene {
    root: String,
    session: Uuid,
    path: String,
    /// Commit at the end (the embedded emulator), or delete the session (a real gateway).
    commit: bool,
}

pub async fn run(target: &Target) -> Result<(), Failure> {
    // Three names a page, so that paging shows on the small seeded tree.
    // Three names a page, so that paging shows on the small seeded tree; upgrade timers
    // 500 times faster, so that the deploy's health checks take a moment.
    let embedded = Emulator::builder()
        .seeded(true)
        .page_max_names(3)
        .upgrade_domains(3)
        .time_scale(500.0);
    let (client, emulator) = crate::connect(target, embedded, " (3 names a page)").await?;
    if emulator.is_some() {
        let scene = Scene {
            root: "fabric:/samples".into(),
            session: SEED_SESSION,
            path: "SwaggerTest\\Common.dll".into(),
            commit: true,
        };
        walk(&client, &scene).await?;
        return deploy(&client).await;
    }
    let tag = Uuid::new_v4().simple().to_string();
    let scene = Scene {
        root: format!("fabric:/sfrest-tour-{}", &tag[..12]),
        session: Uuid::new_v4(),
        path: format!("sfrest-tour-{}\\Common.dll", &tag[..12]),
        commit: false,
    };
    note(format_args!(
        "sfrest: touring {} under {} with its own names and upload session; they are removed at \
         the end",
        client.endpoint(),
        scene.root
    ));
    let outcome = tokio::select! {
        outcome = async {
            set_up(&client, &scene).await?;
            walk(&client, &scene).await
        } => outcome,
        signal = interrupted() => Err(Failure::Signal(signal)),
    };
    let cleaned = clean_up(&client, &scene).await;
    outcome.and(cleaned)
}

/// Creates the tour's names and a session missing its middle third.
async fn set_up(client: &Client, scene: &Scene) -> Result<(), Failure> {
    for name in TOUR_NAMES {
        client
            .create_name(&format!("{}/{name}", scene.root))
            .await?;
    }
    let third = TOUR_FILE_BYTES / 3;
    for range in [
        ChunkRange {
            start: 0,
            end: third - 1,
        },
        ChunkRange {
            start: 2 * third,
            end: TOUR_FILE_BYTES - 1,
        },
    ] {
        let bytes = tour_bytes(range);
        client
            .upload_chunk(&scene.path, scene.session, range, TOUR_FILE_BYTES, bytes)
            .await?;
    }
    Ok(())
}

/// Removes everything under the tour's prefix (deepest first) and its session.
async fn clean_up(client: &Client, scene: &Scene) -> Result<(), Failure> {
    let _ = client.delete_upload_session(scene.session).await;
    let mut names: Vec<String> = match client.sub_names(&scene.root, true).try_collect().await {
        Ok(names) => names,
        Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    names.sort_by_key(|n| std::cmp::Reverse(n.matches('/').count()));
    names.push(scene.root.clone());
    for name in &names {
        client.delete_name(name).await?;
    }
    note(format_args!(
        "sfrest: removed the tour's {} names and its session",
        names.len()
    ));
    Ok(())
}

/// The bytes of `range` of the tour's file: a repeating pattern, so it is not all zeros.
fn tour_bytes(range: ChunkRange) -> Vec<u8> {
    (range.start..=range.end).map(|i| (i % 251) as u8).collect()
}

async fn walk(client: &Client, scene: &Scene) -> Result<(), Failure> {
    let root_id = scene.root.trim_start_matches("fabric:/");
    out(format_args!(
        "== 1. Get sub names: GET /Names/{root_id}/$/GetSubNames\n"
    ))?;
    let direct: Vec<String> = client.sub_names(&scene.root, false).try_collect().await?;
    let rows: Vec<Vec<String>> = direct.into_iter().map(|n| vec![n]).collect();
    out(table::aligned(&["NAME"], &rows))?;

    out("\n== 2. Recursively, page by page, following ContinuationToken\n")?;
    let mut pages = client.sub_name_pages(&scene.root, true);
    let mut number = 0;
    while let Some(page) = pages.try_next().await? {
        number += 1;
        out(format_args!(
            "page {number}: {} names, IsConsistent={}, ContinuationToken={}\n",
            page.names.len(),
            page.is_consistent,
            page.continuation_token
                .as_deref()
                .unwrap_or("\"\" (last page)")
        ))?;
        for name in &page.names {
            out(format_args!("  {name}\n"))?;
        }
    }

    let id = scene.session;
    out(format_args!(
        "\n== 3. Upload session by id: GET /ImageStore/$/GetUploadSession?session-id={id}\n"
    ))?;
    let by_id = client.upload_sessions_by_id(id).await?;
    out(table::sessions_table(&by_id))?;

    out(format_args!(
        "\n== 4. Upload sessions by path: GET /ImageStore/{}/$/GetUploadSession\n",
        scene.path.replace('\\', "%5C")
    ))?;
    out(table::sessions_table(
        &client.upload_sessions_by_path(&scene.path).await?,
    ))?;

    let Some(session) = by_id.into_iter().next() else {
        return out(format_args!(
            "\n(session {id} is gone: nothing to resume)\n"
        ));
    };
    out(format_args!(
        "\n== 5. Resume session {id}: send only the {} missing bytes\n",
        session.missing_bytes()
    ))?;
    for range in &session.expected_ranges {
        client
            .upload_chunk(
                &session.store_relative_path,
                id,
                *range,
                session.file_size,
                tour_bytes(*range),
            )
            .await?;
        out(format_args!("  sent bytes {}-{}\n", range.start, range.end))?;
    }
    let complete = client
        .upload_sessions_by_id(id)
        .await?
        .iter()
        .any(|s| s.is_complete());
    out(format_args!(
        "  the gateway now reports the session {}\n",
        if complete {
            "complete"
        } else {
            "still incomplete"
        }
    ))?;
    if scene.commit {
        client.commit_upload_session(id).await?;
        let after = client.upload_sessions_by_id(id).await?;
        out(format_args!(
            "  committed; the gateway {} (it keeps a committed session until it is deleted or \
             expires)\n",
            if after.iter().any(|s| s.is_complete()) {
                "still lists the session, with no missing range"
            } else {
                "no longer lists the session"
            }
        ))
    } else {
        out("  not committed: the tour leaves no file in your image store\n")
    }
}

/// Step 6, on the embedded emulator only (a real cluster's applications are not a tour's to
/// change): a sample application created, upgraded with a diff package, then found at target.
async fn deploy(client: &Client) -> Result<(), Failure> {
    let work = tempfile::tempdir().map_err(|e| {
        Failure::Usage(format!(
            "cannot make a temporary folder for the sample packages: {e}"
        ))
    })?;
    let mut packages = Vec::new();
    for version in ["1.0.0", "2.0.0"] {
        let dir = work.path().join(version);
        let sample = SamplePackage {
            type_version: version.into(),
            changed_services: usize::from(version != "1.0.0"),
            large_file_bytes: 0,
            ..SamplePackage::default()
        };
        write_sample_package(&dir, &sample).map_err(|e| {
            Failure::Usage(format!("cannot write a sample package to {dir:?}: {e}"))
        })?;
        packages.push(dir);
    }
    out("\n== 6. Deploy an application: `sfrest app deploy DIR`, three times\n")?;
    let mut options = DeployOptions {
        diff: true,
        poll_interval: std::time::Duration::from_millis(100),
        ..DeployOptions::default()
    };
    options.package.resume_dir = Some(work.path().join("resume"));
    for dir in [&packages[0], &packages[1], &packages[1]] {
        let report = client.deploy(dir, &options).await?;
        let upload = report
            .upload
            .as_ref()
            .map_or("nothing uploaded".to_string(), |u| {
                format!(
                    "{} files uploaded{}",
                    u.files_sent,
                    if report.diff { " (diff package)" } else { "" }
                )
            });
        let domains = report.upgrade.as_ref().map_or(String::new(), |u| {
            format!(", {} upgrade domains", u.domains.len())
        });
        out(format_args!(
            "  {} {} {}: {}; {upload}{domains}\n",
            report.application,
            report.type_name,
            report.type_version,
            report.outcome.as_str()
        ))?;
    }
    Ok(())
}
