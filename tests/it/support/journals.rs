//! Finding the journals a run wrote: by what appeared, never by place in a listing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use keytrim::journal::Event;

use super::local_iam::{LocalIam, SeededKey};

/// The journals under `<dir>/plans`, sorted by name (so by start time).
pub(crate) fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("plans"))
        .map(|entries| {
            entries
                .map(|entry| entry.expect("directory entry").path())
                .filter(|path| path.to_string_lossy().ends_with(".journal.jsonl"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The one journal in `dir`'s plans/, for tests that made exactly one.
pub(crate) fn only_journal(dir: &Path) -> PathBuf {
    new_journal(dir, &[]).expect("a journal")
}

/// The one journal in `dir`'s plans/ that is not in `before`, once a run has made it.
/// A run's journal is found by what appeared, never by its place in a listing.
pub(crate) fn new_journal(dir: &Path, before: &[PathBuf]) -> Option<PathBuf> {
    let mut new: Vec<PathBuf> = journals(dir)
        .into_iter()
        .filter(|path| !before.contains(path))
        .collect();
    assert!(new.len() <= 1, "more than one new journal: {new:?}");
    new.pop()
}

/// The journals tell the truth about `keys` (each with its user), whatever ended the
/// runs: every key a journal says is `done` is Inactive in IAM, and every key IAM shows
/// Inactive has an `intent` in a journal, written before its call.
pub(crate) fn assert_journals_tell_the_truth<'k>(
    iam: &LocalIam,
    paths: &[PathBuf],
    keys: impl IntoIterator<Item = (&'k str, &'k SeededKey)>,
) {
    let mut done = BTreeSet::new();
    let mut intents = BTreeSet::new();
    for path in paths {
        for entry in keytrim::journal::read(path).expect("a readable journal") {
            match (entry.event, entry.access_key_id) {
                (Event::Done, Some(key)) => {
                    done.insert(key);
                }
                (Event::Intent, Some(key)) => {
                    intents.insert(key);
                }
                _ => {}
            }
        }
    }
    for (user, key) in keys {
        let live = iam.key_status(user, &key.id);
        if done.contains(&key.id) {
            assert_eq!(live, "Inactive", "a journal claims {} done", key.id);
        }
        if live == "Inactive" {
            assert!(
                intents.contains(&key.id),
                "{} changed without an intent",
                key.id
            );
        }
    }
}
