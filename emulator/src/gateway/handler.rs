//! Requests in, responses out, parsed the way the gateway parses them: routing on the literal
//! `$` segment, its own query rules, FabricError bodies with the code as reason phrase.

use std::{
    borrow::Cow,
    io,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::{Method, Request, Response, body::Incoming, ext::ReasonPhrase};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{
    bodies::{self, gateway_json, respond},
    chunk,
    faults::{self, Fate, Truncated},
};
use crate::{
    State,
    cluster_manager::application_types as provision,
    image_store::{content::Listing, sessions::io_failure},
    naming::PageLimits,
};

const MAX_JSON_BODY: usize = 64 * 1024;

/// A gateway error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub status: u16,
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl Failure {
    pub fn new(status: u16, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The message of codes that have no fixed text, as the gateway writes it.
    pub fn null(status: u16, code: &'static str) -> Self {
        Self::new(status, code, "Null")
    }

    pub fn invalid_arg() -> Self {
        Self::new(400, "E_INVALIDARG", "Invalid argument")
    }

    fn bad_session_id() -> Self {
        Self::new(400, "FABRIC_E_INVALID_UPLOAD_SESSION_ID", "Null")
    }

    fn response(&self) -> Response<Full<Bytes>> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "Error")]
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            #[serde(rename = "Code")]
            code: &'a str,
            #[serde(rename = "Message")]
            message: &'a str,
        }
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = respond(self.status, gateway_json(&body));
        response
            .extensions_mut()
            .insert(ReasonPhrase::from_static(self.code.as_bytes()));
        response
    }
}

/// Streams a request body into `file`, counting every byte in `received`; returns the bytes
/// written. A body that stops sending for `idle` is cut (504), one past `limit` gets
/// `too_long`, and a client that disconnects mid-body gets E_INVALIDARG (nobody reads it).
pub(crate) async fn body_to_file(
    mut body: Incoming,
    file: &mut tokio::fs::File,
    idle: Duration,
    limit: u64,
    too_long: Failure,
    received: &AtomicU64,
) -> Result<u64, Failure> {
    let mut written = 0u64;
    while let Some(frame) = tokio::time::timeout(idle, body.frame())
        .await
        .map_err(|_| Failure::new(504, "FABRIC_E_TIMEOUT", "Operation timed out."))?
    {
        let frame = frame.map_err(|_| Failure::invalid_arg())?;
        if let Ok(data) = frame.into_data() {
            written += data.len() as u64;
            received.fetch_add(data.len() as u64, Ordering::Relaxed);
            if written > limit {
                return Err(too_long);
            }
            file.write_all(&data).await.map_err(io_failure)?;
        }
    }
    Ok(written)
}

