//! Changing one user's keys: UpdateAccessKey one key at a time, each journaled before
//! and after the call; a call without a clear answer read back (and sent again while
//! IAM still shows it unchanged); verification by re-listing with back-off; and, when
//! the change may have left the user without a working key, the lockout guard
//! (`lockout`).

use std::time::Duration;

use crate::aws::iam::{self, Written};
use crate::facts::{KeyFacts, KeyStatus};
use crate::journal::{Entry, KeyLine, LeftBy, UserLine};

use super::lockout::{Lockout, restore_after_lockout};
use super::{Outcome, RunState};

/// First wait between verification listings; it doubles up to `VERIFY_LONGEST_WAIT`.
pub(super) const VERIFY_FIRST_WAIT: Duration = Duration::from_millis(250);

pub(super) const VERIFY_LONGEST_WAIT: Duration = Duration::from_secs(4);

/// Why one user's work ended early.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    /// An AWS read failed before any change to the user.
    #[error(transparent)]
    Aws(#[from] crate::error::Error),
    /// Re-listing the keys to verify a change failed.
    #[error("cannot verify: {0}")]
    Verify(crate::error::Error),
    /// Verification did not see the change in time.
    #[error("{key} was not seen {status} within {seconds} s")]
    NotSeen {
        key: String,
        status: &'static str,
        seconds: u64,
    },
    /// The journal could not be written.
    #[error(transparent)]
    Journal(crate::error::Error),
    /// After keytrim's deactivation, IAM shows the user with no Active key.
    #[error("the user has no active key")]
    NoActiveKey,
}

/// How one key's change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyChange {
    /// IAM applied it (answered so, or showed it when read back).
    Done,
    /// IAM applied it, but its `done` line could not be written (the error).
    DoneUnrecorded(String),
    /// IAM answered with an error and shows the key unchanged.
    Failed(String),
    /// IAM could not confirm the change either way.
    Unknown(String),
}

/// How many times a call without a clear answer is sent again while reading the key
/// back still shows its old status. Setting a status is idempotent, so sending it again
/// is safe; it ends the common case (every retry throttled) without an unknown outcome.
pub(super) const UNCLEAR_ROUNDS: usize = 3;

/// Change one key's status: intent line, the call, outcome line. A failed call that may
/// have been sent is settled by reading the user's keys back: the SDK retries, and an
/// earlier attempt whose answer was lost may have been applied before a later one was
/// refused (an expired session, AccessDenied). The journal records what IAM shows:
/// `done` when the key has the new status, `failed` only when IAM refused the only
/// attempt and shows the key unchanged, `unknown` otherwise. While a call without a
/// clear answer leaves the key unchanged, it is sent again, up to `UNCLEAR_ROUNDS`
/// rounds in all.
pub(super) async fn set_status(
    ctx: &RunState,
    user_name: &str,
    key_id: &str,
    from: KeyStatus,
    to: KeyStatus,
) -> Result<KeyChange, StepError> {
    ctx.record(ctx.key_line(user_name, key_id, from, to, KeyLine::Intent))?;
    send_and_settle(ctx, user_name, key_id, from, to, ReadBack::Settles).await
}

/// Whether a listing that shows a key with the new status settles an unclear call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadBack {
    /// It does: the key had the old status before the call.
    Settles,
    /// It does not: giving back a key keytrim just switched off, a lagging listing
    /// still shows it Active from before keytrim's own change. Only IAM's success
    /// answer counts.
    ProvesNothing,
}

