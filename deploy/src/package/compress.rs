//! `compress`: each Code/Config/Data folder of a package becomes `{Name}.zip`, written to a
//! temporary folder. The user's folder is only read (the official tools zip in place and
//! delete the sources).

use std::{
    fs,
    io::{self, BufWriter},
    path::Path,
};

use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

use super::layout::{Layout, PackageFile};
use servicefabric_rest::{Error, Result};

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

fn write_zip(target: &Path, prefix: &str, files: &[&PackageFile]) -> io::Result<()> {
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut zip = ZipWriter::new(BufWriter::new(fs::File::create(target)?));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    for file in files {
        let name = file.relative[prefix.len()..].replace('\\', "/");
        zip.start_file(name, options).map_err(io::Error::other)?;
        io::copy(&mut fs::File::open(&file.local)?, &mut zip)?;
    }
    zip.finish()
        .map_err(io::Error::other)?
        .into_inner()?
        .sync_all()
}