/// The gateway's query parser: split on `&` then `=`, only pairs with exactly one `=`, empty
/// values absent, first of a repeated name wins, names case-sensitive, values not decoded.
pub(crate) struct Query<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Query<'a> {
    fn parse(query: &'a str) -> Self {
        Self(
            query
                .split('&')
                .filter_map(|pair| {
                    let mut parts = pair.split('=');
                    let (name, value) = (parts.next()?, parts.next()?);
                    (parts.next().is_none() && !value.is_empty()).then_some((name, value))
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

fn check_api_version(query: &Query<'_>, runtime: (u32, u32)) -> Result<(), Failure> {
    let value = query.get("api-version").ok_or_else(Failure::invalid_arg)?;
    let (major, minor) = value.split_once('.').ok_or_else(Failure::invalid_arg)?;
    let parse = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .ok_or_else(Failure::invalid_arg)
    };
    if (parse(major)?, parse(minor)?) > runtime {
        return Err(Failure::invalid_arg());
    }
    Ok(())
}

pub(crate) fn session_id(query: &Query<'_>) -> Result<Uuid, Failure> {
    query
        .get("session-id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(Failure::bad_session_id)
}

fn decode_once(raw: &str) -> Result<String, Failure> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Failure::invalid_arg())
}

/// `nameId` as the gateway reads it: unescaped once, `~` read as `/`, `fabric:/` prefixed.
fn full_name(key: &str) -> Result<String, Failure> {
    Ok(format!("fabric:/{}", decode_once(key)?.replace('~', "/")))
}

enum Route {
    SessionById,
    SessionByPath(String),
    UploadChunk(String),
    Commit,
    DeleteSession,
    CreateName,
    SubNames(String),
    NameExists(String),
    DeleteName(String),
    AadMetadata,
    StoreRoot,
    StoreContent(String),
    UploadFile(String),
    DeleteContent(String),
    Copy,
    Provision,
    Root,
}

impl Route {
    /// The spec's operationId, as fault plans name it.
    fn operation(&self) -> &'static str {
        match self {
            Route::SessionById => "GetImageStoreUploadSessionById",
            Route::SessionByPath(_) => "GetImageStoreUploadSessionByPath",
            Route::UploadChunk(_) => "UploadFileChunk",
            Route::Commit => "CommitImageStoreUploadSession",
            Route::DeleteSession => "DeleteImageStoreUploadSession",
            Route::CreateName => "CreateName",
            Route::SubNames(_) => "GetSubNameInfoList",
            Route::NameExists(_) => "GetNameExistsInfo",
            Route::DeleteName(_) => "DeleteName",
            Route::AadMetadata => "GetAadMetadata",
            Route::StoreRoot => "GetImageStoreRootContent",
            Route::StoreContent(_) => "GetImageStoreContent",
            Route::UploadFile(_) => "UploadFile",
            Route::DeleteContent(_) => "DeleteImageStoreContent",
            Route::Copy => "CopyImageStoreContent",
            Route::Provision => "ProvisionApplicationType",
            Route::Root => "Root",
        }
    }
}

/// Routes on the literal segments; everything before the `$` segment is the key.
fn route(method: &Method, path: &str) -> Result<Route, Failure> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // `GET /`: a gateway serves Service Fabric Explorer there; sfctl's `cluster select`
    // checks that it answers.
    if segments.is_empty() && method == Method::GET {
        return Ok(Route::Root);
    }
    let (root, rest) = segments.split_first().ok_or_else(Failure::invalid_arg)?;
    let dollar = rest.iter().position(|s| *s == "$");
    let (key, action) = match dollar {
        Some(i) => (rest[..i].join("/"), rest[i + 1..].join("/")),
        None => (rest.join("/"), String::new()),
    };
    let has_key = !key.is_empty();
    let route = match (*root, has_key, action.as_str(), method) {
        ("ImageStore", false, "GetUploadSession", &Method::GET) => Route::SessionById,
        ("ImageStore", true, "GetUploadSession", &Method::GET) => {
            Route::SessionByPath(decode_once(&key)?)
        }
        ("ImageStore", true, "UploadChunk", &Method::PUT) => Route::UploadChunk(decode_once(&key)?),
        ("ImageStore", false, "CommitUploadSession", &Method::POST) => Route::Commit,
        ("ImageStore", false, "", &Method::GET) => Route::StoreRoot,
        ("ImageStore", true, "", &Method::GET) => Route::StoreContent(decode_once(&key)?),
        ("ImageStore", true, "", &Method::PUT) => Route::UploadFile(decode_once(&key)?),
        ("ImageStore", true, "", &Method::DELETE) => Route::DeleteContent(decode_once(&key)?),
        ("ImageStore", false, "Copy", &Method::POST) => Route::Copy,
        ("ApplicationTypes", false, "Provision", &Method::POST) => Route::Provision,
        ("ImageStore", false, "DeleteUploadSession", &Method::DELETE) => Route::DeleteSession,
        ("Names", false, "Create", &Method::POST) => Route::CreateName,
        ("Names", true, "GetSubNames", &Method::GET) => Route::SubNames(full_name(&key)?),
        ("Names", true, "", &Method::GET) => Route::NameExists(full_name(&key)?),
        ("Names", true, "", &Method::DELETE) => Route::DeleteName(full_name(&key)?),
        ("$", true, "", &Method::GET) if key == "GetAadMetadata" => Route::AadMetadata,
        _ => return Err(Failure::invalid_arg()),
    };
    Ok(route)
}

/// An answer's body: whole, or cut by the fault plan.
pub(crate) type AnswerBody = Either<Full<Bytes>, Truncated>;