/// `set_status` after its intent line: the call, and its outcome line.
pub(super) async fn send_and_settle(
    ctx: &RunState,
    user_name: &str,
    key_id: &str,
    from: KeyStatus,
    to: KeyStatus,
    read_back: ReadBack,
) -> Result<KeyChange, StepError> {
    let line = |what| ctx.key_line(user_name, key_id, from, to, what);
    let done = |entry: Entry| match ctx.record(entry) {
        Ok(()) => KeyChange::Done,
        Err(error) => KeyChange::DoneUnrecorded(error.to_string()),
    };
    let mut round = 1;
    loop {
        let written = match iam::update_access_key(&ctx.clients, user_name, key_id, to).await {
            // After a round without a clear answer, a refusal of the next round proves
            // nothing about the earlier one, which may have landed.
            Written::Refused(error) if round > 1 => Written::Unclear {
                error,
                refused_retry: true,
            },
            written => written,
        };
        let (error, refused, how) = match written {
            Written::Applied => return Ok(done(line(KeyLine::Done))),
            Written::NotSent(error) => {
                let error = error.to_string();
                ctx.record(line(KeyLine::Refused { error: &error }))?;
                return Ok(KeyChange::Failed(error));
            }
            Written::Refused(error) => (error, true, "IAM answered with an error"),
            Written::Unclear {
                error,
                refused_retry: true,
            } => (
                error,
                false,
                "IAM answered with an error after an attempt without a clear answer, which may have landed",
            ),
            Written::Unclear { error, .. } => (error, false, "no clear answer from IAM"),
        };
        let error = error.to_string();
        tracing::warn!(
            user = user_name,
            key = key_id,
            "UpdateAccessKey failed ({error}); reading the key back"
        );
        let seen = iam::list_keys(&ctx.clients, user_name).await.map(|keys| {
            keys.into_iter()
                .find(|key| key.access_key_id == key_id)
                .map(|key| key.status)
        });
        let settled = read_back == ReadBack::Settles;
        let unknown = match seen {
            Ok(Some(status)) if status == to && settled => {
                return Ok(done(line(KeyLine::Done).reason(format!(
                    "{how} ({error}); reading the key back shows it {}",
                    to.as_str()
                ))));
            }
            Ok(Some(_)) if refused => {
                let refused = format!(
                    "{error}; reading the key back shows it unchanged ({})",
                    from.as_str()
                );
                ctx.record(line(KeyLine::Refused { error: &refused }))?;
                return Ok(KeyChange::Failed(error));
            }
            Ok(Some(_)) if round < UNCLEAR_ROUNDS && ctx.stop_cause().is_none() => {
                round += 1;
                continue;
            }
            Ok(Some(status)) if settled => format!(
                "{how} ({error}); reading the key back still shows it {} after {round} rounds, but IAM is eventually consistent, so the change may yet appear",
                status.as_str()
            ),
            Ok(Some(_)) => format!(
                "{how} ({error}) in {round} rounds; a listing cannot tell, since it may still show the key as it was before keytrim's own change"
            ),
            Ok(None) => format!("{error}; reading the keys back no longer lists {key_id}"),
            Err(read) => format!("{error}; reading the keys back failed too: {read}"),
        };
        ctx.record(line(KeyLine::Unknown {
            error: Some(&unknown),
        }))?;
        return Ok(KeyChange::Unknown(unknown));
    }
}

/// How many listings in a row must show the intended state before a change counts as
/// seen. IAM is eventually consistent: one listing may come from a replica that shows
/// some changes and not others, so no decision rests on one listing alone.
pub(super) const CONFIRMING_LISTINGS: usize = 2;

/// Re-list the user's keys until `CONFIRMING_LISTINGS` listings in a row show every
/// `(key, status)`, or time runs out. After a deactivation, any listing that shows a
/// key meant to stay Active as anything else (or no Active key at all) ends the wait
/// at once: someone else switched off the key that was to stay, and the user must not
/// be left so. A listing that fails is tried again until the deadline.
pub(super) async fn verify(
    ctx: &RunState,
    user_name: &str,
    expected: &[(String, KeyStatus)],
    to: KeyStatus,
) -> Result<(), StepError> {
    let deadline = tokio::time::Instant::now() + ctx.verify_timeout;
    let mut wait = VERIFY_FIRST_WAIT;
    let mut seen_in_a_row = 0;
    loop {
        let mismatch = match iam::list_keys(&ctx.clients, user_name).await {
            Ok(live) => {
                if to == KeyStatus::Inactive && kept_key_is_off(&live, expected) {
                    return Err(StepError::NoActiveKey);
                }
                // A key to switch off that someone deleted meanwhile is off too.
                let holds = |(id, status): &&(String, KeyStatus)| match live
                    .iter()
                    .find(|key| &key.access_key_id == id)
                {
                    Some(key) => key.status == *status,
                    None => *status == KeyStatus::Inactive,
                };
                match expected.iter().find(|pair| !holds(pair)) {
                    None => {
                        seen_in_a_row += 1;
                        if seen_in_a_row >= CONFIRMING_LISTINGS {
                            return Ok(());
                        }
                        None
                    }
                    Some((id, status)) => {
                        seen_in_a_row = 0;
                        Some(StepError::NotSeen {
                            key: id.clone(),
                            status: status.as_str(),
                            seconds: ctx.verify_timeout.as_secs(),
                        })
                    }
                }
            }
            Err(err) => {
                seen_in_a_row = 0;
                Some(StepError::Verify(err))
            }
        };
        // A listing that showed the intended state is confirmed by the next one soon;
        // anything else waits with back-off.
        let pause = if mismatch.is_some() {
            wait
        } else {
            VERIFY_FIRST_WAIT
        };
        if tokio::time::Instant::now() + pause > deadline {
            return Err(mismatch.unwrap_or_else(|| StepError::NotSeen {
                key: "the change".to_string(),
                status: "twice",
                seconds: ctx.verify_timeout.as_secs(),
            }));
        }
        tokio::time::sleep(pause).await;
        if mismatch.is_some() {
            wait = (wait * 2).min(VERIFY_LONGEST_WAIT);
        }
    }
}

