//! One call through the request policy: pick a gateway, send, map the answer, and send again
//! (after a wait, or at once to another gateway) when the policy allows. Every attempt runs in
//! a `tracing` span.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use progenitor_client::ResponseValue;
use tracing::{Instrument, field};

use super::{
    answer::{Answer, finish},
    auth::{AadMetadata, Auth, GET_AAD_METADATA},
    endpoints::Endpoints,
    policy::RetryPolicy,
};
use crate::{
    Error, Result,
    generated::{self, types::FabricError},
};

tokio::task_local! {
    /// Counts the requests sent again within a [`count_resends`] scope.
    static RESENT: Arc<std::sync::atomic::AtomicU64>;
}

/// Records that a request is being sent again after a failed attempt.
pub(crate) fn note_resent() {
    let _ = RESENT.try_with(|count| count.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
}

/// Runs `future` and counts the requests the client sent again after a failed attempt while
/// it ran (a 503, a timeout, a dropped connection, a refused token), those the retry policy
/// recovered from included. Counts the calls of this task only: the futures `future` polls,
/// not tasks it spawns.
///
/// ```no_run
/// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
/// let (names, resent) =
///     servicefabric_rest::count_resends(client.sub_names_page("fabric:/samples", true, None)).await;
/// println!("{} names, {resent} requests sent again", names?.names.len());
/// # Ok(()) }
/// ```
pub async fn count_resends<F: Future>(future: F) -> (F::Output, u64) {
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let output = RESENT.scope(count.clone(), future).await;
    (output, count.load(std::sync::atomic::Ordering::Relaxed))
}

/// Whether a call may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Repeating it cannot change the outcome (reads, commit): retried on any transient failure.
    Safe,
    /// Repeating it could act twice (create, delete): re-sent only when the connection failed
    /// before the request was written.
    IfNotSent,
}

/// What the generated client hands back.
pub(crate) type Outcome<T> = std::result::Result<ResponseValue<T>, generated::Error<FabricError>>;

/// What every call of one client shares: the gateways, the retry policy, the server timeout,
/// the body limit and the token cache.
#[derive(Debug)]
pub(crate) struct Transport {
    pub endpoints: Endpoints,
    pub policy: RetryPolicy,
    /// The server `timeout` sent on every call.
    pub server_timeout: u64,
    pub max_body: u64,
    pub auth: Option<Arc<Auth>>,
    /// A client certificate over rustls: a connection closed right after sending is most
    /// likely a renegotiation the client cannot do.
    #[cfg(feature = "tls")]
    pub renegotiation_hint: bool,
}

