//! How one user's work ended, for the summary, the exit status and the journal.

use super::StopCause;

/// How one user ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Changed (or already in the intended state) and seen so by re-listing.
    Verified {
        changed: Vec<String>,
        unchanged: Vec<String>,
    },
    /// Dry run: these keys would change.
    WouldChange {
        keys: Vec<String>,
        unchanged: Vec<String>,
    },
    /// Changed, but the intended state was not seen in time.
    Unverified {
        changed: Vec<String>,
        reason: String,
    },
    /// Live state no longer matched: left alone.
    Drifted { reason: String },
    /// Rollback: `changed` were re-activated and verified, but other keys were left
    /// alone (`reason`: used after the apply changed them).
    PartlyDrifted {
        changed: Vec<String>,
        reason: String,
    },
    /// IAM answered a call with an error (nothing changed by it), or a read failed.
    Failed { changed: Vec<String>, error: String },
    /// A call got no clear answer and IAM could not confirm its effect: `key` may or
    /// may not have changed.
    Unknown {
        changed: Vec<String>,
        key: String,
        error: String,
    },
    /// The journal could not be written while this user was being changed.
    JournalFailed { changed: Vec<String>, error: String },
    /// After keytrim deactivated `deactivated`, the user had no Active key (someone
    /// else switched off the key to keep): keytrim re-activated `restored`.
    LockoutAverted {
        deactivated: Vec<String>,
        restored: Vec<String>,
        reason: String,
    },
    /// The rotation hand-off: `new_key` is in the secret, as AWSCURRENT; the old key
    /// stays Active until the ordinary rule sees it idle.
    HandedOff { new_key: String, secret_arn: String },
    /// Dry run: a new key would be handed off to the secret.
    WouldHandOff { secret_arn: String },
    /// Rollback of a hand-off: AWSCURRENT is on the old key again; `new_key` is
    /// still Active.
    Restored { secret_arn: String, new_key: String },
    /// Dry run: AWSCURRENT would be moved back.
    WouldRestore { secret_arn: String },
    /// The person said no.
    Declined,
    /// A `hold` in the plan: left for review.
    Held { reason: String },
    /// `rotate` or `exempt`: nothing to do automatically.
    Skipped { reason: String },
    /// `--max-changes` was reached before this user.
    Limited { max: usize },
    /// The run stopped before this user (or this user's next key).
    Stopped {
        changed: Vec<String>,
        cause: StopCause,
    },
}

/// A user and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserReport {
    pub user_name: String,
    pub outcome: Outcome,
}
