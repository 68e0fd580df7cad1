//! One request in, one answer out: the secured gateway's refusals, the fault plan, then the
//! operation, served by the system services; every refusal becomes a gateway answer.

use std::{io, sync::Arc};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::{Request, Response, body::Incoming};

use super::{
    State, answers, applications,
    bodies::{self, gateway_json, respond},
    chunk,
    faults::{self, AnswerBody, Fate},
    query::{Query, check_api_version, session_id},
    requests::{self, json_body},
    routes::{Route, route},
    streaming::body_to_file,
};
use crate::{
    cluster_manager::application_types,
    fabric_error::{Code, FabricError},
    image_store::content::Listing,
    naming::PageLimits,
};

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
    if let Ok(mut counts) = state.requests.lock() {
        *counts.entry(operation.unwrap_or("Unknown")).or_default() += 1;
    }
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
        Fate::Busy => return Ok(whole(answers::failure(&FabricError::of(Code::Abort)))),
        Fate::Timeout => {
            let timeout = FabricError::of(Code::Timeout);
            return Ok(whole(answers::failure(&timeout)));
        }
        Fate::Drop if faults::declared_length(&request) > 0 => {
            return Err(faults::drop_mid_request(request).await);
        }
        _ => {}
    }
    let response = match serve(&state, request).await {
        Ok(response) => response,
        Err(failure) => answers::failure(&failure),
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
    use super::bearer::{AAD_CLIENT_APP, AAD_CLUSTER_APP, AAD_TENANT};
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
) -> Result<Response<Full<Bytes>>, FabricError> {
    let path = request.uri().path().to_string();
    let raw_query = request.uri().query().unwrap_or_default().to_string();
    let query = Query::parse(&raw_query);
    let route = route(request.method(), &path)?;
    if matches!(route, Route::Root) {
        return Ok(respond(200, Vec::new()));
    }
    check_api_version(&query, state.config.runtime_version)?;
    match route {
        Route::Lifecycle(op) => applications::serve(state, op, request, &query).await,
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
            let name = requests::name_description(&json_body(request).await?)?;
            state.naming.create(&name)?;
            Ok(respond(201, Vec::new()))
        }
        Route::SubNames(name) => {
            let recursive = recursive(&query)?;
            let token = query.get("ContinuationToken");
            let limits = PageLimits {
                bytes: state.config.page_bytes,
                max_names: state.config.page_max_names,
            };
            let page = state.naming.tree()?.page(&name, recursive, token, limits)?;
            Ok(respond(200, bodies::page(&page)))
        }
        Route::NameExists(name) => {
            if state.naming.tree()?.exists(&name) {
                Ok(respond(200, Vec::new()))
            } else {
                Ok(respond(404, Vec::new()))
            }
        }
        Route::DeleteName(name) => {
            state.naming.delete(&name)?;
            Ok(respond(200, Vec::new()))
        }
        Route::AadMetadata => Ok(respond(200, aad_metadata(state))),
        Route::Root => Ok(respond(200, Vec::new())),
        Route::StoreRoot => listing(state, None, &query),
        Route::StoreContent(path) => listing(state, Some(&path), &query),
        Route::UploadFile(path) => {
            // A client that disconnects mid-body: nothing is stored.
            let mut staged = state.store.stage(&path).await?;
            body_to_file(
                request.into_body(),
                &mut staged.file,
                state.config.idle_timeout,
                state.config.max_file_bytes,
                FabricError::of(Code::ValueTooLarge),
                &state.received,
            )
            .await?;
            state.store.place(staged).await?;
            Ok(respond(200, Vec::new()))
        }
        Route::DeleteContent(path) => {
            state.store.delete(&path)?;
            Ok(respond(200, Vec::new()))
        }
        Route::Copy => {
            let copy = requests::copy_description(&json_body(request).await?)?;
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
            let (provision, asynchronous) = requests::provision_description(&body)?;
            let mut types = state.app_types.lock().map_err(FabricError::poisoned)?;
            application_types::provision(&state.store, &mut types, &provision)?;
            Ok(respond(if asynchronous { 202 } else { 200 }, Vec::new()))
        }
    }
}

/// `Recursive`: absent, `true` or `false` (compared case-insensitively); anything else is
/// refused with the runtime's message.
fn recursive(query: &Query<'_>) -> Result<bool, FabricError> {
    match query.get("Recursive") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(FabricError::new(
            Code::InvalidArg,
            format!("The parameter Recursive has invalid value '{v}'. Expected true/false."),
        )),
    }
}

/// GetImageStoreContent / GetImageStoreRootContent: 200 with a page, 204 for an empty
/// folder, a bodiless 404 for a path that does not exist.
fn listing(
    state: &State,
    path: Option<&str>,
    query: &Query<'_>,
) -> Result<Response<Full<Bytes>>, FabricError> {
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
