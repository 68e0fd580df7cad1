//! `sfrest tour`: the seed pages' walk-through, live: names, recursive paging with
//! continuation tokens, upload sessions by id and by path, then an interrupted upload resumed
//! from its expected ranges (the gateway's word for the bytes it still misses).
//!
//! On the embedded emulator it reads the seeded state and commits the seeded session. On
//! `--endpoint` it touches nothing that exists: it creates names under a unique prefix and one
//! upload session of its own, and removes them all afterwards, on failure and Ctrl-C too.

use futures::TryStreamExt;
use servicefabric_emulator::Emulator;
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
    let embedded = Emulator::builder().seeded(true).page_max_names(3);
    let (client, emulator) = crate::connect(target, embedded, " (3 names a page)").await?;
    if emulator.is_some() {
        let scene = Scene {
            root: "fabric:/samples".into(),
            session: SEED_SESSION,
            path: "SwaggerTest\\Common.dll".into(),
            commit: true,
        };
        return walk(&client, &scene).await;
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