/// True when a listing shows a key meant to stay Active (`expected` Active) as not
/// Active or not there, or shows no Active key at all: after keytrim's deactivation,
/// the user may be left with no working key.
fn kept_key_is_off(live: &[KeyFacts], expected: &[(String, KeyStatus)]) -> bool {
    let kept_off = expected
        .iter()
        .filter(|(_, status)| *status == KeyStatus::Active)
        .any(|(id, _)| {
            !live
                .iter()
                .any(|key| &key.access_key_id == id && key.is_active())
        });
    kept_off || !live.iter().any(KeyFacts::is_active)
}

/// Change `keys` of a user to `to`, then verify `expected`. The caller has just listed
/// the user's keys and found every key not in `keys` already as `expected` says.
pub(super) async fn change_and_verify(
    ctx: &RunState,
    user_name: &str,
    keys: &[String],
    from: KeyStatus,
    to: KeyStatus,
    unchanged: Vec<String>,
    expected: Vec<(String, KeyStatus)>,
) -> Result<Outcome, StepError> {
    let mut changed = Vec::new();
    // A key whose change may have happened without an answer saying so.
    let mut maybe_changed = None;
    let mut ended_early = None;
    for key in keys {
        if let Some(cause) = ctx.stop_cause() {
            // Recording may fail when the journal is what stopped the run.
            let reason = format!("{} before this key", cause.describe());
            let left = ctx.key_left_alone(user_name, key, (from, to), LeftBy::Skipped, &reason);
            let _ = ctx.record(left);
            ended_early = Some(Outcome::Stopped {
                changed: changed.clone(),
                cause,
            });
            break;
        }
        let outcome = match set_status(ctx, user_name, key, from, to).await {
            Ok(KeyChange::Done) => {
                changed.push(key.clone());
                continue;
            }
            Ok(KeyChange::DoneUnrecorded(error)) => {
                changed.push(key.clone());
                Outcome::JournalFailed {
                    changed: changed.clone(),
                    error,
                }
            }
            Ok(KeyChange::Failed(error)) => Outcome::Failed {
                changed: changed.clone(),
                error,
            },
            Ok(KeyChange::Unknown(error)) => {
                maybe_changed = Some(key.clone());
                Outcome::Unknown {
                    changed: changed.clone(),
                    key: key.clone(),
                    error,
                }
            }
            Err(StepError::Journal(error)) => {
                // The call may have been sent before a line after it failed.
                maybe_changed = Some(key.clone());
                Outcome::JournalFailed {
                    changed: changed.clone(),
                    error: error.to_string(),
                }
            }
            Err(other) => return Err(other),
        };
        ended_early = Some(outcome);
        break;
    }
    if let Some(outcome) = ended_early {
        // However the user's work ended, a change that happened (or may have) must
        // not leave the user without an active key: the kept key is watched as after
        // any deactivation. A kept key seen off, or a change not seen in time, is
        // undone (setting Active on a key the failed call left Active changes
        // nothing); a change seen after all settles an unknown outcome.
        let touched: Vec<String> = changed.iter().cloned().chain(maybe_changed).collect();
        if to == KeyStatus::Inactive && !touched.is_empty() {
            let kept = expected
                .iter()
                .filter(|(_, status)| *status == KeyStatus::Active)
                .cloned();
            let watched: Vec<(String, KeyStatus)> = kept
                .chain(touched.iter().map(|id| (id.clone(), KeyStatus::Inactive)))
                .collect();
            match verify(ctx, user_name, &watched, to).await {
                Err(StepError::NoActiveKey) => {
                    return restore_after_lockout(ctx, user_name, touched, Lockout::KeptKeyOff)
                        .await;
                }
                Ok(()) => return Ok(settle_unknown(ctx, user_name, outcome, keys)),
                Err(StepError::Journal(_)) => {}
                Err(unseen) => {
                    let why = Lockout::NotSeen(format!("{unseen}, after {}", ended_how(&outcome)));
                    return restore_after_lockout(ctx, user_name, touched, why).await;
                }
            }
        }
        return Ok(outcome);
    }
    verify_and_record(ctx, user_name, changed, unchanged, &expected, to).await
}

