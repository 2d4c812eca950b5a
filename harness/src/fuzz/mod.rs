//! The network fuzzer: whole sessions generated and mutated with knowledge of each
//! protocol's grammar and states (greeting, before TLS, inside TLS after STARTTLS,
//! logged in, inside DATA/APPEND), run against a target, judged by oracles (hang,
//! crash, grammar), saved, de-duplicated, minimized and replayable.
//!
//! The parts, one job each: [`case`] is what a session is; [`grammar`] writes new
//! ones; [`mutate`] changes them; [`exec`] runs one; [`oracle`] judges the run;
//! [`container_monitor`] reads a container's log and state for the crashes its
//! sockets do not show; [`target`] owns what is fuzzed (and restarts it after a crash); [`finding`] saves
//! and loads findings; [`minimize`] shrinks them; [`campaign`] drives it all;
//! [`replay`] runs a saved finding again; [`tuning`] says what is relaxed in a
//! container's server before fuzzing it; [`governors`] holds the governor through
//! which every connection to an endpoint goes.

pub mod campaign;
pub mod case;
pub mod container_monitor;
pub mod exec;
pub mod finding;
pub mod governors;
pub mod grammar;
pub mod minimize;
pub mod mutate;
pub mod oracle;
pub mod replay;
pub mod target;
pub mod tuning;

pub use campaign::{Campaign, CampaignOptions, CampaignSummary, Shard};
pub use case::{Case, Step};
pub use finding::Finding;
pub use governors::Governors;
pub use target::FuzzTarget;
