//! apply's rotation hand-off for one user (docs/rotation.md, "What apply does, per
//! user"): the live checks before any write (the plan still stands as of now, the
//! user's tags, its keys, the binding read again exactly as the audit reads it, the
//! credentials' time left, one run per user), then `change::rotate`; and an earlier
//! apply's unfinished rotation of the user, taken up before anything else.

use std::time::{Duration, SystemTime};

use chrono::Utc;

use super::{Outcome, RunState, live_keys, read_until_stopped};
use crate::audit::binding::{Asking, Lookup, binding_of};
use crate::change::rotate::{self, HandOff, HandedOff, ProbeSchedule, Restored, Unfinished};
use crate::facts::{KeyStatus, RotationBinding};
use crate::journal::LeftBy;
use crate::plan::PlanUser;
use crate::rotation::recovery::NewKeyEnd;
use crate::rule::Policy;

use super::key_change::StepError;

/// The credentials must last this much longer before a key is made: an expiring
/// session would strand the new key before its clean-up.
const CREDENTIALS_LEFT: Duration = Duration::from_secs(15 * 60);

/// The user's one key, if the live keys are exactly the plan's: one key, Active.
fn the_one_key(user: &PlanUser, live: &[crate::facts::KeyFacts]) -> Result<String, String> {
    match (live, user.keys.as_slice()) {
        ([key], [planned])
            if key.access_key_id == planned.access_key_id
                && key.status == KeyStatus::Active
                && planned.status == KeyStatus::Active =>
        {
            Ok(key.access_key_id.clone())
        }
        _ => Err(format!(
            "the user's keys are no longer the plan's one Active key ({} now)",
            live.iter()
                .map(|key| format!("{} {}", key.access_key_id, key.status.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Hand `user`'s new key off to the secret its plan entry names.
pub(super) async fn hand_off(
    ctx: &RunState,
    user: &PlanUser,
    policy: &Policy,
) -> Result<Outcome, StepError> {
    let name = user.user_name.as_str();
    let rotate_to = user
        .rotate_to
        .as_ref()
        .expect("apply hands off only a user whose plan entry says where");
    // One apply per user, from before the checks to the end of the rotation.
    let _lock = match lock_user(ctx, name)? {
        Locked::Held(lock) => Some(lock),
        Locked::DryRun => None,
        Locked::Busy(outcome) => return Ok(outcome),
    };
    let old_key = match still_bound(ctx, user, policy).await? {
        Ok(old_key) => old_key,
        Err(left_alone) => return Ok(left_alone),
    };
    if let Some(refused) = credentials_too_short(ctx, name).await? {
        return Ok(refused);
    }
    if let Some(budget) = &ctx.budget
        && !budget.take(1)
    {
        let reason = format!("limit: --max-changes {} reached", budget.max);
        ctx.record(ctx.left_alone(name, LeftBy::Skipped, &reason))?;
        return Ok(Outcome::Limited { max: budget.max });
    }
    let Some(journal) = &ctx.journal else {
        return Ok(Outcome::WouldHandOff {
            secret_arn: rotate_to.secret_arn.clone(),
        });
    };
    // Ctrl-C (or a journal that failed) during the checks: no rotation begins.
    if let Some(stopped) = super::stopped_before_reads(ctx, name) {
        return Ok(stopped);
    }
    no_core_dumps();
    let job = HandOff {
        account_id: &ctx.account_id,
        user_name: name,
        user_arn: &user.user_arn,
        secret_arn: &rotate_to.secret_arn,
        current_version: &rotate_to.current_version,
        old_key: &old_key,
    };
    let handed = rotate::hand_off(&ctx.clients, journal, job, ProbeSchedule::default()).await;
    Ok(outcome_of(handed, &rotate_to.secret_arn))
}

/// Everything the plan says of the hand-off, as of now: the plan stands, the user is
/// not exempt, its tag names the plan's secret, its keys are the plan's one Active key,
/// and the binding holds as the audit reads it, on the version the plan names. The
/// old key, or how the user was left alone.
async fn still_bound(
    ctx: &RunState,
    user: &PlanUser,
    policy: &Policy,
) -> Result<Result<String, Outcome>, StepError> {
    let name = user.user_name.as_str();
    let rotate_to = user
        .rotate_to
        .as_ref()
        .expect("apply hands off only a user whose plan entry says where");
    let drifted = |reason: String| -> Result<Result<String, Outcome>, StepError> {
        ctx.record(ctx.left_alone(name, LeftBy::Drifted, &reason))?;
        Ok(Err(Outcome::Drifted { reason }))
    };
    if let Err(problem) = crate::plan::standing::standing_as_of(policy, Utc::now(), user) {
        return drifted(format!("as of now, {}", problem.message));
    }
    let tags = crate::aws::iam::user_tags(&ctx.clients, name);
    let tags = match read_until_stopped(ctx, name, tags).await? {
        Ok(tags) => tags,
        Err(stopped) => return Ok(Err(stopped)),
    };
    if let Some(reason) = tags.in_force(Utc::now().date_naive()) {
        return drifted(format!("exempt since the audit: {reason}"));
    }
    let tag = format!("secretsmanager:{}", rotate_to.secret_arn);
    if tags.rotate_to.as_deref() != Some(tag.as_str()) {
        return drifted(
            "the user's keytrim:rotate-to tag no longer names the plan's secret".to_string(),
        );
    }
    let live = live_keys(ctx, name, |keys| {
        keys.iter().map(|key| key.access_key_id.clone()).collect()
    });
    let live = match read_until_stopped(ctx, name, live).await? {
        Ok(live) => live,
        Err(stopped) => return Ok(Err(stopped)),
    };
    let old_key = match the_one_key(user, &live) {
        Ok(key) => key,
        Err(reason) => return drifted(reason),
    };
    // The binding, read again as the audit reads it: both tags, the secret's state,
    // AWSCURRENT naming the user's key.
    let lookup = Lookup {
        policy: *policy,
        now: Utc::now(),
        account_id: ctx.account_id.clone(),
        region: ctx.clients.region(),
    };
    let asking = Asking {
        user_name: name,
        user_arn: &user.user_arn,
        keys: &live,
        tag: &tag,
    };
    match binding_of(&ctx.clients, &lookup, &asking).await? {
        RotationBinding::Bound {
            secret_arn,
            current_version,
        } if secret_arn == rotate_to.secret_arn && current_version == rotate_to.current_version => {
            Ok(Ok(old_key))
        }
        RotationBinding::Bound { .. } => {
            drifted("the secret's AWSCURRENT is no longer the version the plan names".to_string())
        }
        other => drifted(format!(
            "the binding no longer holds: {}",
            other.why_not().unwrap_or("it changed since the audit")
        )),
    }
}

/// Take up an earlier apply's unfinished rotation of the user whose ARN is
/// `user_arn`. A dry run says it would.
pub(super) async fn resume(
    ctx: &RunState,
    user_arn: &str,
    unfinished: &Unfinished,
) -> Result<Outcome, StepError> {
    let name = unfinished.user_name.as_str();
    let Some(journal) = &ctx.journal else {
        return Ok(Outcome::Skipped {
            reason: format!(
                "dry run: an earlier apply's rotation into {} is unfinished; apply would take it up first",
                unfinished.rotation.secret_arn
            ),
        });
    };
    let _lock = match lock_user(ctx, name)? {
        Locked::Held(lock) => lock,
        Locked::DryRun => unreachable!("a run with a journal is no dry run"),
        Locked::Busy(outcome) => return Ok(outcome),
    };
    // Under the lock, the journals again: another apply may have finished it.
    let dir = journal
        .path()
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty());
    let still = rotate::unfinished_in(dir.unwrap_or(std::path::Path::new(".")), &ctx.account_id)?;
    let Some(unfinished) = still
        .iter()
        .find(|other| other.rotation.token == unfinished.rotation.token)
    else {
        let reason = "another apply finished the earlier rotation meanwhile".to_string();
        ctx.record(ctx.left_alone(name, LeftBy::Skipped, &reason))?;
        return Ok(Outcome::Held { reason });
    };
    if let Some(refused) = credentials_too_short(ctx, name).await? {
        return Ok(refused);
    }
    if let Some(stopped) = super::stopped_before_reads(ctx, name) {
        return Ok(stopped);
    }
    no_core_dumps();
    let handed = rotate::resume(
        &ctx.clients,
        journal,
        &ctx.account_id,
        user_arn,
        unfinished,
        ProbeSchedule::default(),
    )
    .await;
    Ok(outcome_of(handed, &unfinished.rotation.secret_arn))
}

/// Rollback: move AWSCURRENT back from the rotation an apply promoted, leaving the
/// new key Active. A dry run checks, then says it would.
pub(super) async fn restore(
    ctx: &RunState,
    user_name: &str,
    rotation: &crate::journal::Rotation,
    new_key: &str,
) -> Result<Outcome, StepError> {
    let secret_arn = rotation.secret_arn.clone();
    let Some(journal) = &ctx.journal else {
        return Ok(
            match rotate::can_restore(&ctx.clients, user_name, rotation).await {
                Ok(()) => Outcome::WouldRestore { secret_arn },
                Err(reason) => Outcome::Drifted { reason },
            },
        );
    };
    let restored = rotate::restore(
        &ctx.clients,
        journal,
        &ctx.account_id,
        user_name,
        rotation,
        new_key,
    )
    .await;
    Ok(match restored {
        Restored::Done => Outcome::Restored {
            secret_arn,
            new_key: new_key.to_string(),
        },
        Restored::LeftAlone { reason } => {
            ctx.record(ctx.left_alone(user_name, LeftBy::Drifted, &reason))?;
            Outcome::Drifted { reason }
        }
        Restored::Refused { error } => Outcome::Failed {
            changed: Vec::new(),
            error: format!("AWSCURRENT was not moved back: {error}"),
        },
        Restored::Unknown { error } => Outcome::Unknown {
            changed: Vec::new(),
            key: secret_arn,
            error: format!("moving AWSCURRENT back got no clear answer ({error})"),
        },
    })
}

/// Why the user must be left alone before its keys are switched off, by its tags read
/// live: an exemption or a rotate-to tag the plan does not account for
/// (`drift::left_alone_by_tags`), or a secret that now hands out a key to switch off.
pub(super) async fn left_alone_by_tags(
    ctx: &RunState,
    user: &PlanUser,
    exempt: Option<String>,
    tags: &crate::aws::iam::UserTags,
) -> Option<String> {
    let tag = tags.rotate_to.as_deref();
    if let Some(reason) = crate::change::drift::left_alone_by_tags(user, exempt, tag) {
        return Some(reason);
    }
    secret_hands_out_now(ctx, user, tag?).await
}

/// Why a user whose `keytrim:rotate-to` tag is `tag` must be left alone before its
/// keys are switched off, if it must: the secret the tag names now hands out a key the
/// plan switches off (a rollback may have moved it back since the audit), or which
/// key it hands out cannot be read. A tag naming no secret of this account is the plan record's
/// business (`drift::left_alone_by_tags`).
async fn secret_hands_out_now(ctx: &RunState, user: &PlanUser, tag: &str) -> Option<String> {
    let arn = crate::rotation::secret_of_users_account(tag, &user.user_arn)?;
    // Only the key id is kept: the value is read as the audit reads it.
    let current: crate::error::Result<Option<String>> = async {
        let described = crate::aws::secrets::describe(&ctx.clients, arn).await?;
        let stages = described.version_ids_to_stages();
        let Some(version) = crate::aws::secrets::holder_of(stages, crate::rotation::CURRENT) else {
            return Ok(None);
        };
        match crate::aws::secrets::current_value(&ctx.clients, arn, &version).await? {
            crate::rotation::CurrentValue::AccessKey { access_key_id } => Ok(Some(access_key_id)),
            crate::rotation::CurrentValue::NotAnAccessKey { .. } => Ok(None),
        }
    }
    .await;
    // The audit could not tell either, and a reviewer confirmed no application reads
    // a key to switch off from the secret (the hold's own advice): a read that fails
    // again is no news. Where the audit read the key, a failed read now is news.
    let audit_read_it = user
        .secret_hands_out
        .as_ref()
        .is_some_and(|record| record.access_key_id.is_some());
    match current {
        Err(_) | Ok(None) if !audit_read_it => None,
        Ok(None) => Some(format!(
            "secret {arn}, which the user's keytrim:rotate-to tag names, no longer hands out an access key keytrim can read"
        )),
        Err(err) => Some(format!(
            "which key secret {arn}, which the user's keytrim:rotate-to tag names, hands out could not be read ({err}; the role needs `keytrim iam-policy apply --rotation`)"
        )),
        // Only a key the plan names can match, so the id shown is the plan's.
        Ok(Some(key)) if user.deactivate.contains(&key) => Some(format!(
            "secret {arn} now hands out {key}, which the plan switches off: audit again"
        )),
        Ok(_) => None,
    }
}

/// A failure outcome when the credentials expire within `CREDENTIALS_LEFT`.
async fn credentials_too_short(
    ctx: &RunState,
    user_name: &str,
) -> Result<Option<Outcome>, StepError> {
    let Some(expiry) = ctx.clients.credentials_expire().await? else {
        return Ok(None);
    };
    let left = expiry
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    if left >= CREDENTIALS_LEFT {
        return Ok(None);
    }
    let error = format!(
        "the credentials expire in {} min, and a rotation needs {} min left: renew them, then apply again; nothing was changed",
        left.as_secs() / 60,
        CREDENTIALS_LEFT.as_secs() / 60
    );
    ctx.record(ctx.left_alone(user_name, LeftBy::Skipped, &error))?;
    Ok(Some(Outcome::Failed {
        changed: Vec::new(),
        error,
    }))
}

/// The lock of one user's rotation.
enum Locked {
    Held(std::fs::File),
    /// A dry run writes nothing, so it takes no lock.
    DryRun,
    /// Another process holds it: the user is held, journaled.
    Busy(Outcome),
}

/// One apply at a time per user: an advisory lock on a file beside the journal, which
/// the system releases when the process ends, however it ends. The file is opened
/// without following a link.
fn lock_user(ctx: &RunState, user_name: &str) -> Result<Locked, StepError> {
    let Some(journal) = &ctx.journal else {
        return Ok(Locked::DryRun);
    };
    let dir = journal
        .path()
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let path = dir.join(format!(
        ".keytrim-rotation-{}-{user_name}.lock",
        ctx.account_id
    ));
    let mut options = std::fs::File::options();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
    );
    let file = options
        .open(&path)
        .map_err(|source| crate::error::Error::Write {
            path: path.clone(),
            source,
        })?;
    // A FIFO or a device in its place is no lock file.
    if !file.metadata().is_ok_and(|meta| meta.is_file()) {
        return Err(crate::error::Error::Write {
            path,
            source: std::io::Error::other("not a regular file"),
        }
        .into());
    }
    match file.try_lock() {
        Ok(()) => Ok(Locked::Held(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            let reason = "another keytrim apply is rotating this user now".to_string();
            ctx.record(ctx.left_alone(user_name, LeftBy::Skipped, &reason))?;
            Ok(Locked::Busy(Outcome::Held { reason }))
        }
        Err(std::fs::TryLockError::Error(source)) => {
            Err(crate::error::Error::Write { path, source }.into())
        }
    }
}

/// Turn off core dumps for this process before it holds a new secret access key: best
/// effort (the new key is wiped from keytrim's buffers; a dump would catch the SDK's).
fn no_core_dumps() {
    #[cfg(unix)]
    {
        let none = rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        if let Err(err) = rustix::process::setrlimit(rustix::process::Resource::Core, none) {
            tracing::warn!("could not turn core dumps off: {err}");
        }
        #[cfg(target_os = "linux")]
        if let Err(err) =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        {
            tracing::warn!("could not mark the process not dumpable: {err}");
        }
    }
}

/// What the summary and the exit status say of a hand-off.
fn outcome_of(handed: HandedOff, secret_arn: &str) -> Outcome {
    match handed {
        HandedOff::Promoted { new_key } => Outcome::HandedOff {
            new_key,
            secret_arn: secret_arn.to_string(),
        },
        HandedOff::NotStarted { why } => Outcome::Failed {
            changed: Vec::new(),
            error: format!("rotation stopped before any key was made: {why}"),
        },
        HandedOff::Undone { new_key, end, why } => Outcome::Failed {
            changed: Vec::new(),
            error: format!(
                "rotation stopped: {why}; the new key {new_key} was {}",
                match end {
                    NewKeyEnd::Delete => "deleted (no version of the secret ever held it)",
                    NewKeyEnd::Deactivate => "switched off: delete it once you have looked",
                }
            ),
        },
        // The plan's own entry for the user waits for the next apply.
        HandedOff::Settled { why } => Outcome::Held {
            reason: format!("{why}; apply again to carry out the plan's entry for the user"),
        },
        HandedOff::ForAPerson { new_key, why } => Outcome::Unknown {
            changed: Vec::new(),
            key: new_key.unwrap_or_else(|| "a new key".to_string()),
            error: why,
        },
    }
}
