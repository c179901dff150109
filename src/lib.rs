//! keytrim: enforce CIS AWS Foundations Benchmark 1.13 (at most one active access key
//! per IAM user) by auditing into a reviewable plan and applying it safely.
//!
//! Data flows one way: `inventory` reads IAM into [`facts`], [`rule`] judges each
//! user, [`plan`] records the verdicts, `change` replays a plan into IAM (apply) or a
//! journal back (rollback) and [`journal`] records every step. The core reports through
//! `report`; the shell ([`app`] with [`cli`], `style`, `progress`, `prompt` and
//! `summary`) is the only part that prints. ARCHITECTURE.md maps it all.
//!
//! The public modules are the library's API: running a command ([`app`], [`cli`],
//! [`error`]) and the files keytrim reads and writes ([`plan`], [`journal`], with
//! [`facts`], [`rule`] and [`term`] for their data and how it is shown). [`bounded`]
//! is public for the benchmark. Everything else is crate-private.

mod accounts;
pub mod app;
mod audit;
mod aws;
pub mod bounded;
mod change;
pub mod cli;
pub mod error;
pub mod evidence;
mod exemptions;
pub mod facts;
mod files;
mod iam_policy;
mod inventory;
pub mod journal;
pub mod plan;
mod progress;
mod prompt;
mod report;
pub mod rule;
mod style;
mod summary;
pub mod term;
