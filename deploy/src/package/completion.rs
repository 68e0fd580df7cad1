//! What the store shows of a package, and marking it complete. Every check comes from folder
//! listings, one per folder, since a folder's listing shows each file's size: no file is
//! looked up by itself except those an interrupted run left in unmarked folders, and the
//! few at the package's root before its marker. A folder's marker goes in first (an
//! unmarked folder cannot be listed), deepest first; if its listing then disagrees with the
//! package the marker comes out again. The package's own marker, the one provisioning
//! checks, is written only after the store has shown every file.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt, stream};

use servicefabric_rest::{Error, Result, paths::store_form};

use super::layout::{Layout, MARKER};
use crate::workflow::Workflow;

/// What the store showed.
#[derive(Default)]
pub(crate) struct Found {
    /// Size per store path, of files seen in listings or looked up.
    pub sizes: HashMap<String, u64>,
    /// Folders (store paths) the store listed: they hold their marker.
    pub listed: HashSet<String>,
}

/// The store path of a package folder (`""` is the package's own).
fn folder_path(target: &str, folder: &str) -> String {
    if folder.is_empty() {
        target.to_string()
    } else {
        format!("{target}\\{folder}")
    }
}

/// The folder of a file's path inside the package.
pub(crate) fn parent(relative: &str) -> &str {
    relative.rsplit_once('\\').map_or("", |(p, _)| p)
}

impl Workflow<'_> {
    /// Lists the package's folders the store shows, from `target` down.
    pub(crate) async fn list_tree(&self, target: &str) -> Result<Found> {
        let mut found = Found::default();
        let mut folders = vec![target.to_string()];
        while let Some(folder) = folders.pop() {
            let Some(content) = self.store_content(Some(&folder)).await? else {
                continue;
            };
            for file in content.files {
                found.sizes.insert(store_form(&file.path), file.size);
            }
            for sub in content.folders {
                let sub = store_form(&sub.path);
                if !found.listed.contains(&sub) && sub.starts_with(&format!("{folder}\\")) {
                    folders.push(sub);
                }
            }
            found.listed.insert(folder);
        }
        Ok(found)
    }

    /// Looks up files one by one (a file's own path lists just that file); absent ones are
    /// left out.
    pub(crate) async fn look_up(
        &self,
        paths: Vec<String>,
        parallel: usize,
    ) -> Result<HashMap<String, u64>> {
        let found: Vec<Option<(String, u64)>> = stream::iter(paths)
            .map(|path| async move {
                let size = self.stored_size(&path).await?;
                Ok::<_, Error>(size.map(|size| (path, size)))
            })
            .buffer_unordered(parallel)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Marks every folder the store does not list yet and checks, by listing, each folder
    /// that was marked or received files (`touched`, store paths); the package's own folder
    /// last. Returns the markers written.
    pub(crate) async fn complete(
        &self,
        layout: &Layout,
        target: &str,
        found: &Found,
        touched: &HashSet<String>,
        parallel: usize,
    ) -> Result<u64> {
        let depth = |f: &str| {
            if f.is_empty() {
                0
            } else {
                f.matches('\\').count() + 1
            }
        };
        let deepest = layout.folders.iter().map(|f| depth(f)).max().unwrap_or(0);
        let mut written = 0;
        for level in (1..=deepest).rev() {
            let work: Vec<(String, bool)> = layout
                .folders
                .iter()
                .filter(|f| depth(f) == level)
                .map(|f| (f.clone(), !found.listed.contains(&folder_path(target, f))))
                .filter(|(f, mark)| *mark || touched.contains(&folder_path(target, f)))
                .collect();
            written += work.iter().filter(|(_, mark)| *mark).count() as u64;
            stream::iter(work)
                .map(|(folder, mark)| async move {
                    let path = folder_path(target, &folder);
                    if mark {
                        self.upload_store_bytes(&format!("{path}\\{MARKER}"), Vec::new())
                            .await?;
                    }
                    let shown = self.store_content(Some(&path)).await?.unwrap_or_default();
                    let sizes: HashMap<String, u64> = shown
                        .files
                        .into_iter()
                        .map(|f| (store_form(&f.path), f.size))
                        .collect();
                    if let Err(e) = check(layout, target, &folder, &sizes) {
                        let _ = self
                            .delete_store_content(&format!("{path}\\{MARKER}"))
                            .await;
                        return Err(e);
                    }
                    Ok(())
                })
                .buffer_unordered(parallel)
                .try_collect::<Vec<()>>()
                .await?;
        }
        if found.listed.contains(target) && !touched.contains(target) {
            return Ok(written);
        }
        // The package's own files, before the marker provisioning looks for.
        let own: Vec<String> = layout
            .files
            .iter()
            .filter(|f| parent(&f.relative).is_empty())
            .map(|f| format!("{target}\\{}", f.relative))
            .collect();
        let sizes = self.look_up(own, parallel).await?;
        check(layout, target, "", &sizes)?;
        self.upload_store_bytes(&format!("{target}\\{MARKER}"), Vec::new())
            .await?;
        Ok(written + 1)
    }
}

/// Checks that `sizes` holds each file directly in `folder` with its size.
fn check(layout: &Layout, target: &str, folder: &str, sizes: &HashMap<String, u64>) -> Result<()> {
    for file in layout
        .files
        .iter()
        .filter(|f| parent(&f.relative) == folder)
    {
        let path = format!("{target}\\{}", file.relative);
        let found = sizes.get(&path).copied();
        if found != Some(file.size) {
            return Err(Error::StoreMismatch {
                path,
                expected: file.size,
                found,
            });
        }
    }
    Ok(())
}
