//! Image-store upload sessions: chunk bytes on disk, missing ranges in memory and in a small
//! JSON file per session, so that a restart with the same data directory loses nothing
//! acknowledged.

use std::{
    collections::{HashMap, HashSet},
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fabric_error::{Code, FabricError};

/// What is kept of a session, on disk as `sessions/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// Store-relative path with backslashes, as the gateway reports it.
    pub path: String,
    pub size: u64,
    /// Inclusive ranges not yet received, in order.
    pub missing: Vec<(u64, u64)>,
    /// `ModifiedDate`, in Unix milliseconds.
    pub modified_ms: i64,
    /// Last activity, for expiry, in Unix milliseconds.
    pub touched_ms: i64,
    /// The data file's name in `sessions/`: new for each session that reuses an id, so a chunk
    /// still streaming into a deleted session can never land in its successor.
    #[serde(default)]
    pub data: String,
    /// Committed: the file is in the store. The session stays listed, complete, until it is
    /// deleted or expires, as the runtime keeps it.
    #[serde(default)]
    pub committed: bool,
}

/// A chunk that passed the checks and may be written.
pub(crate) struct ChunkPlan {
    pub id: Uuid,
    pub start: u64,
    pub end: u64,
    pub data: PathBuf,
    new: Option<Meta>,
}

/// Chunks of one session whose bytes are being written: their ranges are taken, and for a
/// session not created yet, its path, size and data file are those of its first chunk.
#[derive(Debug)]
struct InFlight {
    path: String,
    size: u64,
    data: String,
    ranges: Vec<(u64, u64)>,
}

/// The longest path segment and path the store takes (NTFS and ext4 take 255-byte names).
const MAX_SEGMENT_BYTES: usize = 255;
const MAX_PATH_BYTES: usize = 1024;

#[derive(Debug)]
pub(crate) struct Uploads {
    root: PathBuf,
    sessions: HashMap<Uuid, Meta>,
    committed: HashSet<Uuid>,
    ttl: Duration,
    max_file_bytes: u64,
    in_flight: HashMap<Uuid, InFlight>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The data file name a plan writes to.
fn plan_data_name(plan: &ChunkPlan) -> String {
    plan.data
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

fn range_error() -> FabricError {
    FabricError::of(Code::UploadSessionRangeNotSatisfiable)
}

/// `bytes {first}-{last}/{length}`.
fn parse_content_range(header: Option<&str>) -> Result<(u64, u64, u64), FabricError> {
    let value = header.ok_or_else(range_error)?.trim();
    let rest = value.strip_prefix("bytes ").ok_or_else(range_error)?;
    let (span, size) = rest.split_once('/').ok_or_else(range_error)?;
    let (start, end) = span.split_once('-').ok_or_else(range_error)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| range_error());
    Ok((num(start)?, num(end)?, num(size)?))
}

/// The store path as relative file-system segments, refusing anything that could escape.
pub(crate) fn store_segments(path: &str) -> Result<Vec<&str>, FabricError> {
    let segments: Vec<&str> = path.split(['\\', '/']).filter(|s| !s.is_empty()).collect();
    let unsafe_segment = |s: &&str| *s == "." || *s == ".." || s.contains(':') || s.contains('\0');
    if segments.is_empty() || segments.iter().any(unsafe_segment) {
        return Err(FabricError::invalid_arg());
    }
    // Refused at chunk time too, so a session that could never be committed never starts.
    if path.len() > MAX_PATH_BYTES || segments.iter().any(|s| s.len() > MAX_SEGMENT_BYTES) {
        return Err(FabricError::of(Code::PathTooLong));
    }
    Ok(segments)
}

/// The gateway reports store paths with Windows separators; matching is exact otherwise.
pub(crate) fn normalise_path(path: &str) -> String {
    path.replace('/', "\\")
}

impl Uploads {
    /// Opens (or creates) the upload state under `root`, reloading sessions left by a previous run.
    pub fn open(root: &Path, ttl: Duration, max_file_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(root.join("sessions"))?;
        fs::create_dir_all(root.join("store"))?;
        let mut sessions = HashMap::new();
        for entry in fs::read_dir(root.join("sessions"))? {
            let path = entry?.path();
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<Uuid>().ok());
            if let (Some(id), Some("json")) = (id, path.extension().and_then(|e| e.to_str())) {
                let text = fs::read_to_string(&path)?;
                if let Ok(mut meta) = serde_json::from_str::<Meta>(&text) {
                    if meta.data.is_empty() {
                        meta.data = format!("{id}.data"); // written by an older emulator
                    }
                    sessions.insert(id, meta);
                }
            }
        }
        let committed = fs::read_to_string(root.join("committed.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let mut uploads = Self {
            root: root.to_path_buf(),
            sessions,
            committed,
            ttl,
            max_file_bytes,
            in_flight: HashMap::new(),
        };
        uploads.recover()?;
        uploads.expire();
        Ok(uploads)
    }

