//! The handle the workflows run on: a borrowed [`Client`] whose own methods (one gateway
//! call each) they call, with the workflows' helpers beside them.

use std::ops::Deref;

use servicefabric_rest::{Client, Result, paths::store_form};

/// A client, seen by a workflow.
#[derive(Clone, Copy)]
pub(crate) struct Workflow<'a>(pub &'a Client);

impl Deref for Workflow<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0
    }
}

impl Workflow<'_> {
    /// The size of the file the image store holds at `content_path`, if it holds one (a
    /// file's own path lists just that file).
    pub(crate) async fn stored_size(&self, content_path: &str) -> Result<Option<u64>> {
        let wanted = store_form(content_path);
        match self.store_content_page(Some(content_path), None).await {
            Ok(page) => Ok(page
                .files
                .iter()
                .find(|f| store_form(&f.path) == wanted)
                .map(|f| f.size)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
