//! Human tables and script JSON for the CLI.

use servicefabric_rest::UploadSession;

/// Rows padded to the widest cell of each column.
pub fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Padded by hand: `format!("{c:<w$}")` panics on widths over 65,535, and a server can
    // send a cell that long.
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = width.saturating_sub(cell.chars().count());
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.truncate(out.trim_end().len());
        out + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// Upload sessions as an aligned table.
pub fn sessions_table(sessions: &[UploadSession]) -> String {
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            let missing: Vec<String> = s
                .expected_ranges
                .iter()
                .map(|r| format!("{}-{}", r.start, r.end))
                .collect();
            vec![
                s.session_id.to_string(),
                s.store_relative_path.clone(),
                s.file_size.to_string(),
                // An answer that does not add up is said to be so, never shown as "0".
                s.checked_missing_bytes()
                    .map_or_else(|| "inconsistent".to_string(), |n| n.to_string()),
                if missing.is_empty() {
                    "-".into()
                } else {
                    missing.join(",")
                },
                s.modified_date.map(|d| d.to_rfc3339()).unwrap_or_default(),
            ]
        })
        .collect();
    aligned(
        &[
            "SESSION ID",
            "PATH",
            "SIZE",
            "MISSING",
            "EXPECTED RANGES",
            "MODIFIED",
        ],
        &rows,
    )
}

/// Upload sessions as a JSON array, numbers as numbers.
pub fn sessions_json(sessions: &[UploadSession]) -> String {
    let list: Vec<serde_json::Value> = sessions
        .iter()
        .map(|s| {
            serde_json::json!({
                "StoreRelativePath": s.store_relative_path,
                "SessionId": s.session_id,
                "FileSize": s.file_size,
                "ModifiedDate": s.modified_date.map(|d| d.to_rfc3339()),
                "ExpectedRanges": s.expected_ranges.iter().map(|r| serde_json::json!({"StartPosition": r.start, "EndPosition": r.end})).collect::<Vec<_>>(),
                // null, with Consistent false, when the ranges do not fit the file size.
                "MissingBytes": s.checked_missing_bytes(),
                "Consistent": s.checked_missing_bytes().is_some(),
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_cells_align_without_panicking() {
        let wide = "x".repeat(70_000);
        let table = aligned(
            &["A", "B"],
            &[vec![wide.clone(), "b".into()], vec!["a".into(), "c".into()]],
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[1].len(), 70_000 + 2 + 1);
        assert_eq!(lines[2].find('c'), Some(70_002));
    }
}
