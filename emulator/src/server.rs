//! The accept loop: a cap on connections, a pause when descriptors run out, the TLS handshake
//! and the client-certificate check, then HTTP/1.1 on each connection.

use std::{sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, oneshot},
    task::JoinSet,
};

use crate::gateway::{State, handler as http};

/// What serves https (feature `tls`); without the feature there is none to give.
#[cfg(feature = "tls")]
pub(crate) type Tls = crate::gateway::security::Tls;
/// What serves https: nothing without the `tls` feature.
#[cfg(not(feature = "tls"))]
pub(crate) enum Tls {}

/// Largest request head (request line and headers) a connection may send.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Pause after a failed accept (EMFILE), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    state: Arc<State>,
    mut stopped: oneshot::Receiver<()>,
    max_connections: usize,
) {
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        while connections.try_join_next().is_some() {}
        // At the cap, stop accepting: clients wait in the listen queue, nothing is dropped.
        let slot = tokio::select! {
            _ = &mut stopped => break,
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of file descriptors (or another accept failure): wait for connections to
            // close instead of spinning a core on the same error.
            Err(_) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            let Some(tls) = tls else {
                return serve_connection(stream, state, true).await;
            };
            serve_tls(&tls, stream, state).await;
        });
    }
    // Dropping the set aborts the open connections.
}

/// The TLS handshake and the client-certificate check, then HTTP/1.1.
#[cfg(feature = "tls")]
async fn serve_tls(tls: &Tls, stream: tokio::net::TcpStream, state: Arc<State>) {
    // A client that stalls the handshake is dropped like one that never sends a head.
    let idle = state.config.idle_timeout;
    let Ok(Ok(stream)) = tokio::time::timeout(idle, tls.acceptor.accept(stream)).await else {
        return;
    };
    let admitted = tls.admits(stream.get_ref().1);
    serve_connection(stream, state, admitted).await;
}

#[cfg(not(feature = "tls"))]
async fn serve_tls(tls: &Tls, _: tokio::net::TcpStream, _: Arc<State>) {
    match *tls {}
}

/// Serves HTTP/1.1 on one connection, plain or TLS. `admitted` is false for a client whose
/// certificate is not on the list: every request it sends gets 403.
async fn serve_connection<S>(stream: S, state: Arc<State>, admitted: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let idle = state.config.idle_timeout;
    let service = service_fn(move |request| http::handle(state.clone(), admitted, request));
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
