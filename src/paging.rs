//! Following `ContinuationToken` across pages of `GetSubNames`, as a `Stream`.

use futures::{Stream, StreamExt, TryStreamExt, stream};

use reqwest::StatusCode;

use crate::{
    Client, Error, Result,
    client::{Answer, finish},
    generated::types,
    wire,
};

/// One page of `GetSubNames`.
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
struct TokenGuard {
    previous: Option<String>,
    checkpoint: Option<String>,
    steps: u64,
    power: u64,
}

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
    pub async fn sub_names_page(
        &self,
        name: &str,
        recursive: bool,
        continuation_token: Option<&str>,
    ) -> Result<SubNamePage> {
        let name_id = wire::name_id(name)?;
        let raw = self.raw();
        let mut call = raw
            .get_sub_name_info_list()
            .api_version(types::GetSubNameInfoListApiVersion::default())
            .name_id(name_id)
            .recursive(recursive)
            .timeout(self.timeout());
        if let Some(token) = continuation_token.filter(|t| !t.is_empty()) {
            call = call.continuation_token(token);
        }
        match finish(call.send().await, &raw).await? {
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
    pub fn sub_name_pages(
        &self,
        name: &str,
        recursive: bool,
    ) -> impl Stream<Item = Result<SubNamePage>> + Send + 'static {
        let cursor = Cursor {
            client: self.clone(),
            name: name.to_string(),
            recursive,
            token: None,
            guard: TokenGuard::default(),
        };
        stream::try_unfold(Some(cursor), |cursor| async move {
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
                    cursor.token = Some(token.clone());
                    Some(cursor)
                }
                None => None,
            };
            Ok(Some((page, next)))
        })
    }

    /// Every name under `name` (`fabric:/samples` or `samples`), across all pages, as full
    /// names (`fabric:/samples/apps`). Direct children, or all descendants when `recursive`.
    /// Holds one page in memory at a time.
    pub fn sub_names(
        &self,
        name: &str,
        recursive: bool,
    ) -> impl Stream<Item = Result<String>> + Send + 'static {
        self.sub_name_pages(name, recursive)
            .map_ok(|page| stream::iter(page.names).map(Ok))
            .try_flatten()
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
