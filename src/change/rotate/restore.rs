//! Rollback of a rotation hand-off (docs/rotation.md, "Rollback and the report"):
//! AWSCURRENT moves back to the version the rotation began with, from the rotation's
//! own (a compare-and-swap), only while AWSCURRENT is still on the rotation's version
//! and the old key it moves back to is still Active and is what that version holds.
//! The new key is left Active: a recent use of it cannot be told from the probe's, and
//! an application may already read it.

use super::{HandOff, Run};
use crate::aws::Clients;
use crate::aws::iam::{self, Written};
use crate::aws::rotate;
use crate::facts::KeyStatus;
use crate::journal::{Journal, Rotation, RotationLine, RotationStep};
use crate::rotation::secret_value::key_pair;
use crate::rotation::{CURRENT, PENDING};

/// What came of moving AWSCURRENT back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Restored {
    /// AWSCURRENT is on the old version again; the new key is still Active.
    Done,
    /// Left alone: live state no longer allows it, and the reason says why.
    LeftAlone { reason: String },
    /// Secrets Manager refused the move: nothing changed.
    Refused { error: String },
    /// No clear answer, and the labels did not show it landed.
    Unknown { error: String },
}

/// The live checks before the move: AWSCURRENT on the rotation's version, the old key
/// Active, and AWSPREVIOUS (the version the rotation began with) holding it.
pub(crate) async fn can_restore(
    clients: &Clients,
    user_name: &str,
    rotation: &Rotation,
) -> Result<(), String> {
    let labels = rotate::labels(clients, &rotation.secret_arn, &rotation.token)
        .await
        .map_err(|err| format!("the secret's labels could not be read ({err})"))?;
    if labels.current.as_deref() != Some(rotation.token.as_str()) {
        return Err("AWSCURRENT is no longer on the rotation's version: someone changed the secret since the apply".into());
    }
    let keys = iam::list_keys(clients, user_name)
        .await
        .map_err(|err| format!("the user's keys could not be listed ({err})"))?;
    let old = &rotation.old_access_key_id;
    if !keys
        .iter()
        .any(|key| key.access_key_id == *old && key.status == KeyStatus::Active)
    {
        return Err(format!(
            "the old key {old} is no longer Active: moving AWSCURRENT back to it would hand out a key that does not work"
        ));
    }
    let previous = rotate::version_text(
        clients,
        &rotation.secret_arn,
        &rotation.previous_version,
        Some("AWSPREVIOUS"),
    )
    .await
    .map_err(|err| format!("the version the rotation began with could not be read ({err})"))?;
    match key_pair(&previous) {
        Ok(pair) if pair.access_key_id == *old => Ok(()),
        _ => Err(format!(
            "the version the rotation began with no longer holds the old key {old}"
        )),
    }
}

/// AWSPENDING off the rotation's version, where the promotion left it: otherwise the
/// secret would look like another rotation in flight, and the user could not be
/// rotated again. Journaled; a failure leaves only a label behind.
async fn unstage(run: &Run<'_>) {
    let token = run.rotation.token.as_str();
    let labels = rotate::labels(run.clients, &run.rotation.secret_arn, token).await;
    if !labels.is_ok_and(|labels| labels.pending.as_deref() == Some(token)) {
        return;
    }
    if run
        .note(RotationStep::RemovePending, RotationLine::Intent)
        .is_err()
    {
        return;
    }
    let secret = &run.rotation.secret_arn;
    let written = rotate::move_stage(run.clients, secret, PENDING, None, Some(token)).await;
    let _ = run.outcome(RotationStep::RemovePending, written);
}

/// Move AWSCURRENT back, journaled before and after; `can_restore` first.
pub(crate) async fn restore(
    clients: &Clients,
    journal: &Journal,
    account_id: &str,
    user_name: &str,
    rotation: &Rotation,
    new_key: &str,
) -> Restored {
    if let Err(reason) = can_restore(clients, user_name, rotation).await {
        return Restored::LeftAlone { reason };
    }
    let run = Run {
        clients,
        journal,
        job: HandOff {
            account_id,
            user_name,
            user_arn: "",
            secret_arn: &rotation.secret_arn,
            current_version: &rotation.previous_version,
            old_key: &rotation.old_access_key_id,
        },
        rotation: rotation.clone(),
        new_key: Some(new_key.to_string()),
        made_by_this_run: false,
    };
    if let Err(error) = run.note(RotationStep::Restore, RotationLine::Intent) {
        return Restored::Refused { error };
    }
    let written = rotate::move_stage(
        clients,
        &rotation.secret_arn,
        CURRENT,
        Some(&rotation.previous_version),
        Some(&rotation.token),
    )
    .await;
    let unclear = matches!(written, Written::Unclear { .. });
    let error = match run.outcome(RotationStep::Restore, written) {
        Ok(()) => {
            unstage(&run).await;
            return Restored::Done;
        }
        Err(error) if !unclear => return Restored::Refused { error },
        Err(error) => error,
    };
    match rotate::labels(clients, &rotation.secret_arn, &rotation.token).await {
        Ok(labels) if labels.current.as_deref() == Some(rotation.previous_version.as_str()) => {
            let line = RotationLine::Done
                .entry(
                    account_id,
                    user_name,
                    &rotation.at(RotationStep::Restore),
                    Some(new_key),
                )
                .reason("read back: AWSCURRENT is on the version the rotation began with");
            let _ = journal.record(&line);
            unstage(&run).await;
            Restored::Done
        }
        _ => Restored::Unknown { error },
    }
}
