//! Naming: a hierarchy of full names (`fabric:/a/b`) in ordinal order, with implicit parents
//! and per-name sub-name versions for continuation tokens and `IsConsistent`, kept across
//! restarts in `names.log`.

use std::{
    collections::BTreeMap,
    fs,
    io::{self, BufRead, BufWriter, Write},
    ops::Bound::{Excluded, Included, Unbounded},
    path::Path,
    sync::{Mutex, MutexGuard},
};

use crate::fabric_error::{Code, FabricError};

const ROOT: &str = "fabric:/";
const MAX_NAME_CHARS: usize = 512;
const MAX_TOKEN_CHARS: usize = 4096;

/// What a name carries: the version of its set of direct children.
#[derive(Debug, Clone, Copy)]
struct Entry {
    children_version: u64,
}

/// The name tree. Keys are full names; Rust's `str` order is the runtime's ordinal order for
/// the names the runtime accepts (`.` before `/`, upper case before lower case).
#[derive(Debug, Default)]
pub(crate) struct Names {
    entries: BTreeMap<String, Entry>,
    next_version: u64,
}

/// One page of `GetSubNames`.
pub(crate) struct Page {
    pub token: String,
    pub is_consistent: bool,
    pub names: Vec<String>,
}

/// Limits of a page: the runtime cuts at a byte size; a count cap is optional.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageLimits {
    pub bytes: usize,
    pub max_names: Option<usize>,
}

/// The Naming service: the tree, and `names.log` (`+name` / `-name`) to rebuild it after a
/// restart.
pub(crate) struct Naming {
    tree: Mutex<Names>,
    log: Mutex<BufWriter<fs::File>>,
}

impl Naming {
    /// Opens the service under `data_dir`, replaying what was acknowledged before.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let path = data_dir.join("names.log");
        let mut names = Names::default();
        replay(&path, &mut names)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            tree: Mutex::new(names),
            log: Mutex::new(BufWriter::new(log)),
        })
    }

    /// The tree, for reads.
    pub fn tree(&self) -> Result<MutexGuard<'_, Names>, FabricError> {
        self.tree.lock().map_err(FabricError::poisoned)
    }

    // The log line is written while the tree is still locked: two requests on one name must
    // reach the log in the order they changed the tree, or a restart replays them wrongly.
    pub fn create(&self, name: &str) -> Result<(), FabricError> {
        let mut tree = self.tree()?;
        tree.create(name)?;
        self.log(&mut std::iter::once(format!("+{name}")))
    }

    pub fn delete(&self, name: &str) -> Result<(), FabricError> {
        let mut tree = self.tree()?;
        tree.delete(name)?;
        self.log(&mut std::iter::once(format!("-{name}")))
    }

    /// Creates many names under one lock; existing ones are skipped. Returns how many were
    /// created, and the first refused name with its error.
    pub fn create_many<I, S>(
        &self,
        names: I,
    ) -> Result<(usize, Option<(String, FabricError)>), FabricError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut created = Vec::new();
        let mut refused = None;
        // The tree stays locked until the log has every name created, as for one create.
        let mut tree = self.tree()?;
        for name in names {
            let name = name.as_ref();
            match tree.create(name) {
                Ok(()) => created.push(format!("+{name}")),
                Err(e) if e.code == Code::NameAlreadyExists => {}
                Err(e) => {
                    refused = Some((name.to_string(), e));
                    break;
                }
            }
        }
        let count = created.len();
        self.log(&mut created.into_iter())?;
        drop(tree);
        Ok((count, refused))
    }

    fn log(&self, lines: &mut dyn Iterator<Item = String>) -> Result<(), FabricError> {
        let mut log = self.log.lock().map_err(FabricError::poisoned)?;
        for line in lines {
            writeln!(log, "{line}").map_err(FabricError::poisoned)?;
        }
        log.flush().map_err(FabricError::poisoned)
    }
}

fn replay(log: &Path, names: &mut Names) -> io::Result<()> {
    let Ok(file) = fs::File::open(log) else {
        return Ok(());
    };
    for line in io::BufReader::new(file).lines() {
        let line = line?;
        // Replaying what was acknowledged: a line that no longer applies is skipped.
        let _ = match line.split_at_checked(1) {
            Some(("+", name)) => names.create(name),
            Some(("-", name)) => names.delete(name),
            _ => Ok(()),
        };
    }
    Ok(())
}