impl Transport {
    /// Runs `send` against the current gateway until it succeeds or the policy says stop.
    /// `about` names the resource in the error returned. (`send` takes the generated client by
    /// `Arc` rather than by reference: a future borrowing its argument would not be `Send`
    /// for every lifetime, and paging streams must be `Send`.)
    pub(crate) async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        resend: Resend,
        about: impl FnOnce() -> String,
        send: F,
    ) -> Result<Answer<T>>
    where
        F: Fn(Arc<generated::Client>) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        let endpoints = &self.endpoints;
        let mut budget = self.policy.start();
        let mut attempt = 1u32;
        let mut failovers = 0usize;
        // The metadata call is how a client learns to get a token: it is sent without one.
        let auth = self
            .auth
            .as_deref()
            .filter(|_| operation != GET_AAD_METADATA);
        let mut token_refreshed = false;
        loop {
            let (index, endpoint) = endpoints.pick();
            let span = tracing::debug_span!(
                "servicefabric_request",
                operation,
                endpoint = %endpoint.url,
                attempt,
                status = field::Empty,
                bytes = field::Empty,
                elapsed_ms = field::Empty,
            );
            let started = Instant::now();
            let mut token = None;
            let result = async {
                if let Some(auth) = auth {
                    token = Some(self.authorize(auth, &endpoint.raw).await?);
                }
                finish(send(endpoint.raw.clone()).await, self.max_body).await
            }
            .instrument(span.clone())
            .await;
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            let error = match result {
                Ok(answer) => return Ok(answer),
                Err(error) => self.explain(error, &endpoint.url),
            };
            // A refused token: the gateway did nothing, so even a create may be sent again,
            // once, with a new token.
            if let (Some(auth), Some(generation)) = (auth, token)
                && !token_refreshed
                && matches!(error.status().map(|s| s.as_u16()), Some(401 | 403))
            {
                token_refreshed = true;
                auth.refused(generation);
                tracing::info!(parent: &span, "the gateway refused the token: asking for a new one");
                attempt += 1;
                note_resent();
                continue;
            }
            let unreachable = matches!(error, Error::Connect(_));
            let moved =
                (unreachable || matches!(error, Error::Timeout(_))) && endpoints.mark_down(index);
            let may_resend = match resend {
                Resend::Safe => error.is_transient(),
                Resend::IfNotSent => unreachable,
            };
            // A gateway that refused the connection never saw the request: trying each other
            // gateway once costs no retry.
            let wait = if unreachable && moved && failovers + 1 < endpoints.count() {
                failovers += 1;
                Some(Duration::ZERO)
            } else if may_resend {
                budget.next_wait(&error, moved)
            } else {
                None
            };
            let Some(wait) = wait else {
                return Err(error.about(about));
            };
            tracing::info!(
                parent: &span,
                wait_ms = wait.as_millis() as u64,
                moved,
                error = %error,
                "retrying {operation}"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
            note_resent();
        }
    }

    /// Says what a failure likely is, where the client knows more than the error does.
    #[allow(unused_variables)]
    fn explain(&self, error: Error, endpoint: &str) -> Error {
        #[cfg(feature = "tls")]
        if let Error::Transport(source) = error {
            // No answer at all (not a cut body) after a request went out with a certificate.
            let after_send = source.is_request() && endpoint.starts_with("https:");
            return if after_send && self.renegotiation_hint {
                Error::Renegotiation {
                    endpoint: endpoint.to_string(),
                    source,
                }
            } else {
                Error::Transport(source)
            };
        }
        error
    }

    /// Before an attempt on `raw`'s gateway: the metadata the provider needs (once per client)
    /// and a token. Returns the token's generation, so a refusal can name it.
    async fn authorize(&self, auth: &Auth, raw: &generated::Client) -> Result<u64> {
        if auth.needs_metadata() {
            let answer = finish(
                raw.get_aad_metadata()
                    .timeout(self.server_timeout)
                    .send()
                    .await,
                self.max_body,
            )
            .await?;
            auth.set_metadata(match answer {
                Answer::Body(object) => AadMetadata::from_wire(object),
                Answer::Empty => None,
            });
        }
        Ok(auth.header().await?.0)
    }

    /// Runs a call that must not act twice (create, delete, upgrade): sent again only when the
    /// connection failed before it was written, and, after a failure whose outcome is unknown
    /// (a timeout, a dropped connection, a 503/504), only once `check` has read the state back
    /// and found the call's effect missing. `check` answering `true` (the effect is there)
    /// ends the call as done.
    pub(crate) async fn call_checked<T, F, Fut, C, CFut>(
        &self,
        operation: &'static str,
        about: impl Fn() -> String,
        send: F,
        check: C,
    ) -> Result<Answer<T>>
    where
        F: Fn(Arc<generated::Client>) -> Fut,
        Fut: Future<Output = Outcome<T>>,
        C: Fn() -> CFut,
        CFut: Future<Output = Result<bool>>,
    {
        let mut budget = self.policy.start();
        loop {
            let error = match self.call(operation, Resend::IfNotSent, &about, &send).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let unknown = error.is_transient() && !matches!(error, Error::Connect(_));
            if !unknown {
                return Err(error);
            }
            match check().await {
                Ok(true) => {
                    tracing::info!(operation, error = %error, "the state read back shows the call acted");
                    return Ok(Answer::Empty);
                }
                Ok(false) => {}
                // The state cannot be read either: report the call's own failure.
                Err(_) => return Err(error),
            }
            let Some(wait) = budget.next_wait(&error, false) else {
                return Err(error);
            };
            tracing::info!(
                operation,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "the state read back shows the call did not act: sending it again"
            );
            tokio::time::sleep(wait).await;
            note_resent();
        }
    }
}
