//! A cluster's gateways (one per node): which one to use, and which failed recently.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::generated;

/// One gateway: its URL, the generated client bound to it, and until when it is left alone.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub url: String,
    pub raw: Arc<generated::Client>,
    /// Milliseconds after [`Endpoints::epoch`] before which this gateway is not chosen.
    down_until_ms: AtomicU64,
}

/// The gateways of one client. Calls stick to the current one (its connections stay warm)
/// until it fails to connect or times out; it is then skipped for `cooldown`, and tried again
/// after that, or sooner when every gateway is down.
#[derive(Debug)]
pub(crate) struct Endpoints {
    list: Vec<Endpoint>,
    current: AtomicUsize,
    epoch: Instant,
    cooldown: Duration,
}

impl Endpoints {
    pub fn new(list: Vec<(String, generated::Client)>, cooldown: Duration) -> Self {
        Self {
            list: list
                .into_iter()
                .map(|(url, raw)| Endpoint {
                    url,
                    raw: Arc::new(raw),
                    down_until_ms: AtomicU64::new(0),
                })
                .collect(),
            current: AtomicUsize::new(0),
            epoch: Instant::now(),
            cooldown,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn count(&self) -> usize {
        self.list.len()
    }

    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|e| e.url.as_str())
    }

    /// The gateway the next call goes to: the current one if it is up, else the next one that
    /// is, else the one whose rest ends first.
    pub fn pick(&self) -> (usize, &Endpoint) {
        let n = self.list.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        if n == 1 {
            return (0, &self.list[0]);
        }
        let now = self.now_ms();
        let up = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.list[i].down_until_ms.load(Ordering::Relaxed) <= now);
        let index = up.unwrap_or_else(|| {
            (0..n)
                .min_by_key(|&i| self.list[i].down_until_ms.load(Ordering::Relaxed))
                .unwrap_or(start)
        });
        if index != start {
            self.current.store(index, Ordering::Relaxed);
        }
        (index, &self.list[index])
    }

    /// Records that `index` failed to connect or answer in time; later calls go elsewhere.
    /// Returns whether another gateway is available now.
    pub fn mark_down(&self, index: usize) -> bool {
        let n = self.list.len();
        if n == 1 {
            return false;
        }
        let now = self.now_ms();
        let until =
            now.saturating_add(u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX));
        self.list[index]
            .down_until_ms
            .store(until, Ordering::Relaxed);
        let _ = self.current.compare_exchange(
            index,
            (index + 1) % n,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.list
            .iter()
            .any(|e| e.down_until_ms.load(Ordering::Relaxed) <= now)
    }

    /// The gateway calls go to now, for [`crate::Client::raw`].
    pub fn current(&self) -> &Endpoint {
        self.pick().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: usize, cooldown: Duration) -> Endpoints {
        let http = reqwest::Client::new();
        let state = crate::transport::hooks::CallState::new(Duration::from_secs(1), 1024, None);
        let list = (0..n)
            .map(|i| {
                let url = format!("http://node{i}:19080");
                let raw = generated::Client::new_with_client(&url, http.clone(), state.clone());
                (url, raw)
            })
            .collect();
        Endpoints::new(list, cooldown)
    }

    #[test]
    fn failed_gateways_are_skipped_then_tried_again() {
        let e = endpoints(3, Duration::from_millis(200));
        assert_eq!(e.pick().0, 0, "sticks to the first");
        assert!(e.mark_down(0), "two others are up");
        assert_eq!(e.pick().0, 1);
        assert_eq!(e.pick().0, 1, "sticks to the one that works");
        assert!(e.mark_down(1));
        assert_eq!(e.pick().0, 2);
        assert!(!e.mark_down(2), "all down");
        assert_eq!(
            e.pick().0,
            0,
            "when all are down, the one whose rest ends first"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(e.mark_down(0), "the others' cooldown is over");
        assert_eq!(e.pick().0, 1, "node1 is tried again after its cooldown");
    }

    #[test]
    fn one_gateway_is_always_chosen() {
        let e = endpoints(1, Duration::from_secs(60));
        assert!(!e.mark_down(0));
        assert_eq!(e.pick().0, 0);
    }
}
