//! The exemptions file (`--exemptions FILE`): users, by name or glob, that keytrim must
//! never act on, each with the reason a reviewer will read. IAM user names ignore case,
//! so entries match ignoring case; an entry that matches no user scanned is reported,
//! since it is most likely a typo that leaves someone unprotected.

use std::sync::atomic::{AtomicBool, Ordering};

use std::path::Path;

use chrono::NaiveDate;
use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::facts::parse_exemption_date;
use crate::rule::Exemption;

/// Largest exemptions file keytrim reads.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    user: String,
    reason: String,
    /// The last day the exemption applies, `YYYY-MM-DD`.
    #[serde(default)]
    expires: Option<String>,
}

/// A compiled exemptions list; the first matching entry still in force wins.
#[derive(Debug, Default)]
pub struct Exemptions {
    entries: Vec<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    pattern: String,
    matcher: GlobMatcher,
    reason: String,
    expires: Option<NaiveDate>,
    /// Set once any user scanned matches the entry.
    matched: AtomicBool,
}

impl Exemptions {
    /// Parse the YAML text of an exemptions file: a list of `{user, reason}`.
    pub fn parse(text: &str) -> std::result::Result<Exemptions, String> {
        // Bounded like a plan: nothing in the file may expand.
        if let Some(problem) = crate::yaml::yaml_extras(text) {
            return Err(problem.replace("in a plan", "in an exemptions file"));
        }
        let entries: Vec<Entry> = serde_yaml::from_str(text).map_err(|err| err.to_string())?;
        let mut compiled = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            if entry.user.trim().is_empty() {
                return Err(format!("entry {index}: field `user` is empty"));
            }
            if entry.reason.trim().is_empty() {
                return Err(format!(
                    "entry {index} (`{}`): field `reason` is empty; every exemption needs a reason",
                    entry.user
                ));
            }
            let expires = match &entry.expires {
                None => None,
                Some(text) => Some(parse_exemption_date(text).ok_or_else(|| {
                    format!(
                        "entry {index} (`{}`): field `expires`: `{text}` is not a date (YYYY-MM-DD)",
                        entry.user
                    )
                })?),
            };
            let glob = GlobBuilder::new(&entry.user)
                .case_insensitive(true)
                .build()
                .map_err(|err| format!("entry {index}: field `user`: {err}"))?;
            compiled.push(Compiled {
                pattern: entry.user,
                matcher: glob.compile_matcher(),
                reason: entry.reason,
                expires,
                matched: AtomicBool::new(false),
            });
        }
        Ok(Exemptions { entries: compiled })
    }

    /// Read and parse an exemptions file.
    pub fn load(path: &Path) -> Result<Exemptions> {
        Exemptions::load_with_sha256(path).map(|(exemptions, _)| exemptions)
    }

    /// Read and parse an exemptions file; with the SHA-256 of its bytes, which a plan
    /// records so that what the audit read can be checked again.
    pub(crate) fn load_with_sha256(path: &Path) -> Result<(Exemptions, String)> {
        let fail = |detail: String| Error::Exemptions {
            path: path.to_path_buf(),
            detail,
        };
        let metadata = std::fs::metadata(path).map_err(|err| fail(err.to_string()))?;
        // Only a regular file: a plan names the file to read again, and a FIFO or a
        // device must not make `show` wait or read without end.
        if !metadata.is_file() {
            return Err(fail("not a regular file".to_string()));
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(fail(format!("file is larger than {MAX_FILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|err| fail(err.to_string()))?;
        let sha256 = crate::digest::sha256_hex(text.as_bytes());
        Exemptions::parse(&text)
            .map(|exemptions| (exemptions, sha256))
            .map_err(fail)
    }

    /// Every entry that matches a user name, in file order, each with its last day.
    /// Which one applies is the caller's choice: the first still in force.
    pub(crate) fn lookup(&self, user_name: &str) -> Vec<(Exemption, Option<NaiveDate>)> {
        self.entries
            .iter()
            .filter(|entry| entry.matcher.is_match(user_name))
            .map(|entry| {
                let exemption = Exemption::File {
                    pattern: entry.pattern.clone(),
                    reason: entry.reason.clone(),
                };
                (exemption, entry.expires)
            })
            .collect()
    }

    /// Note the users an audit scanned, to tell later which entries matched none.
    pub(crate) fn note_scanned<'a>(&self, user_names: impl IntoIterator<Item = &'a str>) {
        let mut waiting: Vec<&Compiled> = self
            .entries
            .iter()
            .filter(|entry| !entry.matched.load(Ordering::Relaxed))
            .collect();
        for name in user_names {
            if waiting.is_empty() {
                return;
            }
            waiting.retain(|entry| {
                let hit = entry.matcher.is_match(name);
                if hit {
                    entry.matched.store(true, Ordering::Relaxed);
                }
                !hit
            });
        }
    }

    /// The entries (their `user` pattern) that matched no user noted so far.
    pub(crate) fn unmatched(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|entry| !entry.matched.load(Ordering::Relaxed))
            .map(|entry| entry.pattern.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_names_match_in_order() {
        let exemptions = Exemptions::parse(
            "- {user: ci-deployer, reason: pipeline rotates itself}\n- {user: 'svc-*', reason: service accounts}\n",
        )
        .unwrap();
        assert_eq!(
            exemptions.lookup("svc-billing"),
            [(
                Exemption::File {
                    pattern: "svc-*".into(),
                    reason: "service accounts".into()
                },
                None
            )]
        );
        assert_eq!(exemptions.lookup("ci-deployer").len(), 1);
        assert_eq!(exemptions.lookup("alice"), []);
        // Every matching entry, in file order.
        let both = Exemptions::parse(
            "- {user: 'svc-b*', reason: old, expires: 2020-01-01}\n- {user: 'svc-*', reason: services}\n",
        )
        .unwrap();
        let patterns: Vec<String> = both
            .lookup("svc-billing")
            .into_iter()
            .map(|(exemption, _)| match exemption {
                Exemption::File { pattern, .. } => pattern,
                Exemption::Tag(_) => unreachable!("a file holds no tags"),
            })
            .collect();
        assert_eq!(patterns, ["svc-b*", "svc-*"]);
        assert!(
            Exemptions::parse("- &a {user: x, reason: y}\n- *a\n")
                .unwrap_err()
                .contains("anchors")
        );
    }

    #[test]
    fn names_and_globs_match_ignoring_case() {
        let exemptions = Exemptions::parse(
            "- {user: CI-Deployer, reason: pipeline}\n- {user: 'svc-*', reason: services}\n",
        )
        .unwrap();
        assert_eq!(exemptions.lookup("ci-deployer").len(), 1);
        assert_eq!(exemptions.lookup("SVC-Billing").len(), 1);
    }

    #[test]
    fn entries_that_match_no_user_scanned_are_reported() {
        let exemptions = Exemptions::parse(
            "- {user: ci-deployer, reason: a}\n- {user: 'svc-*', reason: b}\n- {user: typo-user, reason: c}\n",
        )
        .unwrap();
        assert_eq!(exemptions.unmatched().len(), 3);
        exemptions.note_scanned(["alice", "SVC-billing"]);
        exemptions.note_scanned(["CI-Deployer"]);
        assert_eq!(exemptions.unmatched(), ["typo-user"]);
    }

    #[test]
    fn entries_may_expire_and_an_unreadable_date_is_refused() {
        let exemptions =
            Exemptions::parse("- {user: bob, reason: migration, expires: 2027-01-31}\n").unwrap();
        assert_eq!(
            exemptions
                .lookup("bob")
                .first()
                .map(|(_, expires)| *expires),
            Some(NaiveDate::from_ymd_opt(2027, 1, 31))
        );
        let err = Exemptions::parse(
            "- {user: bob, reason: x}\n- {user: eve, reason: y, expires: next week}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "entry 1 (`eve`): field `expires`: `next week` is not a date (YYYY-MM-DD)"
        );
    }

    #[test]
    fn an_entry_without_a_reason_is_refused() {
        let err = Exemptions::parse("- {user: bob, reason: ''}\n").unwrap_err();
        assert!(err.contains("reason"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = Exemptions::parse("- {user: bob, reason: x, until: 2027}\n").unwrap_err();
        assert!(err.contains("until"), "{err}");
    }
}
