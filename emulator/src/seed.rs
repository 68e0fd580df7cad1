//! The seeded state: the names and upload sessions of the seed pages.

use std::{io, sync::Mutex};

use uuid::Uuid;

use crate::{
    fabric_error::{Code, FabricError},
    image_store::sessions::{Meta, Uploads, now_ms},
    naming::Naming,
};

/// Names the seed pages show under `fabric:/samples` (parents are created implicitly).
pub const NAMES: &[&str] = &[
    "fabric:/samples/CalculatorApp/CalculatorService/Name-1",
    "fabric:/samples/CalculatorApp/CalculatorService/Name-2",
    "fabric:/samples/apps/NotepadApp",
    "fabric:/samples/apps/PersistentQueueApp",
    "fabric:/samples/apps/VolatileQueueApp",
    "fabric:/samples/data",
    "fabric:/samples/mynames/name-1",
];

/// A seeded session: id, `ModifiedDate` in Unix ms, missing ranges.
type SeedSession = (&'static str, i64, [(u64, u64); 2]);

/// The `SwaggerTest\Common.dll` sessions of the seed pages, 2097152 bytes each.
const SESSIONS: &[SeedSession] = &[
    (
        "4a2340e8-d8d8-497c-95fe-cdaa1052f33b",
        1_506_618_397_260,
        [(0, 402_128), (730_105, 2_097_151)],
    ),
    (
        "2032ac6c-a348-4594-86da-dab0f2bb1ae1",
        1_506_619_691_627,
        [(0, 207_615), (626_977, 2_097_151)],
    ),
    (
        "fb2da2b2-7cb4-45d2-a2e6-c4888d205bc5",
        1_506_619_691_643,
        [(0, 616_947), (1_087_529, 2_097_151)],
    ),
];

pub(crate) fn apply(naming: &Naming, uploads: &Mutex<Uploads>) -> io::Result<()> {
    for name in NAMES {
        match naming.create(name) {
            Ok(()) => {}
            // Kept from an earlier run with the same data dir.
            Err(e) if e.code == Code::NameAlreadyExists => {}
            Err(e) => return Err(io::Error::other(format!("{name}: {}", e.code))),
        }
    }
    let mut uploads = uploads
        .lock()
        .map_err(|e| io::Error::other(FabricError::poisoned(e).code.as_str()))?;
    for (id, modified_ms, missing) in SESSIONS {
        let id: Uuid = id.parse().map_err(io::Error::other)?;
        if uploads.by_id(id).is_empty() {
            let meta = Meta {
                path: "SwaggerTest\\Common.dll".into(),
                size: 2_097_152,
                missing: missing.to_vec(),
                modified_ms: *modified_ms,
                touched_ms: now_ms(),
                data: String::new(), // chosen by insert
                committed: false,
            };
            uploads.insert(id, meta)?;
        }
    }
    Ok(())
}
