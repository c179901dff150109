//! The lockout guard: when keytrim's own change may have left a user without a working
//! key, it gives back what it just switched off, journaled like any change, and the
//! user ends `LockoutAverted` (exit 1), named loudly in the summary.

use std::fmt::Write as _;

use crate::facts::KeyStatus;
use crate::journal::{KeyLine, LeftBy};

use super::key_change::{KeyChange, ReadBack, StepError, send_and_settle};
use super::{Outcome, RunState};

/// Why keytrim gives back keys it just deactivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lockout {
    /// A listing after the change showed the key to keep switched off (or no Active
    /// key): someone else switched it off while keytrim worked.
    KeptKeyOff,
    /// IAM did not show the change with the kept key Active in time (the words say
    /// what was not seen), so keytrim cannot tell that the user still has a working key.
    NotSeen(String),
}

/// The user may be left with no working key after keytrim deactivated `changed`:
/// someone else switched off the key that was to stay while keytrim worked, or IAM did
/// not show the change in time, so keytrim cannot tell. keytrim never causes a
/// lockout, so it re-activates what it just deactivated (journaled like any change),
/// and the user ends `LockoutAverted` (exit 1), named loudly in the summary.
pub(super) async fn restore_after_lockout(
    ctx: &RunState,
    user_name: &str,
    changed: Vec<String>,
    why: Lockout,
) -> Result<Outcome, StepError> {
    tracing::error!(
        user = user_name,
        "the user may have no working key after deactivating {} ({why:?}): re-activating it",
        changed.join(", ")
    );
    let mut restored = Vec::new();
    let mut problems = Vec::new();
    for key in &changed {
        // Neither a stop cause nor a journal that cannot be written stops this: a
        // user with no active key is worse than a change journaled late.
        let intent = ctx
            .key_line(
                user_name,
                key,
                KeyStatus::Inactive,
                KeyStatus::Active,
                KeyLine::Intent,
            )
            .reason(match &why {
                Lockout::KeptKeyOff => "re-activating: IAM shows the key to keep switched off",
                Lockout::NotSeen(_) => {
                    "re-activating: IAM did not show the change with the kept key Active"
                }
            });
        if let Err(StepError::Journal(error)) = ctx.record(intent) {
            problems.push(format!("journal: {error}"));
        }
        let sent = send_and_settle(
            ctx,
            user_name,
            key,
            KeyStatus::Inactive,
            KeyStatus::Active,
            ReadBack::ProvesNothing,
        );
        match sent.await {
            Ok(KeyChange::Done) => restored.push(key.clone()),
            Ok(KeyChange::DoneUnrecorded(error)) => {
                restored.push(key.clone());
                problems.push(format!("journal: {error}"));
            }
            Ok(KeyChange::Failed(error) | KeyChange::Unknown(error)) => {
                problems.push(format!("{key}: {error}"));
            }
            Err(StepError::Journal(error)) => problems.push(format!("journal: {error}")),
            Err(other) => problems.push(format!("{key}: {other}")),
        }
    }
    let mut reason = match &why {
        Lockout::KeptKeyOff => format!(
            "after deactivating {}, IAM showed the key to keep switched off (or no active key): someone else switched it off during the run, or a listing lags",
            changed.join(", ")
        ),
        Lockout::NotSeen(unseen) => format!(
            "after deactivating {}, {unseen}: a lagging IAM cannot show whether the key to keep is still Active, so the change is undone",
            changed.join(", ")
        ),
    };
    if restored.is_empty() && why == Lockout::KeptKeyOff {
        reason.push_str("; re-activating failed, the user HAS NO ACTIVE KEY");
    } else if restored.is_empty() {
        reason.push_str("; re-activating failed, the user MAY HAVE NO ACTIVE KEY: check it now");
    } else {
        let _ = write!(reason, "; re-activated {}", restored.join(", "));
    }
    if !problems.is_empty() {
        let _ = write!(reason, " ({})", problems.join("; "));
    }
    // Best effort: the intent and done lines of the re-activation are the record that
    // matters, and they were written above (or their failure is in `problems`).
    // The user's last line is `drifted` either way: the user's keys are not as the
    // run meant to leave them, and the report reads the re-activation as the keys'
    // latest state.
    let _ = ctx.record(ctx.left_alone(user_name, LeftBy::Drifted, &reason));
    Ok(Outcome::LockoutAverted {
        deactivated: changed,
        restored,
        reason,
    })
}
