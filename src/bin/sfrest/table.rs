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
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

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
                s.missing_bytes().to_string(),
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
            "MISSING RANGES",
            "MODIFIED",
        ],
        &rows,
    )
}

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
                "MissingBytes": s.missing_bytes(),
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}