    /// After a crash: finishes commits that were logged but not done, and removes data files
    /// no session owns (chunks aborted mid-body, deleted sessions, half-written metas).
    fn recover(&mut self) -> io::Result<()> {
        let logged: Vec<Uuid> = self
            .sessions
            .keys()
            .filter(|id| self.committed.contains(id))
            .copied()
            .collect();
        for id in logged {
            // The rename may or may not have happened; finish_commit copes with both.
            let _ = self.finish_commit(id);
        }
        let owned: HashSet<String> = self.sessions.values().map(|m| m.data.clone()).collect();
        for entry in fs::read_dir(self.root.join("sessions"))? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let orphan_data = name.ends_with(".data") && !owned.contains(name);
            if orphan_data || name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(())
    }

    fn data_path(&self, data: &str) -> PathBuf {
        self.root.join("sessions").join(data)
    }

    /// Whether a session or a chunk in flight still writes to this data file.
    fn data_in_use(&self, data: &str) -> bool {
        self.sessions.values().any(|m| m.data == data)
            || self.in_flight.values().any(|f| f.data == data)
    }

    fn meta_path(&self, id: Uuid) -> PathBuf {
        self.root.join("sessions").join(format!("{id}.json"))
    }

    /// Where committed files go.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    fn persist(&self, id: Uuid, meta: &Meta) -> io::Result<()> {
        let tmp = self.root.join("sessions").join(format!("{id}.json.tmp"));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(meta).map_err(io::Error::other)?)?;
        file.sync_all()?;
        fs::rename(tmp, self.meta_path(id))
    }

    fn remove_files(&self, id: Uuid, data: &str) {
        let _ = fs::remove_file(self.meta_path(id));
        let _ = fs::remove_file(self.data_path(data));
    }

    /// Drops sessions idle for longer than the TTL.
    pub fn expire(&mut self) {
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        let expired: Vec<Uuid> = self
            .sessions
            .iter()
            .filter(|(id, m)| {
                now.saturating_sub(m.touched_ms) > ttl && !self.in_flight.contains_key(id)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(meta) = self.sessions.remove(&id) {
                self.remove_files(id, &meta.data);
            }
        }
    }

    pub fn by_id(&mut self, id: Uuid) -> Vec<(Uuid, Meta)> {
        self.expire();
        self.sessions
            .get(&id)
            .map(|m| (id, m.clone()))
            .into_iter()
            .collect()
    }

    /// The sessions of `path`, matched exactly as received (case and separators).
    pub fn by_path(&mut self, path: &str) -> Vec<(Uuid, Meta)> {
        self.expire();
        let mut found: Vec<(Uuid, Meta)> = self
            .sessions
            .iter()
            .filter(|(_, m)| m.path == path)
            .map(|(id, m)| (*id, m.clone()))
            .collect();
        found.sort_by_key(|(id, m)| (m.modified_ms, *id));
        found
    }

    /// Checks a chunk against the session it names (or creates), and reserves its range
    /// until [`Uploads::finish_chunk`] or [`Uploads::release`].
    pub fn plan_chunk(
        &mut self,
        path: &str,
        id: Uuid,
        content_range: Option<&str>,
    ) -> Result<ChunkPlan, FabricError> {
        self.expire();
        store_segments(path)?;
        // Kept as received: `A/b` and `A\b` are two sessions' paths, as in the runtime.
        let path = path.to_string();
        let (start, end, size) = parse_content_range(content_range)?;
        let conflict = || FabricError::of(Code::UploadSessionIdConflict);
        let (known_path, known_size) = match (self.sessions.get(&id), self.in_flight.get(&id)) {
            (Some(meta), _) => (Some(&meta.path), Some(meta.size)),
            (None, Some(flight)) => (Some(&flight.path), Some(flight.size)),
            (None, None) => (None, None),
        };
        if known_path.is_some_and(|p| *p != path) {
            return Err(conflict());
        }
        // Another total for a known session is checked before the ranges are.
        if known_size.is_some_and(|s| s != size) {
            return Err(FabricError::invalid_arg());
        }
        let zero_byte_quirk = size == 0 && start == 0 && end == 0;
        if start > end || (end >= size && !zero_byte_quirk) {
            return Err(range_error());
        }
        if size > self.max_file_bytes {
            return Err(FabricError::of(Code::ValueTooLarge));
        }
        let fits = match self.sessions.get(&id) {
            Some(meta) => {
                zero_byte_quirk || meta.missing.iter().any(|&(s, e)| s <= start && end <= e)
            }
            None => true,
        };
        let overlaps_in_flight = self
            .in_flight
            .get(&id)
            .is_some_and(|f| f.ranges.iter().any(|&(s, e)| start <= e && s <= end));
        if !fits || overlaps_in_flight {
            return Err(range_error());
        }
        let data = match (self.sessions.get(&id), self.in_flight.get(&id)) {
            (Some(meta), _) => meta.data.clone(),
            (None, Some(flight)) => flight.data.clone(),
            (None, None) => format!("{id}.{}.data", Uuid::new_v4().simple()),
        };
        let new = (!self.sessions.contains_key(&id)).then(|| {
            let now = now_ms();
            Meta {
                path: path.clone(),
                size,
                missing: vec![(0, size.saturating_sub(1))],
                modified_ms: now,
                touched_ms: now,
                data: data.clone(),
                committed: false,
            }
        });
        self.in_flight
            .entry(id)
            .or_insert_with(|| InFlight {
                path,
                size,
                data: data.clone(),
                ranges: Vec::new(),
            })
            .ranges
            .push((start, end));
        Ok(ChunkPlan {
            id,
            start,
            end,
            data: self.data_path(&data),
            new,
        })
    }

    /// Gives up a reserved range (the chunk was refused or its request ended early). A data
    /// file nothing owns any more (an aborted first chunk) is removed.
    pub fn release(&mut self, plan: &ChunkPlan) {
        let data = plan_data_name(plan);
        if let Some(flight) = self.in_flight.get_mut(&plan.id)
            && flight.data == data
        {
            if let Some(i) = flight
                .ranges
                .iter()
                .position(|&r| r == (plan.start, plan.end))
            {
                flight.ranges.swap_remove(i);
            }
            if flight.ranges.is_empty() {
                self.in_flight.remove(&plan.id);
            }
        }
        if !self.data_in_use(&data) {
            let _ = fs::remove_file(&plan.data);
        }
    }

    /// Records a chunk whose bytes are on disk (and synced). Fails if its session was
    /// deleted while it streamed (its bytes went to the dead session's file, now removed).
    pub fn finish_chunk(&mut self, plan: ChunkPlan) -> Result<(), FabricError> {
        let data = plan_data_name(&plan);
        let owner_alive = self.in_flight.get(&plan.id).is_some_and(|f| f.data == data)
            || self.sessions.get(&plan.id).is_some_and(|m| m.data == data);
        if !owner_alive {
            self.release(&plan);
            return Err(FabricError::invalid_arg());
        }
        let ChunkPlan {
            id,
            start,
            end,
            new,
            ..
        } = plan;
        if let Some(meta) = new {
            // A concurrent first chunk may have created the session meanwhile.
            self.sessions.entry(id).or_insert(meta);
        }
        if let Some(flight) = self.in_flight.get_mut(&id) {
            if let Some(i) = flight.ranges.iter().position(|&r| r == (start, end)) {
                flight.ranges.swap_remove(i);
            }
            if flight.ranges.is_empty() {
                self.in_flight.remove(&id);
            }
        }
        let Some(meta) = self.sessions.get_mut(&id) else {
            return Ok(());
        };
        if meta.size > 0 {
            meta.missing = meta
                .missing
                .iter()
                .flat_map(|&(s, e)| {
                    if s <= start && end <= e {
                        let before = (start > s).then(|| (s, start - 1));
                        let after = (end < e).then(|| (end + 1, e));
                        [before, after]
                    } else {
                        [Some((s, e)), None]
                    }
                })
                .flatten()
                .collect();
        }
        let now = now_ms();
        meta.modified_ms = now;
        meta.touched_ms = now;
        let meta = meta.clone();
        self.persist(id, &meta).map_err(FabricError::io)
    }

    /// Puts a complete session's file into the store. The id is logged first, so a commit
    /// cut short (a crash) is finished on the next start instead of failing forever.
    /// Committing a committed session again answers 200 and changes nothing; one that was
    /// deleted or expired is unknown (400).
    pub fn commit(&mut self, id: Uuid) -> Result<(), FabricError> {
        self.expire();
        let meta = self
            .sessions
            .get(&id)
            .ok_or_else(FabricError::invalid_arg)?;
        if meta.committed {
            return Ok(());
        }
        if meta.size == 0 || !meta.missing.is_empty() || self.in_flight.contains_key(&id) {
            return Err(FabricError::invalid_arg());
        }
        store_segments(&meta.path)?;
        if !self.committed.contains(&id) {
            let mut log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.root.join("committed.log"))
                .map_err(FabricError::io)?;
            writeln!(log, "{id}")
                .and_then(|()| log.sync_all())
                .map_err(FabricError::io)?;
            self.committed.insert(id);
        }
        self.finish_commit(id)
    }

    /// Moves a logged commit's data into the store (unless that already happened) and marks
    /// the session committed; it stays listed until deleted or expired.
    fn finish_commit(&mut self, id: Uuid) -> Result<(), FabricError> {
        let meta = self
            .sessions
            .get(&id)
            .ok_or_else(FabricError::invalid_arg)?;
        let mut target = self.store_dir();
        target.extend(store_segments(&meta.path)?);
        let data = self.data_path(&meta.data);
        if data.exists() {
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir).map_err(FabricError::io)?;
            }
            fs::rename(&data, &target).map_err(FabricError::io)?;
        }
        let Some(meta) = self.sessions.get_mut(&id) else {
            return Ok(());
        };
        if !meta.committed {
            meta.committed = true;
            let meta = meta.clone();
            self.persist(id, &meta).map_err(FabricError::io)?;
        }
        Ok(())
    }

    /// Drops a session and its bytes; chunks still streaming into it are refused at the end.
    pub fn delete(&mut self, id: Uuid) {
        self.in_flight.remove(&id);
        if let Some(meta) = self.sessions.remove(&id) {
            self.remove_files(id, &meta.data);
        }
    }

    /// Adds a session as it stands (for the seeded state); its data file is sparse.
    pub fn insert(&mut self, id: Uuid, mut meta: Meta) -> io::Result<()> {
        meta.data = format!("{id}.{}.data", Uuid::new_v4().simple());
        fs::File::create(self.data_path(&meta.data))?.set_len(meta.size)?;
        self.persist(id, &meta)?;
        self.sessions.insert(id, meta);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uploads() -> (tempfile::TempDir, Uploads) {
        let dir = tempfile::tempdir().expect("tempdir");
        let u = Uploads::open(dir.path(), Duration::from_secs(60), u64::MAX).expect("open");
        (dir, u)
    }

    fn chunk(u: &mut Uploads, id: Uuid, range: &str) -> Result<(), FabricError> {
        let plan = u.plan_chunk("a\\f.bin", id, Some(range))?;
        // What the HTTP handler does between plan and finish: the bytes land in the data file.
        let file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&plan.data)
            .expect("data");
        file.set_len(file.metadata().expect("meta").len().max(plan.end + 1))
            .expect("extend");
        u.finish_chunk(plan).expect("finish");
        Ok(())
    }

    #[test]
    fn ranges_conflicts_and_commit() {
        let (dir, mut u) = uploads();
        let id = Uuid::new_v4();
        chunk(&mut u, id, "bytes 10-19/30").expect("middle");
        assert_eq!(u.by_id(id)[0].1.missing, [(0, 9), (20, 29)]);
        assert_eq!(
            chunk(&mut u, id, "bytes 15-24/30").map_err(|f| f.code.as_str()),
            Err("FABRIC_E_UPLOAD_SESSION_RANGE_NOT_SATISFIABLE"),
            "overlap"
        );
        assert_eq!(
            chunk(&mut u, id, "bytes 10-19/30").map_err(|f| f.code.as_str()),
            Err("FABRIC_E_UPLOAD_SESSION_RANGE_NOT_SATISFIABLE"),
            "re-sent"
        );
        assert_eq!(
            chunk(&mut u, id, "bytes 0-9/31").map_err(|f| f.code.as_str()),
            Err("E_INVALIDARG"),
            "other total, checked before the ranges"
        );
        assert_eq!(
            u.plan_chunk("other", id, Some("bytes 0-9/30"))
                .map(|_| ())
                .map_err(|f| f.code.as_str()),
            Err("FABRIC_E_UPLOAD_SESSION_ID_CONFLICT")
        );
        for bad in ["bytes 5-4/30", "bytes 0-30/30", "0-9/30", "bytes a-b/c", ""] {
            assert_eq!(
                u.plan_chunk("a\\f.bin", Uuid::new_v4(), Some(bad))
                    .map(|_| ())
                    .map_err(|f| f.code.as_str()),
                Err("FABRIC_E_UPLOAD_SESSION_RANGE_NOT_SATISFIABLE"),
                "{bad}"
            );
        }
        assert_eq!(
            u.commit(id).map_err(|f| f.code.as_str()),
            Err("E_INVALIDARG"),
            "incomplete"
        );
        chunk(&mut u, id, "bytes 0-9/30").expect("head");
        chunk(&mut u, id, "bytes 20-29/30").expect("tail");
        assert!(u.by_id(id)[0].1.missing.is_empty());
        u.commit(id).expect("commit");
        assert!(dir.path().join("store/a/f.bin").is_file());
        let listed = u.by_id(id);
        assert_eq!(listed.len(), 1, "a committed session stays listed");
        assert!(listed[0].1.missing.is_empty() && listed[0].1.committed);
        assert_eq!(u.by_path("a\\f.bin").len(), 1);
        u.commit(id).expect("commit again is 200");
        assert_eq!(
            chunk(&mut u, id, "bytes 0-9/30").map_err(|f| f.code.as_str()),
            Err("FABRIC_E_UPLOAD_SESSION_RANGE_NOT_SATISFIABLE"),
            "nothing is missing from a committed session"
        );
        assert!(
            u.in_flight.is_empty(),
            "every reservation released: {:?}",
            u.in_flight
        );
        assert_eq!(
            u.commit(Uuid::new_v4()).map_err(|f| f.code.as_str()),
            Err("E_INVALIDARG")
        );
        u.delete(id);
        assert!(u.by_id(id).is_empty(), "deleted");
        assert!(dir.path().join("store/a/f.bin").is_file(), "the file stays");
        assert_eq!(
            u.commit(id).map_err(|f| f.code.as_str()),
            Err("E_INVALIDARG"),
            "a deleted session is unknown"
        );
    }

    #[test]
    fn sessions_survive_reopen_and_expire() {
        let (dir, mut u) = uploads();
        let id = Uuid::new_v4();
        chunk(&mut u, id, "bytes 0-4/10").expect("chunk");
        let again = Uploads::open(dir.path(), Duration::from_secs(60), u64::MAX).expect("reopen");
        assert_eq!(again.sessions[&id].missing, [(5, 9)]);
        let mut expired = Uploads::open(dir.path(), Duration::ZERO, u64::MAX).expect("reopen");
        std::thread::sleep(Duration::from_millis(5));
        assert!(expired.by_id(id).is_empty());
    }

    #[test]
    fn store_paths_cannot_escape() {
        for bad in ["..\\x", "a/../b", "", "\\", "c:\\x"] {
            assert!(store_segments(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// The missing ranges always equal a simple model: the set of bytes never accepted.
        #[test]
        fn missing_ranges_match_a_byte_model(size in 1u64..64, chunks in proptest::collection::vec((0u64..64, 0u64..16), 0..40)) {
            let (_dir, mut u) = uploads();
            let id = Uuid::new_v4();
            let mut received = vec![false; size as usize];
            let mut created = false;
            for (start, len) in chunks {
                let end = start + len;
                let fits_model = end < size && (!created || received[start as usize..=end as usize].iter().all(|r| !r));
                let result = chunk(&mut u, id, &format!("bytes {start}-{end}/{size}"));
                prop_assert_eq!(result.is_ok(), fits_model, "chunk {}-{}", start, end);
                if result.is_ok() {
                    created = true;
                    for b in start..=end { received[b as usize] = true; }
                }
            }
            if created {
                let mut model = Vec::new();
                let mut b = 0;
                while b < size {
                    if !received[b as usize] {
                        let s = b;
                        while b < size && !received[b as usize] { b += 1; }
                        model.push((s, b - 1));
                    } else { b += 1; }
                }
                prop_assert_eq!(&u.by_id(id)[0].1.missing, &model);
            }
        }
    }
}
