//! What is left to do when a rotation hand-off stops short (docs/rotation.md,
//! "Failures" and "Crashes"), decided from how far the journal says the rotation got
//! and from the secret's staging labels as read back. The promises it keeps: no active
//! key whose secret no one holds, and a key AWSCURRENT may hand out is never switched
//! off or deleted. Pure; `change::rotate` makes the calls.

use crate::journal::{Rotation, RotationLine, RotationStep};

/// The secret's staging labels, as read back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Labels {
    /// The version AWSCURRENT is on.
    pub current: Option<String>,
    /// The version AWSPENDING is on.
    pub pending: Option<String>,
    /// The version AWSPREVIOUS is on.
    pub previous: Option<String>,
    /// True when a version with the rotation's token exists, labelled or not: then a
    /// version of the secret has held the new key.
    pub token_version_exists: bool,
}

/// What the labels say of the promotion (the compare-and-swap of AWSCURRENT from the
/// version the rotation began with to the token's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Promotion {
    /// AWSCURRENT is on the token's version.
    Landed,
    /// AWSCURRENT is still on the version the rotation began with.
    NotLanded,
    /// AWSCURRENT is on a third version (or on none): someone changed the secret.
    ChangedBySomeoneElse,
}

/// What the labels say of the promotion of `rotation`.
pub(crate) fn promotion(labels: &Labels, rotation: &Rotation) -> Promotion {
    match labels.current.as_deref() {
        Some(version) if version == rotation.token => Promotion::Landed,
        Some(version) if version == rotation.previous_version => Promotion::NotLanded,
        _ => Promotion::ChangedBySomeoneElse,
    }
}

/// What becomes of the new key when the rotation cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewKeyEnd {
    /// Deleted: this run created it and no version of the secret ever held it, so no
    /// one can have it.
    Delete,
    /// Switched off (undoable) and named for a person to delete: a version held it, or
    /// an earlier run made it.
    Deactivate,
}

/// The clean-up that leaves no key nobody holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CleanUp {
    /// AWSCURRENT hands out the new key: nothing is undone, and the rotation is done.
    Promoted,
    /// AWSPENDING taken off the token's version first (when it is there), then the new
    /// key ended.
    Undo {
        remove_pending: bool,
        new_key: NewKeyEnd,
    },
    /// Someone changed the secret meanwhile: both keys stay Active, and a person
    /// decides which one the secret's new version hands out.
    ForAPerson,
}

/// The clean-up after a failure (or an earlier run's interruption) of `rotation`,
/// whose new key exists. `made_by_this_run`: this run's CreateAccessKey answered with
/// the key.
pub(crate) fn clean_up(labels: &Labels, rotation: &Rotation, made_by_this_run: bool) -> CleanUp {
    match promotion(labels, rotation) {
        Promotion::Landed => CleanUp::Promoted,
        Promotion::ChangedBySomeoneElse => CleanUp::ForAPerson,
        Promotion::NotLanded => CleanUp::Undo {
            remove_pending: labels.pending.as_deref() == Some(rotation.token.as_str()),
            new_key: if made_by_this_run && !labels.token_version_exists {
                NewKeyEnd::Delete
            } else {
                NewKeyEnd::Deactivate
            },
        },
    }
}

/// How far an earlier run's rotation got, from its journal lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reached {
    /// Nothing is left: it was promoted, its new key was ended, or no key was made.
    Finished,
    /// CreateAccessKey may have been sent, and no line names the key it made.
    MaybeCreated,
    /// The new key exists; the secret's labels decide what is left.
    Created { new_key: String },
}

/// How far the rotation whose lines these are got (the lines of one user and one
/// token, in journal order).
pub(crate) fn reached<'a>(
    lines: impl IntoIterator<Item = (&'a Rotation, Option<&'a str>, RotationLine<'a>)>,
) -> Reached {
    let mut create_sent = false;
    let mut new_key: Option<&str> = None;
    for (rotation, key, what) in lines {
        new_key = new_key.or(key);
        let done = what == RotationLine::Done;
        match rotation.step {
            RotationStep::CreateAccessKey => {
                // A refusal answers the one attempt: nothing was made.
                create_sent = !matches!(what, RotationLine::Refused { .. });
            }
            RotationStep::Promote
            | RotationStep::DeleteAccessKey
            | RotationStep::DeactivateAccessKey
            | RotationStep::Settled
                if done =>
            {
                return Reached::Finished;
            }
            _ => {}
        }
    }
    match new_key {
        Some(key) => Reached::Created {
            new_key: key.to_string(),
        },
        None if create_sent => Reached::MaybeCreated,
        None => Reached::Finished,
    }
}

