//! The journal lines of a rotation hand-off (docs/rotation.md, "What apply does, per
//! user"): which step a line is about and which rotation it belongs to. Each step has
//! an intent line before its call and an outcome line after it, so that the next apply
//! can tell from the journal how far an interrupted rotation got. The new key's id is
//! the line's `access_key_id` once CreateAccessKey has answered with it. No field can
//! hold a secret access key.

use serde::{Deserialize, Serialize};

use super::{Entry, Event};

/// A step of the rotation, in the order apply takes them; the last three are the
/// clean-ups after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The rotation begins: what it will do, synced to disk before any call. Written
    /// as an intent only.
    Begin,
    /// sts:GetCallerIdentity signed with AWSCURRENT's keys must answer the user's ARN.
    Prove,
    /// iam:CreateAccessKey, the SDK's retries off.
    CreateAccessKey,
    /// secretsmanager:PutSecretValue of the new key, labelled AWSPENDING.
    PutSecretValue,
    /// sts:GetCallerIdentity signed with the new key, until it works.
    Probe,
    /// secretsmanager:UpdateSecretVersionStage: AWSCURRENT to the new version, from
    /// the one the rotation began with (a compare-and-swap).
    Promote,
    /// AWSPENDING taken off the rotation's version.
    RemovePending,
    /// The new key deleted: only one this run created that no version ever held.
    DeleteAccessKey,
    /// The new key switched off, for a person to delete.
    DeactivateAccessKey,
    /// A later apply found the rotation over (its reason says how): nothing is left to
    /// resume. Written as `done` only; it names the new key when one is known.
    Settled,
    /// Rollback: AWSCURRENT moved back to the version the rotation began with, from
    /// the rotation's own (a compare-and-swap). The new key is left Active.
    Restore,
}

impl Step {
    /// True for the steps that name the new key: every step after CreateAccessKey
    /// answered.
    pub fn names_the_new_key(self) -> bool {
        !matches!(
            self,
            Step::Begin | Step::Prove | Step::CreateAccessKey | Step::Settled
        )
    }
}

/// Which rotation a line belongs to: the same on every line of one rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub step: Step,
    /// The secret's full ARN.
    pub secret_arn: String,
    /// The client request token: the id of the version PutSecretValue makes.
    pub token: String,
    /// The version AWSCURRENT was on when the rotation began: the compare-and-swap's
    /// expected version, and the one rollback moves AWSCURRENT back to.
    pub previous_version: String,
    /// The key AWSCURRENT handed out when the rotation began.
    pub old_access_key_id: String,
}

impl Rotation {
    /// The same rotation at `step`.
    pub fn at(&self, step: Step) -> Rotation {
        Rotation {
            step,
            ..self.clone()
        }
    }
}

/// What a line says about a step of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationLine<'a> {
    /// About to make the step's call (for `Begin`: the rotation starts).
    Intent,
    /// The call answered success.
    Done,
    /// AWS refused the call, which certainly changed nothing.
    Refused { error: &'a str },
    /// No clear answer: live state decides.
    Unknown { error: &'a str },
}

impl RotationLine<'_> {
    /// The journal line that says this of `user`'s `rotation`, stamped now. `new_key`
    /// is the key CreateAccessKey made, from its `done` line on.
    pub fn entry(
        self,
        account_id: &str,
        user: &str,
        rotation: &Rotation,
        new_key: Option<&str>,
    ) -> Entry {
        let line = |event| {
            let mut entry = Entry::new(event, account_id, user);
            entry.access_key_id = new_key.map(str::to_string);
            entry.rotation = Some(rotation.clone());
            entry
        };
        match self {
            RotationLine::Intent => line(Event::Intent),
            RotationLine::Done => line(Event::Done),
            RotationLine::Refused { error } => line(Event::Failed).error(error),
            RotationLine::Unknown { error } => line(Event::Unknown).error(error),
        }
    }
}

impl Entry {
    /// What a rotation line says, for `Entry::typed`; `None` for another event.
    pub(super) fn rotation_line(&self) -> Option<RotationLine<'_>> {
        let error = self.error.as_deref().unwrap_or_default();
        Some(match self.event {
            Event::Intent => RotationLine::Intent,
            Event::Done => RotationLine::Done,
            Event::Failed => RotationLine::Refused { error },
            Event::Unknown => RotationLine::Unknown { error },
            _ => return None,
        })
    }
}

