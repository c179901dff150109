//! The one reading of journal lines: each line as a typed `Line` whose kind carries
//! its own data (a flat `Entry` is a bag of options, told apart by which are set), and
//! each key's history in one run. Rollback and the report read journals only through
//! these, so what a line means is decided once, here.

use chrono::{DateTime, Utc};

use super::{Entry, Event, Rotation, RotationLine, RunInfo};
use crate::facts::KeyStatus;

/// A key's status change, `from` → `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub from: KeyStatus,
    pub to: KeyStatus,
}

/// Why a run left a user or key alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftBy {
    /// Held, exempt, rotated, limited, interrupted, not started, nothing to undo.
    Skipped,
    /// Live state no longer matched.
    Drifted,
    /// The person at the prompt said no.
    Declined,
}

impl LeftBy {
    /// The journal event that says so.
    pub fn event(self) -> Event {
        match self {
            LeftBy::Skipped => Event::Skipped,
            LeftBy::Drifted => Event::Drifted,
            LeftBy::Declined => Event::Declined,
        }
    }
}

/// What a line says about one key's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLine<'a> {
    /// About to change (written before the call).
    Intent,
    /// Changed (IAM answered success, or a read-back settled an unclear call).
    Done,
    /// IAM refused the only attempt, or the request was never sent: nothing changed.
    Refused { error: &'a str },
    /// No clear answer: live state decides.
    Unknown { error: Option<&'a str> },
    /// Found already as intended (`from` = `to`).
    AlreadySo,
    /// Left alone, with the reason.
    LeftAlone { by: LeftBy, reason: &'a str },
}

/// What a line says about a user as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLine<'a> {
    /// A listing showed every key as intended.
    Verified,
    /// The intended state was not seen in time.
    Unverified,
    /// Left alone, with the reason.
    LeftAlone { by: LeftBy, reason: &'a str },
    /// A failure about the user (its keys could not be read, say): `unknown` when
    /// a call's effect is not known.
    Failed { error: &'a str, unknown: bool },
}

/// One journal line, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// The first line: what run this is.
    Run(&'a RunInfo),
    /// About one key of `user`.
    Key {
        user: &'a str,
        key: &'a str,
        change: Change,
        what: KeyLine<'a>,
    },
    /// About `user` as a whole.
    User { user: &'a str, what: UserLine<'a> },
    /// About a step of `user`'s rotation hand-off; `new_key` is the key it made, from
    /// CreateAccessKey's `done` line on.
    Rotation {
        user: &'a str,
        rotation: &'a Rotation,
        new_key: Option<&'a str>,
        what: RotationLine<'a>,
    },
    /// Says nothing a reader acts on: a user-level intent or done (keytrim writes
    /// none), or a verification line that names a key.
    Nothing,
}

impl Entry {
    /// The line, typed. An error or reason the line lacks reads as empty.
    pub(crate) fn typed(&self) -> Line<'_> {
        let text = || {
            self.error
                .as_deref()
                .or(self.reason.as_deref())
                .unwrap_or_default()
        };
        if let Some(run) = &self.run {
            return Line::Run(run);
        }
        let Some(user) = self.user_name.as_deref() else {
            return Line::Nothing;
        };
        if let Some(rotation) = &self.rotation {
            return match self.rotation_line() {
                Some(what) => Line::Rotation {
                    user,
                    rotation,
                    new_key: self.access_key_id.as_deref(),
                    what,
                },
                None => Line::Nothing,
            };
        }
        let left = |by| (by, text());
        match (self.access_key_id.as_deref(), self.from, self.to) {
            (Some(key), Some(from), Some(to)) => {
                let what = match self.event {
                    Event::Intent => KeyLine::Intent,
                    Event::Done => KeyLine::Done,
                    Event::Failed => KeyLine::Refused { error: text() },
                    Event::Unknown => KeyLine::Unknown {
                        error: self.error.as_deref().or(self.reason.as_deref()),
                    },
                    Event::Skipped if from == to => KeyLine::AlreadySo,
                    Event::Skipped | Event::Drifted | Event::Declined => {
                        let (by, reason) = left(match self.event {
                            Event::Drifted => LeftBy::Drifted,
                            Event::Declined => LeftBy::Declined,
                            _ => LeftBy::Skipped,
                        });
                        KeyLine::LeftAlone { by, reason }
                    }
                    Event::Run | Event::Verified | Event::Unverified => return Line::Nothing,
                };
                Line::Key {
                    user,
                    key,
                    change: Change { from, to },
                    what,
                }
            }
            _ => {
                let what = match self.event {
                    Event::Verified => UserLine::Verified,
                    Event::Unverified => UserLine::Unverified,
                    Event::Skipped => UserLine::LeftAlone {
                        by: LeftBy::Skipped,
                        reason: text(),
                    },
                    Event::Drifted => UserLine::LeftAlone {
                        by: LeftBy::Drifted,
                        reason: text(),
                    },
                    Event::Declined => UserLine::LeftAlone {
                        by: LeftBy::Declined,
                        reason: text(),
                    },
                    Event::Failed => UserLine::Failed {
                        error: text(),
                        unknown: false,
                    },
                    Event::Unknown => UserLine::Failed {
                        error: text(),
                        unknown: true,
                    },
                    Event::Run | Event::Intent | Event::Done => return Line::Nothing,
                };
                Line::User { user, what }
            }
        }
    }
}

// How keytrim writes a line about a key or a user: the one way, so that what a writer
// means is what `Entry::typed` reads back (the round trip is a property test). A note
// for people may be added to the result with `Entry::reason` on an intent, a `done`, a
// key found already so, and a verification, which read no reason; never on an unknown
// line, which reads a reason as its error. A run line is written by `Journal::create`.

impl KeyLine<'_> {
    /// The journal line that says this of `user`'s `key` and its `change`, stamped now.
    /// A key left alone must name a change (`from` ≠ `to`), and a key found already so
    /// must not: the reader tells them apart by that.
    pub fn entry(self, account_id: &str, user: &str, key: &str, change: Change) -> Entry {
        let line = |event| Entry::new(event, account_id, user).key(key, change.from, change.to);
        match self {
            KeyLine::Intent => line(Event::Intent),
            KeyLine::Done => line(Event::Done),
            KeyLine::Refused { error } => line(Event::Failed).error(error),
            KeyLine::Unknown { error } => match error {
                Some(error) => line(Event::Unknown).error(error),
                None => line(Event::Unknown),
            },
            KeyLine::AlreadySo => {
                debug_assert_eq!(
                    change.from, change.to,
                    "a key found already so names no change"
                );
                line(Event::Skipped)
            }
            KeyLine::LeftAlone { by, reason } => {
                debug_assert_ne!(change.from, change.to, "a key left alone names a change");
                line(by.event()).reason(reason)
            }
        }
    }
}

impl UserLine<'_> {
    /// The journal line that says this of `user` as a whole, stamped now.
    pub fn entry(self, account_id: &str, user: &str) -> Entry {
        let line = |event| Entry::new(event, account_id, user);
        match self {
            UserLine::Verified => line(Event::Verified),
            UserLine::Unverified => line(Event::Unverified),
            UserLine::LeftAlone { by, reason } => line(by.event()).reason(reason),
            UserLine::Failed {
                error,
                unknown: false,
            } => line(Event::Failed).error(error),
            UserLine::Failed {
                error,
                unknown: true,
            } => line(Event::Unknown).error(error),
        }
    }
}

