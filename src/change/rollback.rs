//! Rollback: re-activate exactly the keys an apply's journal shows it deactivated, with
//! the same checks, confirmation and journaling as apply.

use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::aws::ConnectOptions;
use crate::change::reporter::Reporter;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::journal::{self, Deactivation, Entry, Mode, Rotation};

use super::drift::ChangedKey;
use super::execute::{Interrupt, UserChange};
use super::{ChangeRun, JournalTarget, RunMode, RunOptions, RunSetup, RunTarget, reach_and_guard};

/// The keys to re-activate, per user in journal order: every key with an intent to go
/// Inactive that ended `done`, that ended `unknown` (no clear answer), or that has no
/// outcome at all (the apply was stopped during the call); for the last two, live state
/// decides. Keys whose call `failed` (IAM refused it: the apply changed nothing) come
/// marked `refused`: rollback reads their live state and reports one found Inactive,
/// but never switches it on, since someone else switched it off. Keys the apply itself
/// re-activated (a lockout it averted) and keys it found already Inactive were not
/// left changed by it and are left alone. Each key carries the latest time the apply
/// can have changed it: its outcome line's, or the journal's last line's for a call
/// without an outcome.
pub(crate) fn keys_to_reactivate(entries: &[Entry]) -> Vec<(String, Vec<ChangedKey>)> {
    let journal_end = entries.last().map_or_else(Utc::now, |entry| entry.ts);
    let mut users: Vec<(String, Vec<ChangedKey>)> = Vec::new();
    for history in journal::key_histories(entries) {
        let changed = match history.deactivation(journal_end) {
            None | Some(Deactivation::UndoneByTheRun) => continue,
            Some(Deactivation::MayHaveChanged { at }) => ChangedKey {
                id: history.key.to_string(),
                changed_at: at,
                refused: false,
            },
            Some(Deactivation::Refused { at }) => ChangedKey {
                id: history.key.to_string(),
                changed_at: at,
                refused: true,
            },
        };
        match users.iter_mut().find(|(name, _)| name == history.user) {
            Some((_, keys)) => keys.push(changed),
            None => users.push((history.user.to_string(), vec![changed])),
        }
    }
    users
}

