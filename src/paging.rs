//! Listings as streams of pages: one pager follows `ContinuationToken` for every paged
//! operation, and stops on a token it has seen before instead of looping.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{
    Stream, StreamExt,
    stream::{self, BoxStream},
};
use reqwest::StatusCode;

use crate::{Error, Result};

/// What the pager needs of a page: the token of the next one, and how many entries it held.
pub(crate) trait Page {
    /// The token for the next page; `None` on the last page.
    fn next_token(&self) -> Option<&str>;
    /// Entries on this page (a page with a token and no entry is suspicious).
    fn entries(&self) -> usize;
}

/// Every page of a listing, in order, as a `Stream` that can be polled as it is (it is
/// `Unpin`). It ends after the page without a continuation token, and fails with
/// [`Error::RepeatedContinuationToken`] rather than loop forever.
#[must_use = "streams do nothing unless polled"]
pub struct Pages<P>(BoxStream<'static, Result<P>>);

impl<P> Stream for Pages<P> {
    type Item = Result<P>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl<P> fmt::Debug for Pages<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pages<{}>", std::any::type_name::<P>())
    }
}

/// One page of a listing of `T` (`Items` and `ContinuationToken` on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemPage<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// The token for the next page; `None` on the last (the gateway sends `""`).
    pub continuation_token: Option<String>,
}

impl<T> ItemPage<T> {
    pub(crate) fn new(items: Vec<T>, continuation_token: Option<String>) -> Self {
        Self {
            items,
            continuation_token: continuation_token.filter(|t| !t.is_empty()),
        }
    }

    pub(crate) fn empty() -> Self {
        Self::new(Vec::new(), None)
    }
}

impl<T> Page for ItemPage<T> {
    fn next_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    fn entries(&self) -> usize {
        self.items.len()
    }
}

/// Pages from `fetch`, called with `None` first and then with each page's token.
pub(crate) fn pages<P, F, Fut>(fetch: F) -> Pages<P>
where
    P: Page + Send + 'static,
    F: Fn(Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<P>> + Send + 'static,
{
    struct Cursor<F> {
        fetch: F,
        token: Option<String>,
        guard: TokenGuard,
    }
    let cursor = Cursor {
        fetch,
        token: None,
        guard: TokenGuard::default(),
    };
    let pages = stream::try_unfold(Some(cursor), |cursor| async move {
        let Some(mut cursor) = cursor else {
            return Ok(None);
        };
        let page = (cursor.fetch)(cursor.token.take()).await?;
        let next = match page.next_token() {
            Some(token) => {
                cursor.guard.check(token)?;
                cursor.guard.count_page(page.entries(), token)?;
                cursor.token = Some(token.to_string());
                Some(cursor)
            }
            None => None,
        };
        Ok(Some((page, next)))
    });
    Pages(pages.boxed())
}

/// Refuses a token seen before in this enumeration, in constant memory: the previous token
/// catches an immediate repeat, and Brent's checkpoint (moved at powers of two) catches a
/// longer cycle within about twice its length.
#[derive(Debug, Default)]
struct TokenGuard {
    previous: Option<String>,
    checkpoint: Option<String>,
    steps: u64,
    power: u64,
    /// Pages in a row that had a token but no name.
    empty_pages: u32,
}

/// A page is cut by size, so a real gateway never sends a token with no name; a server that
/// keeps doing so would make an endless, silent enumeration.
const MAX_EMPTY_PAGES: u32 = 16;

impl TokenGuard {
    fn check(&mut self, token: &str) -> Result<()> {
        if self.previous.as_deref() == Some(token) || self.checkpoint.as_deref() == Some(token) {
            return Err(Error::RepeatedContinuationToken {
                token: token.to_string(),
            });
        }
        self.steps += 1;
        if self.steps >= self.power.max(1) {
            self.checkpoint = Some(token.to_string());
            self.power = self.power.max(1) * 2;
            self.steps = 0;
        }
        self.previous = Some(token.to_string());
        Ok(())
    }

    /// Fails after [`MAX_EMPTY_PAGES`] pages in a row with a token and no name.
    fn count_page(&mut self, names: usize, token: &str) -> Result<()> {
        self.empty_pages = if names == 0 { self.empty_pages + 1 } else { 0 };
        if self.empty_pages >= MAX_EMPTY_PAGES {
            return Err(Error::decode(
                StatusCode::OK,
                format!(
                    "{MAX_EMPTY_PAGES} pages in a row held no name but a continuation token (last {token:?}); stopping instead of looping"
                ),
                b"",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_catches_repeats_and_cycles() {
        let mut g = TokenGuard::default();
        assert!(g.check("a").is_ok());
        assert!(g.check("a").is_err());

        let mut g = TokenGuard::default();
        let cycle = ["t1", "t2", "t3", "t4", "t5"];
        let caught = (0..100).position(|i| g.check(cycle[i % cycle.len()]).is_err());
        assert!(caught.is_some_and(|i| i < 20), "{caught:?}");

        let mut g = TokenGuard::default();
        assert!((0..10_000).all(|i| g.check(&format!("n{i}")).is_ok()));
    }
}