/// What the next apply does about an earlier run's rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Nothing is left to do.
    Nothing,
    /// Find a key of the user created after the rotation began that no version holds,
    /// and switch it off: CreateAccessKey's answer was lost.
    LookForAnUnclaimedKey,
    /// AWSPENDING holds the new key and AWSCURRENT has not moved: probe it (its secret
    /// read back from the token's version), then promote.
    ProbeAndPromote { new_key: String },
    /// The new key cannot be handed off: clean up.
    CleanUp { new_key: String, clean_up: CleanUp },
    /// The rotation was promoted, and AWSCURRENT moved back from it since (a person,
    /// or a rollback): it is over, and nothing is done against that decision.
    MovedBack { new_key: String },
}

/// What the next apply does about `rotation`, which got as far as `reached`, with the
/// secret's labels as they are now.
pub(crate) fn resume(reached: Reached, rotation: &Rotation, labels: &Labels) -> Resume {
    let new_key = match reached {
        Reached::Finished => return Resume::Nothing,
        Reached::MaybeCreated => return Resume::LookForAnUnclaimedKey,
        Reached::Created { new_key } => new_key,
    };
    let token = Some(rotation.token.as_str());
    if labels.previous.as_deref() == token && labels.current.as_deref() != token {
        return Resume::MovedBack { new_key };
    }
    let staged = labels.pending.as_deref() == token;
    match promotion(labels, rotation) {
        Promotion::NotLanded if staged => Resume::ProbeAndPromote { new_key },
        _ => Resume::CleanUp {
            new_key,
            clean_up: clean_up(labels, rotation, false),
        },
    }
}

/// How much IAM's clock and this machine's may differ: a key's creation date is
/// compared with a journal line's time within this much.
pub(crate) const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// How long after a rotation began its CreateAccessKey can have made a key: the call
/// follows the `begin` line by the proof's few calls.
pub(crate) const CREATED_WITHIN: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// How long IAM's listings are given to show a key made with its answer lost before
/// an empty listing is believed (IAM is eventually consistent).
pub(crate) const LISTING_SETTLES: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// True when a key created at `created` can be the one a rotation begun at
/// `begun_at` made.
pub(crate) fn made_by_the_rotation(
    created: chrono::DateTime<chrono::Utc>,
    begun_at: chrono::DateTime<chrono::Utc>,
) -> bool {
    // Checked: a journal's time is data, and may be anything.
    let from = begun_at.checked_sub_signed(CLOCK_SKEW);
    let to = begun_at.checked_add_signed(CREATED_WITHIN + CLOCK_SKEW);
    matches!((from, to), (Some(from), Some(to)) if created >= from && created <= to)
}

/// When IAM's listings have had time to show a key made by a rotation begun at
/// `begun_at` (None for a time too far in the future to add to).
pub(crate) fn settled_since(
    begun_at: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    begun_at.checked_add_signed(LISTING_SETTLES)
}

/// What a listing of the user's keys says of a CreateAccessKey whose answer was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unclaimed {
    /// No key was made: the listing shows none, and had time to.
    NoneMade,
    /// The listing shows none yet, but may lag: look again later.
    TooSoon,
    /// This key, created when the rotation could have made it.
    One(String),
    /// More than one such key: which is keytrim's is for CloudTrail to tell.
    Several,
}

/// The keys of the user (`created` by id) other than `old_key`, read at `now`, for a
/// rotation begun at `begun_at`.
pub(crate) fn unclaimed<'a>(
    keys: impl IntoIterator<Item = (&'a str, chrono::DateTime<chrono::Utc>)>,
    old_key: &str,
    begun_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Unclaimed {
    let made: Vec<&str> = keys
        .into_iter()
        .filter(|(id, created)| *id != old_key && made_by_the_rotation(*created, begun_at))
        .map(|(id, _)| id)
        .collect();
    match made.as_slice() {
        [] if settled_since(begun_at).is_some_and(|settled| now >= settled) => Unclaimed::NoneMade,
        [] => Unclaimed::TooSoon,
        [key] => Unclaimed::One((*key).to_string()),
        _ => Unclaimed::Several,
    }
}

#[cfg(test)]
mod tests;
