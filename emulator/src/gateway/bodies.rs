//! The JSON the emulator answers with, written as the gateway writes it: fields in its order,
//! `/` escaped, 64-bit numbers as strings, dates as .NET prints them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    image_store::{
        content::{FileEntry, FolderEntry},
        sessions::Meta,
    },
    naming::Page,
};

const JSON: &str = "application/json; charset=utf-8";

/// A response with the gateway's content type, even when the body is empty.
pub(crate) fn respond(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(JSON),
    );
    response
}

/// JSON as the gateway's writer produces it: `/` escaped as `\/` (only strings hold `/`).
pub(crate) fn gateway_json<T: Serialize>(value: &T) -> Vec<u8> {
    let plain = serde_json::to_vec(value).unwrap_or_default();
    let mut out = Vec::with_capacity(plain.len() + plain.len() / 8);
    for b in plain {
        if b == b'/' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A page of GetImageStoreContent.
pub(crate) fn listing(
    files: &[FileEntry],
    folders: &[FolderEntry],
    token: String,
) -> Response<Full<Bytes>> {
    let files: Vec<_> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "FileSize": f.size.to_string(),
                "FileVersion": {
                    "VersionNumber": "1",
                    "EpochDataLossNumber": "1",
                    "EpochConfigurationNumber": "1",
                },
                "ModifiedDate": format_date(f.modified_ms),
                "StoreRelativePath": f.path,
            })
        })
        .collect();
    let folders: Vec<_> = folders
        .iter()
        .map(|f| {
            serde_json::json!({
                "StoreRelativePath": f.path,
                "FileCount": f.file_count.to_string(),
            })
        })
        .collect();
    // json! sorts keys; the gateway writes StoreFiles, StoreFolders, then the token.
    #[derive(Serialize)]
    struct Body {
        #[serde(rename = "StoreFiles")]
        files: Vec<serde_json::Value>,
        #[serde(rename = "StoreFolders")]
        folders: Vec<serde_json::Value>,
        #[serde(rename = "ContinuationToken")]
        token: String,
    }
    respond(
        200,
        gateway_json(&Body {
            files,
            folders,
            token,
        }),
    )
}

#[derive(Serialize)]
struct SessionJson<'a> {
    #[serde(rename = "StoreRelativePath")]
    path: &'a str,
    #[serde(rename = "SessionId")]
    id: String,
    #[serde(rename = "FileSize")]
    size: String,
    #[serde(rename = "ModifiedDate")]
    modified: String,
    #[serde(rename = "ExpectedRanges")]
    ranges: Vec<RangeJson>,
}

#[derive(Serialize)]
struct RangeJson {
    #[serde(rename = "StartPosition")]
    start: String,
    #[serde(rename = "EndPosition")]
    end: String,
}

/// `2017-09-28T17:06:37.26Z`: milliseconds without trailing zeros, as .NET writes them.
pub(crate) fn format_date(ms: i64) -> String {
    let date = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let mut text = date.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
    while text.ends_with('0') {
        text.pop();
    }
    if text.ends_with('.') {
        text.pop();
    }
    text.push('Z');
    text
}

/// 200 with the sessions, or the gateway's bodiless 204 when there are none.
pub(crate) fn sessions(found: &[(Uuid, Meta)]) -> Response<Full<Bytes>> {
    if found.is_empty() {
        return respond(204, Vec::new());
    }
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "UploadSessions")]
        sessions: Vec<SessionJson<'a>>,
    }
    let sessions = found
        .iter()
        .map(|(id, m)| SessionJson {
            path: &m.path,
            id: id.to_string(),
            size: m.size.to_string(),
            modified: format_date(m.modified_ms),
            ranges: m
                .missing
                .iter()
                .map(|(s, e)| RangeJson {
                    start: s.to_string(),
                    end: e.to_string(),
                })
                .collect(),
        })
        .collect();
    respond(200, gateway_json(&Body { sessions }))
}

/// A page of GetSubNames, fields in the gateway's order.
pub(crate) fn page(page: &Page) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "ContinuationToken")]
        token: &'a str,
        #[serde(rename = "IsConsistent")]
        consistent: bool,
        #[serde(rename = "SubNames")]
        names: &'a [String],
    }
    gateway_json(&Body {
        token: &page.token,
        consistent: page.is_consistent,
        names: &page.names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_like_dotnet() {
        assert_eq!(format_date(1_506_618_397_260), "2017-09-28T17:06:37.26Z");
        assert_eq!(format_date(1_506_618_397_000), "2017-09-28T17:06:37Z");
    }

    #[test]
    fn json_escapes_slashes() {
        assert_eq!(gateway_json(&"fabric:/a/b"), b"\"fabric:\\/a\\/b\"");
    }
}
