//! `sfrest tour`: the seed pages' walk-through, live, against the seeded emulator (or
//! `--endpoint`): names, recursive paging with continuation tokens, upload sessions by id and
//! by path, then one interrupted upload resumed from its missing ranges and committed.

use futures::TryStreamExt;
use servicefabric_rest::{ChunkRange, Error, emulator::Emulator};
use uuid::Uuid;

use crate::{Cli, table};

const SEED_SESSION: &str = "4a2340e8-d8d8-497c-95fe-cdaa1052f33b";

pub async fn run(cli: &Cli) -> Result<(), Error> {
    // Three names a page, so that paging shows on the small seeded tree.
    let embedded = Emulator::builder().seeded(true).page_max_names(3);
    let (client, _emulator) = crate::connect(cli, embedded, " (3 names a page)").await?;

    println!("== 1. Get sub names: GET /Names/samples/$/GetSubNames");
    let direct: Vec<String> = client
        .sub_names("fabric:/samples", false)
        .try_collect()
        .await?;
    print!(
        "{}",
        table::aligned(
            &["NAME"],
            &direct.into_iter().map(|n| vec![n]).collect::<Vec<_>>()
        )
    );

    println!("\n== 2. Recursively, page by page, following ContinuationToken");
    let mut pages = Box::pin(client.sub_name_pages("fabric:/samples", true));
    let mut number = 0;
    while let Some(page) = pages.try_next().await? {
        number += 1;
        println!(
            "page {number}: {} names, IsConsistent={}, ContinuationToken={}",
            page.names.len(),
            page.is_consistent,
            page.continuation_token
                .as_deref()
                .unwrap_or("\"\" (last page)")
        );
        for name in &page.names {
            println!("  {name}");
        }
    }

    println!(
        "\n== 3. Upload session by id: GET /ImageStore/$/GetUploadSession?session-id={SEED_SESSION}"
    );
    let id: Uuid = SEED_SESSION.parse().map_err(|_| Error::InvalidInput {
        what: "session id",
        value: SEED_SESSION.into(),
        expected: "a UUID".into(),
    })?;
    let by_id = client.upload_sessions_by_id(id).await?;
    print!("{}", table::sessions_table(&by_id));

    println!(
        "\n== 4. Upload sessions by path: GET /ImageStore/SwaggerTest%5CCommon.dll/$/GetUploadSession"
    );
    print!(
        "{}",
        table::sessions_table(
            &client
                .upload_sessions_by_path("SwaggerTest\\Common.dll")
                .await?
        )
    );

    let Some(session) = by_id.into_iter().next() else {
        println!("\n(session {SEED_SESSION} is gone: nothing to resume)");
        return Ok(());
    };
    println!(
        "\n== 5. Resume session {SEED_SESSION}: send only the {} missing bytes, then commit",
        session.missing_bytes()
    );
    for range in &session.expected_ranges {
        let bytes = vec![0u8; usize::try_from(range.len()).unwrap_or(0)];
        client
            .upload_chunk(
                &session.store_relative_path,
                id,
                ChunkRange {
                    start: range.start,
                    end: range.end,
                },
                session.file_size,
                bytes,
            )
            .await?;
        println!("  sent bytes {}-{}", range.start, range.end);
    }
    client.commit_upload_session(id).await?;
    let after = client.upload_sessions_by_id(id).await?;
    println!(
        "  committed; the session is now {} (the gateway answers 204)",
        if after.is_empty() {
            "gone"
        } else {
            "still listed"
        }
    );
    Ok(())
}