/// The rotations an apply's journal shows promoted (AWSCURRENT moved to the new key,
/// as answered or read back): rollback moves AWSCURRENT back from each. A rotation the
/// apply stopped short of promoting left nothing to move back.
fn promoted_rotations(entries: &[Entry]) -> Vec<(String, Rotation, String)> {
    entries
        .iter()
        .filter_map(|entry| match entry.typed() {
            journal::Line::Rotation {
                user,
                rotation,
                new_key: Some(new_key),
                what: journal::RotationLine::Done,
            } if rotation.step == journal::RotationStep::Promote => {
                Some((user.to_string(), rotation.clone(), new_key.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// The rollback journal's path: beside the apply journal it undoes.
fn rollback_journal_path(apply_journal: &Path) -> PathBuf {
    let name = apply_journal
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".journal.jsonl").unwrap_or(&name);
    apply_journal.with_file_name(format!(
        "{stem}.rollback-{}.journal.jsonl",
        crate::journal::name_timestamp(Utc::now())
    ))
}

/// An apply's journal, read and checked: its account, the keys to re-activate, and the
/// SHA-256 of what was read.
struct ApplyJournal {
    path: PathBuf,
    account_id: String,
    /// The partition of the apply's caller (its run line's ARN): the apply's account is
    /// in it, and its role is reached there.
    partition: String,
    users: Vec<(String, Vec<ChangedKey>)>,
    /// The rotations the apply promoted: user, rotation, new key.
    promoted: Vec<(String, Rotation, String)>,
    sha256: String,
}

fn read_apply_journal(path: &Path) -> Result<ApplyJournal> {
    let (entries, bytes) = journal::read_with_bytes(path)?;
    let first = &entries[0];
    let run = first
        .run
        .as_ref()
        .expect("journal::read checks the run line");
    if run.mode != Mode::Apply {
        return Err(Error::Journal {
            path: path.display().to_string(),
            detail: "this is a rollback's journal; only an apply's journal can be rolled back"
                .to_string(),
        });
    }
    let partition = run
        .caller_arn
        .split(':')
        .nth(1)
        .filter(|partition| crate::plan::validate::is_partition(partition))
        .ok_or_else(|| Error::Journal {
            path: path.display().to_string(),
            detail: format!(
                "the run line's caller `{}` is not an ARN naming its partition",
                crate::safe_text::escape(&run.caller_arn)
            ),
        })?
        .to_string();
    Ok(ApplyJournal {
        path: path.to_path_buf(),
        account_id: first.account_id.clone(),
        partition,
        users: keys_to_reactivate(&entries),
        promoted: promoted_rotations(&entries),
        sha256: crate::digest::sha256_hex(&bytes),
    })
}

/// Journals of one account are rolled back one after the other: a key one of them
/// will switch on must not first be reported by another as left Inactive, because
/// IAM refused that other apply's call for it. Such refused keys are dropped (and a
/// user left with none).
fn drop_refused_keys_another_journal_restores(journals: &mut [ApplyJournal]) {
    let restored: Vec<(String, String, String)> = journals
        .iter()
        .flat_map(|journal| {
            journal.users.iter().flat_map(move |(user, keys)| {
                keys.iter()
                    .filter(|key| !key.refused)
                    .map(move |key| (journal.account_id.clone(), user.clone(), key.id.clone()))
            })
        })
        .collect();
    for journal in journals.iter_mut() {
        let account = journal.account_id.clone();
        for (user, keys) in &mut journal.users {
            keys.retain(|key| {
                !(key.refused
                    && restored.contains(&(account.clone(), user.clone(), key.id.clone())))
            });
        }
        journal.users.retain(|(_, keys)| !keys.is_empty());
    }
}

/// `keytrim rollback JOURNAL...`. Every journal is read and checked, and every
/// journal's account reached and guarded, before the first change. With `org_role`, a
/// journal of another account than the caller's is rolled back through that role in
/// the journal's account. Each rollback's own journal is `own_journal` (one journal
/// only; never overwritten), or a fresh name beside its apply's journal. The journals
/// are asked about one at a time, then rolled back side by side.
pub(crate) async fn rollback(
    connect: &ConnectOptions,
    journal_paths: &[PathBuf],
    own_journal: Option<&Path>,
    org_role: Option<&str>,
    options: &RunOptions,
    reporter: &dyn Reporter,
) -> Result<ExitStatus> {
    let mut journals: Vec<ApplyJournal> = journal_paths
        .iter()
        .map(|path| read_apply_journal(path))
        .collect::<Result<_>>()?;
    drop_refused_keys_another_journal_restores(&mut journals);
    let targets: Vec<RunTarget<'_>> = journals
        .iter()
        .map(|applied| RunTarget {
            source: &applied.path,
            account_id: &applied.account_id,
            partition: &applied.partition,
        })
        .collect();
    let reached = reach_and_guard(
        connect,
        Mode::Rollback,
        &targets,
        org_role,
        options,
        reporter,
    )
    .await?;
    let ready = journals.into_iter().zip(reached);
    let interrupt = Interrupt::default();
    // Every rollback's journal is started before the first prompt.
    let mut started = Vec::new();
    for (applied, (clients, caller)) in ready {
        let run = ChangeRun::start(RunSetup {
            mode: RunMode::new(Mode::Rollback, options.dry_run),
            clients,
            caller,
            account_id: applied.account_id,
            journal: match own_journal {
                Some(named) => JournalTarget::Named(named.to_path_buf()),
                None => JournalTarget::Numbered(rollback_journal_path(&applied.path)),
            },
            source: applied.path,
            source_sha256: applied.sha256,
            interrupt: interrupt.clone(),
            budget: None,
            options,
            reporter,
        })?;
        started.push((run, applied.users, applied.promoted));
    }
    let started = started
        .into_iter()
        .map(|(run, users, promoted)| {
            let mut changes: Vec<UserChange> = users
                .into_iter()
                .map(|(user_name, keys)| UserChange::Reactivate { user_name, keys })
                .collect();
            changes.extend(promoted.into_iter().map(|(user_name, rotation, new_key)| {
                UserChange::Restore {
                    user_name,
                    rotation: Box::new(rotation),
                    new_key,
                }
            }));
            (run, changes)
        })
        .collect();
    // Declined users first, then the others as they ran: no reordering.
    super::confirm_and_carry_out(
        started,
        |run, changes| run.confirm(changes, Vec::new()),
        options,
        reporter,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::KeyStatus;
    use crate::journal::Event;

    const ACCOUNT: &str = "123456789012";

    fn intent(user: &str, key: &str) -> Entry {
        Entry::new(Event::Intent, ACCOUNT, user).key(key, KeyStatus::Active, KeyStatus::Inactive)
    }

    fn outcome(event: Event, user: &str, key: &str) -> Entry {
        Entry::new(event, ACCOUNT, user).key(key, KeyStatus::Active, KeyStatus::Inactive)
    }

    /// Done, unknown and unfinished intents are rolled back; a failed one (IAM refused
    /// the call) comes marked refused, for its live state to be read but never undone.
    #[test]
    fn done_unknown_and_unfinished_intents_are_rolled_back_failed_ones_only_looked_at() {
        let entries = vec![
            intent("alice", "AKIAALICE00000000001"),
            outcome(Event::Done, "alice", "AKIAALICE00000000001"),
            intent("bob", "AKIABOB0000000000001"),
            outcome(Event::Failed, "bob", "AKIABOB0000000000001"),
            Entry::new(Event::Skipped, ACCOUNT, "carol")
                .key(
                    "AKIACAROL00000000001",
                    KeyStatus::Inactive,
                    KeyStatus::Inactive,
                )
                .reason("already Inactive"),
            intent("dave", "AKIADAVE000000000001"),
            intent("erin", "AKIAERIN000000000001"),
            outcome(Event::Unknown, "erin", "AKIAERIN000000000001"),
        ];
        let ids: Vec<(String, Vec<(String, bool)>)> = keys_to_reactivate(&entries)
            .into_iter()
            .map(|(user, keys)| {
                let keys = keys.into_iter().map(|key| (key.id, key.refused)).collect();
                (user, keys)
            })
            .collect();
        let key = |id: &str, refused| vec![(id.to_string(), refused)];
        assert_eq!(
            ids,
            vec![
                ("alice".into(), key("AKIAALICE00000000001", false)),
                ("bob".into(), key("AKIABOB0000000000001", true)),
                ("dave".into(), key("AKIADAVE000000000001", false)),
                ("erin".into(), key("AKIAERIN000000000001", false)),
            ]
        );
    }

    /// The deactivation's `done` line was lost (the journal failed), then the apply's
    /// re-activation of the key (a lockout it undid) failed: that failure is not the
    /// deactivation's outcome, and the key is rolled back.
    #[test]
    fn an_outcome_the_other_way_is_not_the_deactivations() {
        let key = "AKIAALICE00000000001";
        let back = |event| {
            Entry::new(event, ACCOUNT, "alice").key(key, KeyStatus::Inactive, KeyStatus::Active)
        };
        let entries = vec![
            intent("alice", key),
            back(Event::Intent),
            back(Event::Failed),
        ];
        let users = keys_to_reactivate(&entries);
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].1[0].id, key);
        assert!(
            !users[0].1[0].refused,
            "the re-activation's failure is not the apply's"
        );
    }

    /// Two intents for one key (a journal no apply writes today, but rollback reads what
    /// it is given): a change that may have landed is rolled back even after a refused one.
    #[test]
    fn a_change_that_may_have_landed_outweighs_a_refused_one() {
        let key = "AKIAALICE00000000001";
        let entries = vec![
            intent("alice", key),
            outcome(Event::Failed, "alice", key),
            intent("alice", key),
            outcome(Event::Done, "alice", key),
        ];
        let users = keys_to_reactivate(&entries);
        assert_eq!(users[0].1.len(), 1);
        assert!(!users[0].1[0].refused);
    }

    /// A key carries the time of its outcome line (the journal's end without one), and a key
    /// the apply itself switched back on (a lockout it averted) is not rolled back.
    #[test]
    fn keys_carry_when_the_apply_changed_them() {
        let at = |second: u32| {
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 29, 12, 0, second).unwrap()
        };
        let stamped = |mut entry: Entry, second: u32| {
            entry.ts = at(second);
            entry
        };
        let entries = vec![
            stamped(intent("alice", "AKIAALICE00000000001"), 1),
            stamped(outcome(Event::Done, "alice", "AKIAALICE00000000001"), 2),
            stamped(intent("dave", "AKIADAVE000000000001"), 3),
            stamped(intent("erin", "AKIAERIN000000000001"), 4),
            stamped(outcome(Event::Done, "erin", "AKIAERIN000000000001"), 5),
            stamped(
                Entry::new(Event::Intent, ACCOUNT, "erin").key(
                    "AKIAERIN000000000001",
                    KeyStatus::Inactive,
                    KeyStatus::Active,
                ),
                6,
            ),
            stamped(
                Entry::new(Event::Done, ACCOUNT, "erin").key(
                    "AKIAERIN000000000001",
                    KeyStatus::Inactive,
                    KeyStatus::Active,
                ),
                7,
            ),
        ];
        assert_eq!(
            keys_to_reactivate(&entries),
            vec![
                (
                    "alice".to_string(),
                    vec![ChangedKey {
                        id: "AKIAALICE00000000001".into(),
                        changed_at: at(2),
                        refused: false,
                    }]
                ),
                (
                    // No outcome: the call may have landed until the apply's end.
                    "dave".to_string(),
                    vec![ChangedKey {
                        id: "AKIADAVE000000000001".into(),
                        changed_at: at(7),
                        refused: false,
                    }]
                ),
            ]
        );
    }

    /// `rollback J1 J2` of one account: J1's apply was refused a key that J2's apply
    /// switched off. J2 restores it, so J1 does not report it as left Inactive; a refused
    /// key no other journal restores, and another account's, stay.
    #[test]
    fn a_refused_key_another_journal_restores_is_left_to_it() {
        let key = |id: &str, refused| ChangedKey {
            id: id.into(),
            changed_at: Utc::now(),
            refused,
        };
        let journal = |account: &str, keys: Vec<ChangedKey>| ApplyJournal {
            path: PathBuf::from("j.journal.jsonl"),
            account_id: account.into(),
            partition: "aws".into(),
            users: vec![("alice".into(), keys)],
            promoted: Vec::new(),
            sha256: String::new(),
        };
        let mut journals = vec![
            journal("123456789012", vec![key("AKIAONE", true)]),
            journal(
                "123456789012",
                vec![key("AKIAONE", false), key("AKIATWO", true)],
            ),
            journal("210987654321", vec![key("AKIAONE", true)]),
        ];
        drop_refused_keys_another_journal_restores(&mut journals);
        let left: Vec<Vec<(String, bool)>> = journals
            .iter()
            .map(|j| {
                j.users
                    .iter()
                    .flat_map(|(_, keys)| keys.iter().map(|k| (k.id.clone(), k.refused)))
                    .collect()
            })
            .collect();
        assert_eq!(
            left,
            vec![
                vec![],
                vec![("AKIAONE".into(), false), ("AKIATWO".into(), true)],
                vec![("AKIAONE".into(), true)],
            ]
        );
        assert!(journals[0].users.is_empty());
    }

    #[test]
    fn the_rollback_journal_sits_beside_the_apply_journal() {
        let path = rollback_journal_path(Path::new("plans/1.20261129T120000Z.journal.jsonl"));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("1.20261129T120000Z.rollback-"), "{name}");
        assert!(name.ends_with(".journal.jsonl"));
        assert_eq!(path.parent(), Some(Path::new("plans")));
    }
}
