//! Service Fabric names: create, check, delete, and list what is under one (`GetSubNames`).

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use futures::Stream;
use reqwest::StatusCode;

use crate::{
    Client, Error, Result,
    generated::types,
    paging::{self, Page, Pages},
    paths,
    transport::{answer::Answer, call::Resend},
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

impl Page for SubNamePage {
    fn next_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    fn entries(&self) -> usize {
        self.names.len()
    }
}

/// Every page of the names under a name, in order: what [`Client::sub_name_pages`] returns.
pub type SubNamePages = Pages<SubNamePage>;

/// Every name under a name, across all pages: what [`Client::sub_names`] returns. A `Stream`
/// that can be polled as it is (it is `Unpin`); it holds one page in memory at a time.
#[must_use = "streams do nothing unless polled"]
pub struct SubNames {
    pages: SubNamePages,
    /// The rest of the current page: names are handed out from here without polling `pages`.
    page: std::vec::IntoIter<String>,
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

impl fmt::Debug for SubNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubNames")
    }
}

impl Client {
    /// Creates `name` (`fabric:/samples/x` or `samples/x`); missing parents are created too.
    /// An existing name fails with `FABRIC_E_NAME_ALREADY_EXISTS` (409).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.create_name("fabric:/myapp/config").await?;
    /// assert!(client.name_exists("fabric:/myapp").await?); // the parent, created implicitly
    /// # Ok(()) }
    /// ```
    pub async fn create_name(&self, name: &str) -> Result<()> {
        let full = format!("fabric:/{}", paths::name_id(name)?);
        let body = crate::generated::types::NameDescription {
            name: crate::generated::types::FabricName(full),
        };
        let timeout = self.timeout();
        self.call("CreateName", Resend::IfNotSent, about(name), |raw| {
            let body = body.clone();
            async move { raw.create_name().body(body).timeout(timeout).send().await }
        })
        .await
        .map(drop)
    }

    /// Whether `name` exists. The gateway answers a missing name with a bodiless 404.
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// if !client.name_exists("fabric:/myapp").await? {
    ///     client.create_name("fabric:/myapp").await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn name_exists(&self, name: &str) -> Result<bool> {
        let name_id = paths::name_id(name)?;
        let timeout = self.timeout();
        let answer = self
            .call(
                "GetNameExistsInfo",
                Resend::Safe,
                about(name),
                move |raw| async move {
                    raw.get_name_exists_info()
                        .name_id(name_id)
                        .timeout(timeout)
                        .send()
                        .await
                },
            )
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes `name`. A name with children fails with `FABRIC_E_NAME_NOT_EMPTY` (409), a
    /// missing one with `FABRIC_E_NAME_DOES_NOT_EXIST` (404).
    ///
    /// ```no_run
    /// # async fn demo(client: servicefabric_rest::Client) -> servicefabric_rest::Result<()> {
    /// client.delete_name("fabric:/myapp/config").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_name(&self, name: &str) -> Result<()> {
        let name_id = paths::name_id(name)?;
        let timeout = self.timeout();
        self.call(
            "DeleteName",
            Resend::IfNotSent,
            about(name),
            move |raw| async move {
                raw.delete_name()
                    .name_id(name_id)
                    .timeout(timeout)
                    .send()
                    .await
            },
        )
        .await
        .map(drop)
    }
}

fn about(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("name {name}")
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
        let name_id = paths::name_id(name)?;
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
        let client = self.clone();
        let name = name.to_string();
        paging::pages(move |token| {
            let (client, name) = (client.clone(), name.clone());
            async move {
                client
                    .sub_names_page(&name, recursive, token.as_deref())
                    .await
            }
        })
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
