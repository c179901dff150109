//! keytrim: enforce CIS AWS Foundations Benchmark 1.13 (at most one active access key
//! per IAM user) by auditing into a reviewable plan and applying it safely.
//!
//! Data flows one way: [`inventory`] reads IAM into [`facts`], [`rule`] judges each
//! user, [`plan`] records the verdicts, [`apply`] replays a plan into IAM and
//! [`journal`] records every step; [`app`] runs the commands.

pub mod accounts;
pub mod app;
pub mod apply;
pub mod audit;
pub mod aws;
pub mod bounded;
pub mod cli;
pub mod error;
pub mod exemptions;
pub mod facts;
pub mod iam_policy;
pub mod inventory;
pub mod journal;
pub mod plan;
pub mod progress;
pub mod rule;
pub mod style;
pub mod term;
