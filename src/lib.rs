//! keytrim: enforce CIS AWS Foundations Benchmark 1.13 (at most one active access key
//! per IAM user) by auditing into a reviewable plan and applying it safely.
//!
//! Data flows one way: [`inventory`] reads IAM into [`facts`], [`rule`] judges each
//! user, [`plan`] records the verdicts, [`change`] replays a plan into IAM (apply) or a
//! journal back (rollback) and [`journal`] records every step. The core reports through
//! [`report`]; the shell ([`app`] with [`cli`], [`style`], [`progress`], [`prompt`] and
//! [`summary`]) is the only part that prints. ARCHITECTURE.md maps it all.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod aws;
pub mod bounded;
pub mod change;
pub mod cli;
pub mod error;
pub mod exemptions;
pub mod facts;
pub mod files;
pub mod iam_policy;
pub mod inventory;
pub mod journal;
pub mod plan;
pub mod progress;
pub mod prompt;
pub mod report;
pub mod rule;
pub mod style;
pub mod summary;
pub mod term;
