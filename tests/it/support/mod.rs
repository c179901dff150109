//! Test support: a real local IAM (moto's server under libfaketime, on a free loopback
//! port), helpers to seed it with users and keys of any age, a recorder of the calls it
//! received, and a `keytrim` command wired to it and to nothing else.
//!
//! Starting moto's server takes about a second of CPU, more than most tests spend
//! using it, so servers of the default kind are kept when a test ends and handed to the
//! next test after moto's own reset (`/moto-api/reset`: every account's state), with the
//! clock set back to now and the recording cleared. Each test still gets a server in
//! the state of a fresh one, and its own working directory.
//!
//! `local_iam` is the server and its seeding, `command` runs keytrim, `journals` finds
//! what a run wrote, `calls` records and reads what the server received,
//! `organizations` makes an Organization of its accounts, `secrets` makes Secrets
//! Manager secrets for the rotation hand-off, `seed` builds the account
//! that shows every decision, and `proxy` puts IAM's real behaviour (throttling, lost
//! answers, paging) in front of moto.

mod calls;
pub(crate) mod command;
mod journals;
mod local_iam;
mod organizations;
pub(crate) mod proxy;
mod secrets;
mod seed;

pub(crate) use calls::{is_write, param};
pub(crate) use command::{isolated_env, keytrim_isolated, keytrim_path, stderr_with_code};
pub(crate) use journals::{assert_journals_tell_the_truth, journals, new_journal, only_journal};
pub(crate) use local_iam::{ACCOUNT_ID, LocalIam, SeededKey, moto_python};
pub(crate) use seed::{EveryDecision, seed_every_decision};

/// A plan's text without the moment it was written, for comparing two audits.
pub(crate) fn without_generated_at(plan: &str) -> String {
    plan.lines()
        .filter(|line| !line.starts_with("generated_at:"))
        .collect::<Vec<_>>()
        .join("\n")
}
