//! Step 6: unprovision the versions of the type beyond the newest N that no application
//! uses.

use std::{cmp::Ordering, collections::BTreeSet};

use futures::TryStreamExt;
use servicefabric_rest::{Client, Result};

use super::{options::DeployOptions, provision};

/// Orders versions as people number them: numeric parts as numbers (`1.10.0` after
/// `1.9.0`), other parts as text.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<String> { v.split(['.', '-', '+']).map(str::to_string).collect() };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    pa.len().cmp(&pb.len())
}

/// Unprovisions every version of `type_name` older than the newest `keep` that no
/// application runs; returns the versions unprovisioned.
pub(crate) async fn keep_versions(
    client: &Client,
    type_name: &str,
    keep: usize,
    options: &DeployOptions,
) -> Result<Vec<String>> {
    let mut versions: Vec<String> = provision::versions(client, type_name)
        .await?
        .into_iter()
        .map(|t| t.version)
        .collect();
    versions.sort_by(|a, b| compare_versions(b, a));
    let pages: Vec<_> = client.applications(Some(type_name)).try_collect().await?;
    let in_use: BTreeSet<String> = pages
        .into_iter()
        .flat_map(|p| p.items)
        .filter(|a| a.type_name == type_name)
        .map(|a| a.type_version)
        .collect();
    let mut gone = Vec::new();
    for version in versions.into_iter().skip(keep) {
        if in_use.contains(&version) {
            options.note(format!(
                "kept {type_name} {version}: an application runs it"
            ));
            continue;
        }
        match client
            .unprovision_application_type(type_name, &version)
            .await
        {
            Ok(()) => {
                options.note(format!("unprovisioned {type_name} {version}"));
                gone.push(version);
            }
            // In use (an upgrade targets it), or the call failed: kept, and said.
            Err(e) => options.note(format!("kept {type_name} {version}: {e}")),
        }
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_numbered() {
        let mut v = vec!["1.10.0", "1.9.0", "2.0.0", "1.9.0-beta", "10.0"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, vec!["1.9.0", "1.9.0-beta", "1.10.0", "2.0.0", "10.0"]);
    }
}