/// What ended a user's changes early, for the reason of a restore that follows.
fn ended_how(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed { error, .. } => format!("a refused call ({error})"),
        Outcome::Unknown { key, error, .. } => format!("no clear answer for {key} ({error})"),
        Outcome::JournalFailed { error, .. } => format!("a journal write that failed ({error})"),
        Outcome::Stopped { cause, .. } => cause.describe().to_string(),
        _ => "an early end".to_string(),
    }
}

/// Listings taken after IAM's lag show a key whose call had no clear answer with its
/// new status, twice: the change happened. Its `done` line follows the `unknown` one,
/// and when it was the user's last key to change, the user is verified.
fn settle_unknown(ctx: &RunState, user_name: &str, outcome: Outcome, keys: &[String]) -> Outcome {
    let Outcome::Unknown {
        mut changed, key, ..
    } = outcome
    else {
        return outcome;
    };
    let done = ctx
        .key_line(
            user_name,
            &key,
            KeyStatus::Active,
            KeyStatus::Inactive,
            KeyLine::Done,
        )
        .reason("listings taken after IAM's lag show it Inactive, twice");
    if let Err(error) = ctx.record(done) {
        changed.push(key);
        return Outcome::JournalFailed {
            changed,
            error: error.to_string(),
        };
    }
    changed.push(key);
    if keys.last() != changed.last() {
        // Keys after it were never tried: the user is not done.
        let error = "the keys after it were not changed".to_string();
        return Outcome::Failed { changed, error };
    }
    let verified = ctx
        .user_line(user_name, UserLine::Verified)
        .reason(format!("{} now Inactive", changed.join(", ")));
    match ctx.record(verified) {
        Ok(()) => Outcome::Verified {
            changed,
            unchanged: Vec::new(),
        },
        Err(error) => Outcome::JournalFailed {
            changed,
            error: error.to_string(),
        },
    }
}

/// After a user's changes: verify them, and journal how the user ended.
pub(super) async fn verify_and_record(
    ctx: &RunState,
    user_name: &str,
    changed: Vec<String>,
    unchanged: Vec<String>,
    expected: &[(String, KeyStatus)],
    to: KeyStatus,
) -> Result<Outcome, StepError> {
    // With nothing changed, the drift check's listing already showed the intended
    // state; listing again would only repeat it.
    let seen = if changed.is_empty() {
        Ok(())
    } else {
        verify(ctx, user_name, expected, to).await
    };
    let (entry, outcome) = match seen {
        Err(StepError::Journal(error)) => {
            return Ok(Outcome::JournalFailed {
                changed,
                error: error.to_string(),
            });
        }
        Err(StepError::NoActiveKey) => {
            return restore_after_lockout(ctx, user_name, changed, Lockout::KeptKeyOff).await;
        }
        // A deactivation IAM did not show in time, with the kept key Active, is undone:
        // a lagging listing cannot show whether someone switched the kept key off
        // meanwhile, and a user with no working key is the one ending keytrim avoids
        // at any cost.
        Err(unseen) if to == KeyStatus::Inactive => {
            let why = Lockout::NotSeen(unseen.to_string());
            return restore_after_lockout(ctx, user_name, changed, why).await;
        }
        Ok(()) => {
            let reason = if changed.is_empty() {
                "already in the intended state".to_string()
            } else {
                format!("{} now {}", changed.join(", "), to.as_str())
            };
            (
                ctx.user_line(user_name, UserLine::Verified).reason(reason),
                Outcome::Verified {
                    changed: changed.clone(),
                    unchanged,
                },
            )
        }
        Err(unseen) => {
            let reason = unseen.to_string();
            (
                ctx.user_line(user_name, UserLine::Unverified)
                    .reason(reason.clone()),
                Outcome::Unverified {
                    changed: changed.clone(),
                    reason,
                },
            )
        }
    };
    match ctx.record(entry) {
        Ok(()) => Ok(outcome),
        // The changes were made (and their outcomes journaled); only this line is missing.
        Err(error) => Ok(Outcome::JournalFailed {
            changed,
            error: error.to_string(),
        }),
    }
}