/// Checks a full name as Naming does.
pub(crate) fn validate(name: &str) -> Result<(), FabricError> {
    let bad = || FabricError::of(Code::InvalidNameUri);
    let rest = name.strip_prefix(ROOT).ok_or_else(bad)?;
    if rest.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || rest.starts_with('/')
        || rest.contains("//")
        || rest.ends_with('/')
        || rest.contains(['$', '+', '|', '~'])
        || rest.chars().any(char::is_control)
    {
        return Err(bad());
    }
    Ok(())
}

fn parent(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(ROOT)?;
    rest.rfind('/').map(|i| &name[..ROOT.len() + i])
}

fn not_found() -> FabricError {
    FabricError::of(Code::NameDoesNotExist)
}

impl Names {
    fn bump(&mut self, name: &str) {
        self.next_version += 1;
        let version = self.next_version;
        if let Some(entry) = self.entries.get_mut(name) {
            entry.children_version = version;
        }
    }

    fn new_entry(&mut self) -> Entry {
        self.next_version += 1;
        Entry {
            children_version: self.next_version,
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Creates `name` and its missing parents.
    pub fn create(&mut self, name: &str) -> Result<(), FabricError> {
        validate(name)?;
        if self.exists(name) {
            return Err(FabricError::of(Code::NameAlreadyExists));
        }
        let mut missing = vec![name.to_string()];
        let mut cursor = name;
        while let Some(p) = parent(cursor) {
            if self.exists(p) {
                break;
            }
            missing.push(p.to_string());
            cursor = p;
        }
        for created in missing.into_iter().rev() {
            let entry = self.new_entry();
            if let Some(p) = parent(&created) {
                self.bump(p);
            }
            self.entries.insert(created, entry);
        }
        Ok(())
    }

    /// Deletes `name`, which must have no children.
    pub fn delete(&mut self, name: &str) -> Result<(), FabricError> {
        validate(name)?;
        if !self.exists(name) {
            return Err(not_found());
        }
        if self.descendants(name, None).next().is_some() {
            return Err(FabricError::of(Code::NameNotEmpty));
        }
        self.entries.remove(name);
        if let Some(p) = parent(name) {
            self.bump(p);
        }
        Ok(())
    }

    /// Descendants of `name` in order, after `after` when given.
    fn descendants<'a>(
        &'a self,
        name: &str,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a String> + 'a {
        let prefix = format!("{name}/");
        let start = match after {
            Some(after) => Excluded(after.to_string()),
            None => Included(prefix.clone()),
        };
        self.entries
            .range::<String, _>((start, Unbounded))
            .map(|(k, _)| k)
            .take_while(move |k| k.starts_with(&prefix))
    }

    /// One page of the names under `parent`, after the position a token gives.
    pub fn page(
        &self,
        parent: &str,
        recursive: bool,
        token: Option<&str>,
        limits: PageLimits,
    ) -> Result<Page, FabricError> {
        let entry = self.entries.get(parent).ok_or_else(not_found)?;
        let (after, version) = match token {
            Some(token) => {
                let (after, version) = parse_token(parent, token)?;
                (Some(after), version)
            }
            None => (None, entry.children_version),
        };
        let depth = parent.matches('/').count() + 1;
        let mut names = Vec::new();
        let mut bytes = 64;
        let mut more = false;
        for name in self
            .descendants(parent, after.as_deref())
            .filter(|n| recursive || n.matches('/').count() == depth)
        {
            let size = name.len() + 4;
            let full = limits.max_names.is_some_and(|max| names.len() >= max)
                || (!names.is_empty() && bytes + size > limits.bytes);
            if full {
                more = true;
                break;
            }
            bytes += size;
            names.push(name.clone());
        }
        let token = match (more, names.last()) {
            (true, Some(last)) => format!("{}${version}", escape_token(last)),
            _ => String::new(),
        };
        Ok(Page {
            token,
            is_consistent: version == entry.children_version,
            names,
        })
    }
}

/// The token names the last name returned; the server escapes it so it can travel verbatim.
fn escape_token(name: &str) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SET: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'%')
        .add(b'&')
        .add(b'#')
        .add(b'+')
        .add(b'=')
        .add(b'?')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'\\');
    utf8_percent_encode(name, SET).to_string()
}

