//! `GetSubNames`: one page, or every page as a `Stream` that follows `ContinuationToken`.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures::{
    Stream, StreamExt,
    stream::{self, BoxStream},
};
use reqwest::StatusCode;

use crate::{
    Client, Error, Result,
    generated::types,
    transport::{answer::Answer, call::Resend, wire},
};

/// One page of `GetSubNames`; see [`Client::sub_names_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubNamePage {
    /// Full names with the `fabric:/` scheme, in the gateway's order.
    pub names: Vec<String>,
    /// The token for the next page; `None` when this is the last page (the gateway sends `""`).
    pub continuation_token: Option<String>,
    /// False when names under the parent changed since the enumeration began; it then stays
    /// false. An absent field reads as true.
    pub is_consistent: bool,
}

impl SubNamePage {
    pub(crate) fn from_raw(raw: types::PagedSubNameInfoList) -> Self {
        Self {
            // Same layout: collects in place, without a second allocation.
            names: raw.sub_names.into_iter().map(String::from).collect(),
            continuation_token: raw
                .continuation_token
                .map(String::from)
                .filter(|t| !t.is_empty()),
            is_consistent: raw.is_consistent.unwrap_or(true),
        }
    }
}

/// Refuses a token seen before in this enumeration, in constant memory: the previous token
/// catches an immediate repeat, and Brent's checkpoint (moved at powers of two) catches a
/// longer cycle within about twice its length.
#[derive(Debug, Default)]
pub(crate) struct TokenGuard {
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
    pub(crate) fn check(&mut self, token: &str) -> Result<()> {
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
    pub(crate) fn count_page(&mut self, names: usize, token: &str) -> Result<()> {
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

/// Every page of the names under a name, in order: what [`Client::sub_name_pages`] returns.
/// A `Stream` that can be polled as it is (it is `Unpin`).
#[must_use = "streams do nothing unless polled"]
pub struct SubNamePages(BoxStream<'static, Result<SubNamePage>>);

/// Every name under a name, across all pages: what [`Client::sub_names`] returns. A `Stream`
/// that can be polled as it is (it is `Unpin`); it holds one page in memory at a time.
#[must_use = "streams do nothing unless polled"]
pub struct SubNames {
    pages: SubNamePages,
    /// The rest of the current page: names are handed out from here without polling `pages`.
    page: std::vec::IntoIter<String>,
}

impl Stream for SubNamePages {
    type Item = Result<SubNamePage>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl Stream for SubNames {
    type Item = Result<String>;
    // Inlined into the caller's loop, a name is handed over without the round trip through
    // a 96-byte `Poll<Option<Result<String>>>` in memory.
    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // The per-name path is one iterator step: this is the loop of a million-name listing.
        loop {
            if let Some(name) = self.page.next() {
                return Poll::Ready(Some(Ok(name)));
            }
            match ready!(Pin::new(&mut self.pages).poll_next(cx)) {
                Some(Ok(page)) => self.page = page.names.into_iter(),
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl fmt::Debug for SubNamePages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubNamePages")
    }
}

impl fmt::Debug for SubNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubNames")
    }
}

struct Cursor {
    client: Client,
    name: String,
    recursive: bool,
    token: Option<String>,
    guard: TokenGuard,
}

impl Client {
    /// One page of the names under `name` (`fabric:/samples` or `samples`). Pass the previous
    /// page's token to get the next page; see [`Client::sub_names`] to follow them all.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let first = client.sub_names_page("fabric:/samples", true, None).await?;
    /// if let Some(token) = &first.continuation_token {
    ///     let second = client.sub_names_page("fabric:/samples", true, Some(token)).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn sub_names_page(
        &self,
        name: &str,
        recursive: bool,
        continuation_token: Option<&str>,
    ) -> Result<SubNamePage> {
        let name_id = wire::name_id(name)?;
        let token = continuation_token.filter(|t| !t.is_empty());
        let about = || format!("name {name}");
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetSubNameInfoList",
                Resend::Safe,
                about,
                move |raw| async move {
                    let mut call = raw
                        .get_sub_name_info_list()
                        .name_id(name_id)
                        .recursive(recursive)
                        .timeout(timeout);
                    if let Some(token) = token {
                        call = call.continuation_token(token);
                    }
                    call.send().await
                },
            )
            .await?;
        match answer {
            Answer::Body(page) => Ok(SubNamePage::from_raw(page)),
            Answer::Empty => Err(Error::decode(
                StatusCode::OK,
                "empty body, expected a page of names",
                b"",
            )),
        }
    }

    /// Every page of the names under `name`, following continuation tokens until the gateway
    /// sends none. Fails with [`Error::RepeatedContinuationToken`] rather than loop forever.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let mut pages = client.sub_name_pages("fabric:/samples", true);
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} names, consistent: {}", page.names.len(), page.is_consistent);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn sub_name_pages(&self, name: &str, recursive: bool) -> SubNamePages {
        let cursor = Cursor {
            client: self.clone(),
            name: name.to_string(),
            recursive,
            token: None,
            guard: TokenGuard::default(),
        };
        let pages = stream::try_unfold(Some(cursor), |cursor| async move {
            let Some(mut cursor) = cursor else {
                return Ok(None);
            };
            let page = cursor
                .client
                .sub_names_page(&cursor.name, cursor.recursive, cursor.token.as_deref())
                .await?;
            let next = match &page.continuation_token {
                Some(token) => {
                    cursor.guard.check(token)?;
                    cursor.guard.count_page(page.names.len(), token)?;
                    cursor.token = Some(token.clone());
                    Some(cursor)
                }
                None => None,
            };
            Ok(Some((page, next)))
        });
        SubNamePages(pages.boxed())
    }

    /// Every name under `name` (`fabric:/samples` or `samples`), across all pages, as full
    /// names (`fabric:/samples/apps`). Direct children, or all descendants when `recursive`.
    /// Holds one page in memory at a time.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    ///
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// let mut names = client.sub_names("fabric:/samples", false);
    /// while let Some(name) = names.try_next().await? {
    ///     println!("{name}");
    /// }
    /// let all: Vec<String> = client.sub_names("fabric:/samples", true).try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn sub_names(&self, name: &str, recursive: bool) -> SubNames {
        SubNames {
            pages: self.sub_name_pages(name, recursive),
            page: Vec::new().into_iter(),
        }
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