/// Serves one request; every failure becomes a gateway answer. A connection is dropped only
/// when the fault plan says so.
pub(crate) async fn handle(
    state: Arc<State>,
    admitted: bool,
    request: Request<Incoming>,
) -> Result<Response<AnswerBody>, io::Error> {
    let operation = route(request.method(), request.uri().path())
        .ok()
        .map(|r| r.operation());
    if let Some(status) = refusal(&state, admitted, operation, &request) {
        return Ok(whole(respond(status, Vec::new())));
    }
    let (fate, latency) = operation.map_or((Fate::Serve, std::time::Duration::ZERO), |op| {
        state.faults.decide(op)
    });
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fate {
        Fate::Busy => return Ok(whole(Failure::null(503, "E_ABORT").response())),
        Fate::Timeout => {
            let timeout = Failure::new(504, "FABRIC_E_TIMEOUT", "Operation timed out.");
            return Ok(whole(timeout.response()));
        }
        Fate::Drop if faults::declared_length(&request) > 0 => {
            return Err(faults::drop_mid_request(request).await);
        }
        _ => {}
    }
    let response = match serve(&state, request).await {
        Ok(response) => response,
        Err(failure) => failure.response(),
    };
    if fate == Fate::Drop {
        return faults::truncate(response).await;
    }
    Ok(whole(response))
}

/// The status a secured gateway answers before looking at the request: 403 to a client
/// certificate it does not know (or none), 401/403 to a missing or wrong bearer token.
/// `GetAadMetadata` needs no token: clients call it to learn how to get one.
fn refusal(
    state: &State,
    admitted: bool,
    operation: Option<&str>,
    request: &Request<Incoming>,
) -> Option<u16> {
    if !admitted {
        return Some(403);
    }
    let bearer = state.config.bearer.as_ref()?;
    if operation == Some("GetAadMetadata") {
        return None;
    }
    let authorization = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    bearer.refuses(authorization)
}

/// GetAadMetadata: `aad` with the emulator's made-up ids when it asks for tokens, else an
/// empty `type`, as a cluster without Entra ID answers.
fn aad_metadata(state: &State) -> Vec<u8> {
    use super::security::{AAD_CLIENT_APP, AAD_CLUSTER_APP, AAD_TENANT};
    let body = if state.config.bearer.is_some() {
        serde_json::json!({
            "type": "aad",
            "metadata": {
                "authority": format!("https://login.microsoftonline.com/{AAD_TENANT}"),
                "client": AAD_CLIENT_APP,
                "cluster": AAD_CLUSTER_APP,
                "login": "https://login.microsoftonline.com",
                "redirect": "urn:ietf:wg:oauth:2.0:oob",
                "tenant": AAD_TENANT,
            }
        })
    } else {
        serde_json::json!({ "type": "", "metadata": {} })
    };
    gateway_json(&body)
}

fn whole(response: Response<Full<Bytes>>) -> Response<AnswerBody> {
    response.map(Either::Left)
}

