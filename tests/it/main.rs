//! keytrim's integration tests: one test binary, as ripgrep and just have, so the AWS
//! SDK is linked once rather than once per area. Each module is one area, run against
//! the real `keytrim` binary and moto's server on 127.0.0.1 (see `support`).
//!
//! Run one area with `cargo test --test it show::`, one test by its name.

// Tests fail loudly on purpose: unwrap is how they say so, and a test reads best whole.
// Tests may also say what they measured on stderr.
#![allow(clippy::unwrap_used, clippy::too_many_lines, clippy::print_stderr)]

mod support;

mod apply;
mod audit;
mod bad_plans;
mod cli;
mod docs;
mod errors;
mod evidence;
mod exemptions;
mod faults;
mod hand_off;
mod iam_policy;
mod in_flight;
mod interrupt;
mod layout;
mod meanwhile;
mod no_fresh_key;
mod org;
mod population;
mod prompt;
mod quick_start;
mod report;
mod resume;
mod rotation;
mod sarif;
mod schema;
mod security_hub;
mod show;
mod special_files;
