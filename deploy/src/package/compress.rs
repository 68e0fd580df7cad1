//! `compress`: each Code/Config/Data folder of a package becomes `{Name}.zip`, written to a
//! folder of its own. The user's folder is only read (the official tools zip in place and
//! delete the sources). The zips are byte-identical from run to run (entries sorted, fixed
//! timestamps and permissions), and an existing identical zip is kept as it is, so a resume
//! record still vouches for it.

use std::{
    fs,
    io::{self, BufWriter, Read},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

use super::layout::{Layout, PackageFile};
use servicefabric_rest::{Error, Result};

/// Where the zips of `local_dir` bound for `target` are kept between runs: a folder of the
/// resume directory named after both.
pub(crate) fn stable_folder(resume_dir: &Path, local_dir: &Path, target: &str) -> PathBuf {
    let local = local_dir
        .canonicalize()
        .unwrap_or_else(|_| local_dir.to_path_buf());
    let digest = Sha256::digest(format!("{}\n{target}", local.display()).as_bytes());
    let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    resume_dir.join("compressed").join(name)
}

/// The layout to upload once the package folders are zipped into `scratch`.
pub(crate) fn zip_packages(layout: &Layout, scratch: &Path) -> Result<Layout> {
    let mut out = layout.clone();
    for (service, packages) in &layout.services {
        for name in packages {
            let folder = format!("{service}\\{name}");
            if !layout.folders.contains(&folder) {
                continue; // already a .zip
            }
            let prefix = format!("{folder}\\");
            let inside: Vec<&PackageFile> = layout
                .files
                .iter()
                .filter(|f| f.relative.starts_with(&prefix))
                .collect();
            let target = scratch.join(service).join(format!("{name}.zip"));
            write_zip(&target, &prefix, &inside).map_err(|e| {
                Error::invalid(
                    "compressed copy",
                    target.display(),
                    &format!("a writable temporary file ({e})"),
                )
            })?;
            let size = fs::metadata(&target).map(|m| m.len()).unwrap_or_default();
            out.files.retain(|f| !f.relative.starts_with(&prefix));
            out.folders
                .retain(|d| *d != folder && !d.starts_with(&prefix));
            out.files.push(PackageFile {
                relative: format!("{folder}.zip"),
                local: target,
                size,
            });
        }
    }
    out.files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

/// Writes the zip to `target` unless an identical one is there already.
fn write_zip(target: &Path, prefix: &str, files: &[&PackageFile]) -> io::Result<()> {
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir)?;
    }
    let fresh = target.with_extension("zip.part");
    let mut zip = ZipWriter::new(BufWriter::new(fs::File::create(&fresh)?));
    // Fixed time and permissions: the same files give the same bytes on every run.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
        .large_file(true);
    let mut sorted: Vec<&&PackageFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.relative.cmp(&b.relative));
    for file in sorted {
        let name = file.relative[prefix.len()..].replace('\\', "/");
        zip.start_file(name, options).map_err(io::Error::other)?;
        io::copy(&mut fs::File::open(&file.local)?, &mut zip)?;
    }
    zip.finish()
        .map_err(io::Error::other)?
        .into_inner()?
        .sync_all()?;
    if same_bytes(&fresh, target)? {
        // Kept as it was (its modification time too): a resume record still matches it.
        return fs::remove_file(&fresh);
    }
    fs::rename(&fresh, target)
}

/// Whether two files hold the same bytes (a missing `b` is not the same).
fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (Ok(meta_a), Ok(meta_b)) = (fs::metadata(a), fs::metadata(b)) else {
        return Ok(false);
    };
    if meta_a.len() != meta_b.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (fs::File::open(a)?, fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}