async fn serve(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Failure> {
    let path = request.uri().path().to_string();
    let raw_query = request.uri().query().unwrap_or_default().to_string();
    let query = Query::parse(&raw_query);
    let route = route(request.method(), &path)?;
    if matches!(route, Route::Root) {
        return Ok(respond(200, Vec::new()));
    }
    check_api_version(&query, state.config.runtime_version)?;
    match route {
        Route::SessionById => {
            let id = session_id(&query)?;
            let found = state.uploads()?.by_id(id);
            Ok(bodies::sessions(&found))
        }
        Route::SessionByPath(path) => {
            let found = state.uploads()?.by_path(&path);
            Ok(bodies::sessions(&found))
        }
        Route::UploadChunk(path) => chunk::upload_chunk(state, request, &path, &query).await,
        Route::Commit => {
            let id = session_id(&query)?;
            state.uploads()?.commit(id)?;
            Ok(respond(200, Vec::new()))
        }
        Route::DeleteSession => {
            let id = session_id(&query)?;
            state.uploads()?.delete(id);
            Ok(respond(200, Vec::new()))
        }
        Route::CreateName => {
            #[derive(serde::Deserialize)]
            struct NameDescription {
                #[serde(rename = "Name")]
                name: String,
            }
            let body = json_body(request).await?;
            let description: NameDescription =
                serde_json::from_slice(&body).map_err(|_| Failure::invalid_arg())?;
            state.create_name(&description.name)?;
            Ok(respond(201, Vec::new()))
        }
        Route::SubNames(name) => {
            let recursive = query
                .get("Recursive")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let token = query.get("ContinuationToken");
            let limits = PageLimits {
                bytes: state.config.page_bytes,
                max_names: state.config.page_max_names,
            };
            let page = state.names()?.page(&name, recursive, token, limits)?;
            Ok(respond(200, bodies::page(&page)))
        }
        Route::NameExists(name) => {
            if state.names()?.exists(&name) {
                Ok(respond(200, Vec::new()))
            } else {
                Ok(respond(404, Vec::new()))
            }
        }
        Route::DeleteName(name) => {
            state.delete_name(&name)?;
            Ok(respond(200, Vec::new()))
        }
        Route::AadMetadata => Ok(respond(200, aad_metadata(state))),
        Route::Root => Ok(respond(200, Vec::new())),
        Route::StoreRoot => listing(state, None, &query),
        Route::StoreContent(path) => listing(state, Some(&path), &query),
        Route::UploadFile(path) => {
            let body = request.into_body();
            let limit = state.config.max_file_bytes;
            state
                .store
                .put(
                    &path,
                    body,
                    state.config.idle_timeout,
                    limit,
                    &state.received,
                )
                .await?;
            Ok(respond(200, Vec::new()))
        }
        Route::DeleteContent(path) => {
            state.store.delete(&path)?;
            Ok(respond(200, Vec::new()))
        }
        Route::Copy => {
            #[derive(serde::Deserialize)]
            struct CopyDescription {
                #[serde(rename = "RemoteSource")]
                source: String,
                #[serde(rename = "RemoteDestination")]
                destination: String,
                #[serde(rename = "SkipFiles", default)]
                skip: Vec<String>,
                #[serde(rename = "CheckMarkFile", default)]
                check_mark_file: bool,
            }
            let body = json_body(request).await?;
            let copy: CopyDescription =
                serde_json::from_slice(&body).map_err(|_| Failure::invalid_arg())?;
            state.store.copy(
                &copy.source,
                &copy.destination,
                &copy.skip,
                copy.check_mark_file,
            )?;
            Ok(respond(200, Vec::new()))
        }
        Route::Provision => {
            let body = json_body(request).await?;
            let mut types = state
                .app_types
                .lock()
                .map_err(|_| Failure::null(500, "E_FAIL"))?;
            let status = provision::provision(&state.store, &mut types, &body)?;
            Ok(respond(status, Vec::new()))
        }
    }
}

/// A JSON request body of at most [`MAX_JSON_BODY`] bytes.
async fn json_body(request: Request<Incoming>) -> Result<Bytes, Failure> {
    Ok(Limited::new(request.into_body(), MAX_JSON_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Failure::null(413, "FABRIC_E_VALUE_TOO_LARGE")
            } else {
                // Cut short by the client: nothing to read.
                Failure::invalid_arg()
            }
        })?
        .to_bytes())
}

/// GetImageStoreContent / GetImageStoreRootContent: 200 with a page, 204 for an empty
/// folder, a bodiless 404 for a path that does not exist.
fn listing(
    state: &State,
    path: Option<&str>,
    query: &Query<'_>,
) -> Result<Response<Full<Bytes>>, Failure> {
    let token = query.get("ContinuationToken");
    let page = state
        .store
        .list(path, token, state.config.store_page_entries)?;
    let (files, folders, token) = match page {
        Listing::Missing => return Ok(respond(404, Vec::new())),
        Listing::Empty => return Ok(respond(204, Vec::new())),
        Listing::Page {
            files,
            folders,
            token,
        } => (files, folders, token),
    };
    Ok(bodies::listing(&files, &folders, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rules() {
        let q = Query::parse("a=1&a=2&b=x=y&c=&d&E=5");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get("b"), None);
        assert_eq!(q.get("c"), None);
        assert_eq!(q.get("d"), None);
        assert_eq!(q.get("e"), None);
        assert_eq!(q.get("E"), Some("5"));
    }

    #[test]
    fn api_versions() {
        let ok =
            |v: &str| check_api_version(&Query::parse(&format!("api-version={v}")), (9, 1)).is_ok();
        assert!(ok("6.0") && ok("9.1") && ok("1.0"));
        assert!(!ok("9.2") && !ok("10.0") && !ok("6") && !ok("six") && !ok("6.0a"));
        assert!(check_api_version(&Query::parse(""), (9, 1)).is_err());
    }

    proptest::proptest! {
        /// Routing and query parsing take any request target without panicking.
        #[test]
        fn any_target_is_routed_or_refused(path in "\\PC{0,80}", query in "\\PC{0,80}") {
            for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
                let _ = route(&method, &path);
            }
            let q = Query::parse(&query);
            let _ = check_api_version(&q, (9, 1));
            let _ = session_id(&q);
        }
    }
}
