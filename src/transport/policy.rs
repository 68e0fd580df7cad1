//! When a failed call is sent again: [`RetryPolicy`], and the per-call budget that applies it.

use std::time::{Duration, Instant};

use crate::Error;

/// How failed calls are retried: exponential backoff with full jitter, capped both in attempts
/// and in total time, and a server's `Retry-After` honoured.
///
/// Only calls that are safe to repeat are retried on a transient answer (503/504 family,
/// timeouts, broken connections): reads, a chunk whose range the session still expects, a
/// commit. Creating and deleting are re-sent only when the connection failed before the
/// request was sent.
///
/// ```
/// use std::time::Duration;
/// use servicefabric_rest::{Client, RetryPolicy};
///
/// let patient = RetryPolicy::default()
///     .max_retries(6)
///     .initial_backoff(Duration::from_secs(1))
///     .max_elapsed(Duration::from_secs(300));
/// let client = Client::builder("http://localhost:19080").retry_policy(patient).build()?;
/// let once = Client::builder("http://localhost:19080").retry_policy(RetryPolicy::none()).build()?;
/// # Ok::<(), servicefabric_rest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries (as the official Python SDK), backoff from 500 ms up to 8 s, and no retry
    /// that would start more than 2 minutes after the first attempt.
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries: every call is sent once (a connection refused by one gateway still moves
    /// to the next endpoint when there are several).
    ///
    /// ```
    /// # use servicefabric_rest::RetryPolicy;
    /// assert_eq!(RetryPolicy::none().retries(), 0);
    /// ```
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Retries after the first attempt (default 3).
    ///
    /// ```
    /// # use servicefabric_rest::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().max_retries(5).retries(), 5);
    /// ```
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The upper bound of the first wait (default 500 ms); each retry doubles it, up to
    /// [`Self::max_backoff`]. The wait is a random duration below that bound (full jitter).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use servicefabric_rest::RetryPolicy;
    /// let policy = RetryPolicy::default().initial_backoff(Duration::from_millis(100));
    /// ```
    pub fn initial_backoff(mut self, wait: Duration) -> Self {
        self.initial_backoff = wait;
        self
    }

    /// The largest bound of one wait (default 8 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use servicefabric_rest::RetryPolicy;
    /// let policy = RetryPolicy::default().max_backoff(Duration::from_secs(30));
    /// ```
    pub fn max_backoff(mut self, wait: Duration) -> Self {
        self.max_backoff = wait;
        self
    }

    /// No retry starts later than this after the first attempt (default 2 minutes). A
    /// `Retry-After` that points past it ends the call with the server's answer.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use servicefabric_rest::RetryPolicy;
    /// let policy = RetryPolicy::default().max_elapsed(Duration::from_secs(10));
    /// ```
    pub fn max_elapsed(mut self, total: Duration) -> Self {
        self.max_elapsed = total;
        self
    }

    /// The number of retries allowed after the first attempt.
    ///
    /// ```
    /// # use servicefabric_rest::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().retries(), 3);
    /// ```
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// The budget of one call.
    pub(crate) fn start(&self) -> Budget<'_> {
        Budget {
            policy: self,
            started: Instant::now(),
            retries: 0,
        }
    }

    /// The bound of the wait before retry number `retry` (0-based).
    fn bound(&self, retry: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_backoff)
    }
}

/// What is left of one call's retries.
#[derive(Debug)]
pub(crate) struct Budget<'a> {
    policy: &'a RetryPolicy,
    started: Instant,
    retries: u32,
}

impl Budget<'_> {
    /// How long to wait before the next attempt after `error`, or `None` when the budget is
    /// spent. `moved` says the next attempt goes to another gateway: no backoff then, unless
    /// the server asked for one.
    pub(crate) fn next_wait(&mut self, error: &Error, moved: bool) -> Option<Duration> {
        if self.retries >= self.policy.max_retries {
            return None;
        }
        let backoff = if moved {
            Duration::ZERO
        } else {
            jitter(self.policy.bound(self.retries))
        };
        let wait = backoff.max(error.retry_after().unwrap_or_default());
        if self.started.elapsed().saturating_add(wait) > self.policy.max_elapsed {
            return None;
        }
        self.retries += 1;
        Some(wait)
    }
}

/// A uniformly random duration in `0..=bound` ("full jitter").
fn jitter(bound: Duration) -> Duration {
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// `Retry-After` as seconds or an HTTP date, relative to now. Anything else is ignored.
pub(crate) fn parse_retry_after(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = date.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(retry_after: Option<Duration>) -> Error {
        Error::UnexpectedResponse {
            status: reqwest::StatusCode::SERVICE_UNAVAILABLE,
            body_snippet: String::new(),
            resource: None,
            retry_after,
        }
    }

    #[test]
    fn waits_stay_under_the_doubling_bound_and_the_attempt_cap() {
        let policy = RetryPolicy::default()
            .max_retries(5)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(400));
        let mut budget = policy.start();
        let bounds = [100, 200, 400, 400, 400];
        for bound in bounds {
            let wait = budget.next_wait(&busy(None), false).expect("a retry left");
            assert!(
                wait <= Duration::from_millis(bound),
                "{wait:?} > {bound} ms"
            );
        }
        assert_eq!(budget.next_wait(&busy(None), false), None);
    }

    #[test]
    fn retry_after_is_honoured_and_bounded_by_total_time() {
        let policy = RetryPolicy::default().max_elapsed(Duration::from_secs(10));
        let mut budget = policy.start();
        let wait = budget.next_wait(&busy(Some(Duration::from_secs(3))), false);
        assert!(wait >= Some(Duration::from_secs(3)), "{wait:?}");
        assert_eq!(
            budget.next_wait(&busy(Some(Duration::from_secs(60))), false),
            None,
            "a Retry-After past the total cap ends the call"
        );
    }

    #[test]
    fn moving_to_another_gateway_does_not_wait() {
        let policy = RetryPolicy::default();
        let mut budget = policy.start();
        assert_eq!(budget.next_wait(&busy(None), true), Some(Duration::ZERO));
        assert_eq!(
            RetryPolicy::none().start().next_wait(&busy(None), true),
            None
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(b" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(b"soon"), None);
        assert_eq!(parse_retry_after(b"-1"), None);
    }
}