/// One step in a key's history: when, which change, and what the line said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStep<'a> {
    pub ts: DateTime<Utc>,
    pub change: Change,
    pub what: KeyLine<'a>,
}

/// Everything one journal says about one key, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHistory<'a> {
    pub user: &'a str,
    pub key: &'a str,
    pub steps: Vec<KeyStep<'a>>,
}

/// How a journal's deactivation of a key ended, as rollback needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivation {
    /// The run changed the key (done), or may have (unknown, or no outcome: the run
    /// ended during the call); `at` is the latest it can have landed.
    MayHaveChanged { at: DateTime<Utc> },
    /// IAM refused the call: the run did not change the key; `at` is the refusal's.
    Refused { at: DateTime<Utc> },
    /// The run itself gave the key back (a lockout it averted).
    UndoneByTheRun,
}

impl KeyHistory<'_> {
    /// How the run's deactivation of this key ended, or None when the run never set
    /// out to switch it off. `journal_end` is the journal's last line's time: the latest
    /// a call without an outcome can have landed. Should one journal hold several
    /// intents for the key (no apply writes that), a change that may have landed
    /// outweighs a refused one.
    pub fn deactivation(&self, journal_end: DateTime<Utc>) -> Option<Deactivation> {
        let ends: Vec<Deactivation> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, step)| {
                step.what == KeyLine::Intent && step.change.to == KeyStatus::Inactive
            })
            .map(|(start, _)| self.end_of(start, journal_end))
            .collect();
        let first = *ends.first()?;
        // A change that may have landed outweighs a refused one, and the latest such
        // change's time counts; a key every deactivation of which was given back is
        // not the run's to undo.
        Some(
            ends.into_iter()
                .fold(first, |kept, next| match (kept, next) {
                    (
                        Deactivation::MayHaveChanged { at: a },
                        Deactivation::MayHaveChanged { at: b },
                    ) => Deactivation::MayHaveChanged { at: a.max(b) },
                    (Deactivation::MayHaveChanged { .. }, _) => kept,
                    (_, Deactivation::MayHaveChanged { .. }) => next,
                    (Deactivation::Refused { .. }, _) => kept,
                    (Deactivation::UndoneByTheRun, other) => other,
                }),
        )
    }

    /// The change the run was making when it ended: the key's last line is an intent
    /// with no outcome after it, so the call may or may not have landed.
    pub(crate) fn cut_off(&self) -> Option<Change> {
        self.steps
            .last()
            .filter(|step| step.what == KeyLine::Intent)
            .map(|step| step.change)
    }

    /// How the deactivation whose intent is step `start` ended.
    fn end_of(&self, start: usize, journal_end: DateTime<Utc>) -> Deactivation {
        let later = &self.steps[start + 1..];
        // The run gave the key back after this change (a lockout it averted).
        if later
            .iter()
            .any(|step| step.what == KeyLine::Done && step.change.to == KeyStatus::Active)
        {
            return Deactivation::UndoneByTheRun;
        }
        // The outcome of this change, not of a later one the other way.
        let outcome = later.iter().find(|step| {
            step.change.to == KeyStatus::Inactive
                && matches!(
                    step.what,
                    KeyLine::Done | KeyLine::Refused { .. } | KeyLine::Unknown { .. }
                )
        });
        match outcome {
            Some(step) if matches!(step.what, KeyLine::Refused { .. }) => {
                Deactivation::Refused { at: step.ts }
            }
            Some(step) => Deactivation::MayHaveChanged { at: step.ts },
            None => Deactivation::MayHaveChanged { at: journal_end },
        }
    }
}

/// Each key's history in one journal (or one run's lines of it), in the order the
/// keys first appear.
pub fn key_histories<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<KeyHistory<'a>> {
    let mut histories: Vec<KeyHistory<'a>> = Vec::new();
    for entry in entries {
        let Line::Key {
            user,
            key,
            change,
            what,
        } = entry.typed()
        else {
            continue;
        };
        let step = KeyStep {
            ts: entry.ts,
            change,
            what,
        };
        match histories
            .iter_mut()
            .find(|history| history.user == user && history.key == key)
        {
            Some(history) => history.steps.push(step),
            None => histories.push(KeyHistory {
                user,
                key,
                steps: vec![step],
            }),
        }
    }
    histories
}

#[cfg(test)]
mod tests;
