//! keytrim: enforce CIS AWS Foundations Benchmark 1.13 (at most one active access key
//! per IAM user) by auditing into a reviewable plan and applying it safely.
//!
//! Data flows one way: `audit` reads IAM (every call to AWS is in `aws`) into
//! [`facts`], [`rule`] judges each user, [`plan`] records the verdicts, `change` replays
//! a plan into IAM (apply) or a journal back (rollback), [`journal`] records every step,
//! and [`evidence`] joins a plan and its journals for an auditor. The core reports through traits
//! (`progress::Progress`, `change::reporter::Reporter`); [`commands`] runs one command
//! each, and the [`shell`] is the only part that prints. ARCHITECTURE.md maps it all.
//!
//! The public modules are the library's API: running a command ([`commands`], with
//! [`shell::cli`], [`error`] and [`exit`]) and the files keytrim reads and writes
//! ([`plan`], [`journal`], [`evidence`], with [`facts`], [`rule`] and [`safe_text`] for
//! their data and how it is shown). [`bounded`] is public for the benchmark.
//! Everything else is crate-private.

mod audit;
mod aws;
pub mod bounded;
mod change;
pub mod commands;
pub mod digest;
pub mod error;
pub mod evidence;
mod exemptions;
pub mod exit;
pub mod facts;
mod files;
mod iam_policy;
pub mod journal;
pub mod plan;
mod progress;
mod rotation;
pub mod rule;
pub mod safe_text;
pub mod shell;
mod yaml;

/// Property tests' settings: `cases` cases each, and no regression file written into
/// the repository when one fails (tests never write there; the failing input, shrunk,
/// is in the test's output).
#[cfg(test)]
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