/// `<last name>$<version>`, unescaped once; the name must lie under `parent`.
fn parse_token(parent: &str, raw: &str) -> Result<(String, u64), FabricError> {
    if raw.chars().count() > MAX_TOKEN_CHARS {
        return Err(FabricError::of(Code::ValueTooLarge));
    }
    let invalid = || FabricError::invalid_arg();
    let token = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let (last, version) = token.rsplit_once('$').ok_or_else(invalid)?;
    let version = version.parse().map_err(|_| invalid())?;
    if !last.starts_with(&format!("{parent}/")) {
        return Err(invalid());
    }
    Ok((last.to_string(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: PageLimits = PageLimits {
        bytes: usize::MAX,
        max_names: None,
    };

    fn tree(names: &[&str]) -> Names {
        let mut t = Names::default();
        for n in names {
            t.create(n).expect(n);
        }
        t
    }

    #[test]
    fn implicit_parents_direct_children_and_ordinal_order() {
        let t = tree(&["fabric:/a/b/c", "fabric:/a/B", "fabric:/a.x"]);
        assert!(t.exists("fabric:/a") && t.exists("fabric:/a/b"));
        let page = t.page("fabric:/a", false, None, ALL).expect("page");
        assert_eq!(page.names, ["fabric:/a/B", "fabric:/a/b"]);
        let page = t.page("fabric:/a", true, None, ALL).expect("page");
        assert_eq!(page.names, ["fabric:/a/B", "fabric:/a/b", "fabric:/a/b/c"]);
        assert_eq!(page.token, "");
    }

    #[test]
    fn conflicts_and_validation() {
        let mut t = tree(&["fabric:/a/b"]);
        assert_eq!(
            t.create("fabric:/a/b").map_err(|f| f.code.as_str()),
            Err("FABRIC_E_NAME_ALREADY_EXISTS")
        );
        assert_eq!(
            t.delete("fabric:/a").map_err(|f| f.code.as_str()),
            Err("FABRIC_E_NAME_NOT_EMPTY")
        );
        assert_eq!(
            t.delete("fabric:/zz").map_err(|f| f.code.as_str()),
            Err("FABRIC_E_NAME_DOES_NOT_EXIST")
        );
        for bad in [
            "fabric:/",
            "fabric:/a//b",
            "fabric:/a/",
            "fabric:/a$b",
            "fabric:/a+b",
            "fabric:/a|b",
            "fabric:/a~b",
            "x:/a",
        ] {
            assert_eq!(
                t.create(bad).map_err(|f| f.code.as_str()),
                Err("FABRIC_E_INVALID_NAME_URI"),
                "{bad}"
            );
        }
        t.delete("fabric:/a/b").expect("delete leaf");
        t.delete("fabric:/a").expect("then parent");
    }

    #[test]
    fn tokens_resume_after_the_last_name_and_track_consistency() {
        let mut t = tree(&["fabric:/p/1", "fabric:/p/2", "fabric:/p/3"]);
        let limits = PageLimits {
            bytes: usize::MAX,
            max_names: Some(2),
        };
        let first = t.page("fabric:/p", false, None, limits).expect("page");
        assert_eq!(first.names, ["fabric:/p/1", "fabric:/p/2"]);
        assert!(first.token.starts_with("fabric:/p/2$"));
        t.create("fabric:/p/0").expect("add before the cursor");
        let second = t
            .page("fabric:/p", false, Some(&first.token), limits)
            .expect("page");
        assert_eq!(second.names, ["fabric:/p/3"]);
        assert!(!second.is_consistent);
        assert_eq!(second.token, "");
        assert_eq!(
            t.page("fabric:/p", false, Some("garbage"), limits)
                .map(|_| ())
                .map_err(|f| f.code.as_str()),
            Err("E_INVALIDARG")
        );
        assert_eq!(
            t.page("fabric:/p", false, Some(&"x".repeat(5000)), limits)
                .map(|_| ())
                .map_err(|f| f.code.as_str()),
            Err("FABRIC_E_VALUE_TOO_LARGE")
        );
    }

    proptest::proptest! {
        /// Any token, name or parent is answered with a page or a gateway error, never a panic.
        #[test]
        fn any_token_or_name_is_answered(token in "\\PC{0,64}", name in "\\PC{0,40}") {
            let mut t = tree(&["fabric:/p/a", "fabric:/p/b"]);
            let limits = PageLimits { bytes: 100, max_names: Some(1) };
            let _ = t.page("fabric:/p", true, Some(&token), limits);
            let _ = t.page(&format!("fabric:/{name}"), false, None, limits);
            let _ = t.create(&format!("fabric:/{name}"));
            let _ = t.delete(&format!("fabric:/{name}"));
        }
    }

    #[test]
    fn pages_are_cut_by_bytes() {
        let names: Vec<String> = (0..100).map(|i| format!("fabric:/big/{i:03}")).collect();
        let t = tree(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let limits = PageLimits {
            bytes: 500,
            max_names: None,
        };
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let page = t
                .page("fabric:/big", false, token.as_deref(), limits)
                .expect("page");
            assert!(page.names.len() < 100);
            seen.extend(page.names);
            if page.token.is_empty() {
                break;
            }
            token = Some(page.token);
        }
        assert_eq!(seen, names);
    }
}
