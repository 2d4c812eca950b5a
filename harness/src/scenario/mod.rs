//! The scenario language: scripted sessions that read like the `C:`/`S:` transcripts
//! of RFCs and bug reports. `parse` turns text into a [`Scenario`]; `run` plays it
//! against one endpoint. See `parse.rs` for the grammar and `scenarios/` for scripts.

pub mod ast;
pub mod parse;
pub mod run;

pub use ast::{Meta, Needs, Scenario};
pub use parse::{parse, ScenarioError};
