//! Checks written in Rust, for what a script cannot express (raw ClientHellos,
//! certificate analysis, byte-level probes). They join the catalogue through
//! [`super::Check::Native`] with the same ids, outcomes and transcripts.

use super::{CheckContext, Verdict};
use crate::scenario::Meta;
use crate::session::Transcript;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so native checks can be trait objects in one catalogue.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A check written in Rust.
pub trait NativeCheck: Send + Sync + std::fmt::Debug {
    /// Id, title, protocol (`None`: every TLS endpoint), severity, references, needs,
    /// policies. `pass_detail` is unused.
    fn meta(&self) -> &Meta;

    /// Runs against one endpoint on its own connection(s), recording every byte
    /// into `transcript` and returning it. Applicability (implicit TLS, policy,
    /// credentials) has been checked already.
    fn run<'a>(
        &'a self,
        ctx: &'a CheckContext,
        transcript: Transcript,
    ) -> BoxFuture<'a, (Verdict, Transcript)>;
}