/// What is wrong with a rotation line, if anything: the names it holds are checked as
/// a plan's are (rollback will act on them), and its fields must fit its step.
pub(super) fn problem(entry: &Entry, rotation: &Rotation) -> Option<String> {
    use crate::plan::validate::{is_access_key_id, is_secret_version_id, secret_arn_parts};
    if entry.from.is_some() || entry.to.is_some() || entry.run.is_some() {
        return Some("a rotation line names no key status change and no run".into());
    }
    let only = match rotation.step {
        Step::Begin => Some(Event::Intent),
        Step::Settled => Some(Event::Done),
        _ => None,
    };
    if entry.rotation_line().is_none() || only.is_some_and(|event| entry.event != event) {
        return Some(format!(
            "a rotation line is an intent, done, failed or unknown line (`begin`: an intent; `settled`: done), not `{:?}`",
            entry.event
        ));
    }
    if entry.user_name.is_none() {
        return Some("a rotation line names its user".into());
    }
    if secret_arn_parts(&rotation.secret_arn)
        .is_none_or(|parts| parts.account_id != entry.account_id)
    {
        return Some(format!(
            "`{}` is not a full secret ARN of the line's account",
            rotation.secret_arn
        ));
    }
    for version in [&rotation.token, &rotation.previous_version] {
        if !is_secret_version_id(version) {
            return Some(format!("`{version}` is not a secret version id"));
        }
    }
    if !is_access_key_id(&rotation.old_access_key_id) {
        return Some(format!(
            "`{}` is not an access key id",
            rotation.old_access_key_id
        ));
    }
    if entry.access_key_id.as_deref() == Some(rotation.old_access_key_id.as_str()) {
        return Some("a rotation line's new key is not the key it replaces".into());
    }
    if rotation.token == rotation.previous_version {
        return Some("a rotation's token is not the version it began with".into());
    }
    let names_new_key = entry.access_key_id.is_some();
    let must = rotation.step.names_the_new_key()
        || (rotation.step == Step::CreateAccessKey && entry.event == Event::Done);
    if names_new_key != must && rotation.step != Step::Settled {
        return Some(
            "a rotation line names the new key from CreateAccessKey's `done` line on, and not before"
                .into(),
        );
    }
    None
}

/// One rotation's lines, across the journals of one account, in order: what its user
/// is, how it began, and each line's step, outcome and new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationHistory<'a> {
    pub user: &'a str,
    /// The `begin` line's rotation.
    pub begun: &'a Rotation,
    pub begun_at: chrono::DateTime<chrono::Utc>,
    pub lines: Vec<(&'a Rotation, Option<&'a str>, RotationLine<'a>)>,
}

/// Every rotation in `entries` (the lines of an account's journals, in the order they
/// were written), grouped by token. The lines of one rotation must agree: a `begin`
/// first, then every line naming the same user, secret, version and old key, and one
/// new key at most. Anything else is an edited journal, and the error says which
/// token: the next apply acts on these lines.
pub fn rotation_histories<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
) -> Result<Vec<RotationHistory<'a>>, String> {
    let mut histories: Vec<RotationHistory<'a>> = Vec::new();
    for entry in entries {
        let (Some(rotation), Some(user), Some(what)) = (
            entry.rotation.as_ref(),
            entry.user_name.as_deref(),
            entry.rotation_line(),
        ) else {
            continue;
        };
        let key = entry.access_key_id.as_deref();
        let disagree = |detail: &str| {
            Err(format!(
                "the lines of rotation {} disagree: {detail}",
                rotation.token
            ))
        };
        match histories
            .iter_mut()
            .find(|history| history.begun.token == rotation.token)
        {
            None if rotation.step == Step::Begin => histories.push(RotationHistory {
                user,
                begun: rotation,
                begun_at: entry.ts,
                lines: vec![(rotation, key, what)],
            }),
            None => return disagree("a line comes before its `begin`"),
            Some(history) => {
                let begun = history.begun;
                if rotation.step == Step::Begin {
                    return disagree("it begins twice");
                }
                if history.user != user
                    || rotation.secret_arn != begun.secret_arn
                    || rotation.previous_version != begun.previous_version
                    || rotation.old_access_key_id != begun.old_access_key_id
                {
                    return disagree("a line names another user, secret, version or old key");
                }
                let named = history.lines.iter().find_map(|(_, key, _)| *key);
                if let (Some(named), Some(key)) = (named, key)
                    && named != key
                {
                    return disagree("two new keys are named");
                }
                history.lines.push((rotation, key, what));
            }
        }
    }
    Ok(histories)
}

#[cfg(test)]
mod tests;
