//! The handle the workflows run on: a borrowed [`Client`] whose own methods (one gateway
//! call each) they call, with the workflows' helpers beside them.

use std::ops::Deref;

use servicefabric_rest::Client;

/// A client, seen by a workflow.
#[derive(Clone, Copy)]
pub(crate) struct Workflow<'a>(pub &'a Client);

impl Deref for Workflow<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0
    }
}
