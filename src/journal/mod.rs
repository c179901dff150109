//! The journal: a JSON Lines record of every intent and outcome of an apply or a
//! rollback, each line flushed to disk before the next AWS call, so an interrupted run
//! leaves a true record. Rollback and the report read it back, one way: through the
//! typed lines and per-key histories of `history`.

mod history;
mod rotation;

pub use history::{
    Change, Deactivation, KeyHistory, KeyLine, KeyStep, LeftBy, Line, UserLine, key_histories,
};
pub use rotation::{
    Rotation, RotationHistory, RotationLine, Step as RotationStep, rotation_histories,
};

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::facts::KeyStatus;

/// Journals larger than this are refused by rollback.
pub(crate) const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;

/// What a journal line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// The first line: what run this is.
    Run,
    /// A key is about to change (written before the call).
    Intent,
    /// The call succeeded.
    Done,
    /// IAM answered the call with an error: nothing changed.
    Failed,
    /// The call got no clear answer and IAM could not be read back: live state decides.
    Unknown,
    /// Re-listing the user's keys showed the intended state.
    Verified,
    /// The intended state was not seen within the verification time.
    Unverified,
    /// The user or key was left alone, with the reason.
    Skipped,
    /// Live state no longer matches the plan; the user was left alone.
    Drifted,
    /// The person at the prompt said no.
    Declined,
}

/// Which command wrote the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Apply,
    Rollback,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub ts: DateTime<Utc>,
    pub event: Event,
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<KeyStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<KeyStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Run line only: what this run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// Rotation lines only: which rotation hand-off and which step of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

/// What the first line says about the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub mode: Mode,
    /// The plan (apply) or the journal being undone (rollback).
    pub source: String,
    pub tool: String,
    pub caller_arn: String,
    /// The SHA-256 of `source` as the run read it, so that the run names exactly what
    /// it replayed (absent in journals of keytrim before it was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
}

impl Entry {
    /// A line about a user (and optionally a key), stamped now.
    pub fn new(event: Event, account_id: &str, user_name: &str) -> Entry {
        Entry {
            ts: Utc::now().trunc_subsecs(3),
            event,
            account_id: account_id.to_string(),
            user_name: Some(user_name.to_string()),
            access_key_id: None,
            from: None,
            to: None,
            reason: None,
            error: None,
            run: None,
            rotation: None,
        }
    }

    /// The same line about one key's change.
    pub fn key(mut self, access_key_id: &str, from: KeyStatus, to: KeyStatus) -> Entry {
        self.access_key_id = Some(access_key_id.to_string());
        self.from = Some(from);
        self.to = Some(to);
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Entry {
        self.reason = Some(reason.into());
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> Entry {
        self.error = Some(error.into());
        self
    }
}

/// An open journal, shared by the tasks of one run. Every record is written, flushed
/// and synced to disk before `record` returns. A write that fails part-way is cut back
/// to the last whole line, and the journal remembers that it failed, so the run can
/// stop starting changes it could not record.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: Mutex<Written>,
    /// The first write error, kept for the run's final report.
    failure: Mutex<Option<String>>,
}

/// The file and the length of its whole lines.
#[derive(Debug)]
struct Written {
    file: File,
    whole: u64,
}

impl Journal {
    /// Create a new journal (never overwriting one) and write its run line.
    pub(crate) fn create(path: &Path, account_id: &str, run: RunInfo) -> Result<Journal> {
        let fail = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let mut options = File::options();
        options.write(true).create_new(true);
        // Journals name every user, key and caller: readable by their owner only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(fail)?;
        let journal = Journal {
            path: path.to_path_buf(),
            file: Mutex::new(Written { file, whole: 0 }),
            failure: Mutex::new(None),
        };
        let mut first = Entry::new(Event::Run, account_id, "");
        first.user_name = None;
        first.run = Some(run);
        journal.record(&first)?;
        Ok(journal)
    }

    /// Create a journal at `path`, or, when a journal of that name exists already (two
    /// runs in the same millisecond), at `<stem>_02.journal.jsonl`, `_03`, ... up to
    /// `_99`. `_` sorts after `.` byte by byte, so a numbered journal sorts after the
    /// one whose name it could not take, and both before any later run's.
    pub(crate) fn create_numbered(path: &Path, account_id: &str, run: RunInfo) -> Result<Journal> {
        let mut candidate = path.to_path_buf();
        for number in 2..=100 {
            match Journal::create(&candidate, account_id, run.clone()) {
                Err(Error::Write { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists && number < 100 =>
                {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    let stem = name.strip_suffix(".journal.jsonl").unwrap_or(&name);
                    candidate = path.with_file_name(format!("{stem}_{number:02}.journal.jsonl"));
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its last try")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Append one line and make it durable. When the write fails, whatever part of the
    /// line reached the file is cut off again, so the journal stays whole JSON Lines.
    pub(crate) fn record(&self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_string(entry).expect("journal entries serialise");
        line.push('\n');
        let mut written = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = written
            .file
            .write_all(line.as_bytes())
            .and_then(|()| written.file.sync_data());
        match result {
            Ok(()) => {
                written.whole += line.len() as u64;
                Ok(())
            }
            Err(source) => {
                let whole = written.whole;
                // Cut the fragment and write the next line where it began.
                let cut = written
                    .file
                    .set_len(whole)
                    .and_then(|()| written.file.seek(SeekFrom::Start(whole)).map(|_| ()));
                if let Err(cut) = cut {
                    tracing::error!(path = %self.path.display(), "cannot cut the journal back to its last whole line: {cut}");
                }
                let mut failure = self
                    .failure
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                failure.get_or_insert_with(|| source.to_string());
                Err(Error::Write {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }

    /// From now on every write fails, as on a full disk (for tests of what a run does
    /// when its journal fails at a given moment).
    #[cfg(test)]
    pub(crate) fn fill_disk(&self) {
        let full = File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        self.file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .file = full;
    }

    /// The first write that failed, if one did: no new change may start after it.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// The UTC time a journal's name carries, to the millisecond and of fixed width, so
/// that journal names sort in the order their runs started.
pub(crate) fn name_timestamp(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// The default journal path for a plan: beside it, `<stem>.<UTC timestamp>.journal.jsonl`.
pub(crate) fn default_path(beside: &Path, now: DateTime<Utc>) -> PathBuf {
    let stem = beside
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keytrim".to_string());
    let stem = stem.strip_suffix(".journal").unwrap_or(&stem).to_string();
    let name = format!("{stem}.{}.journal.jsonl", name_timestamp(now));
    beside.with_file_name(name)
}

/// What is wrong with the identities a journal line names, if anything: a journal is
/// a file that can be edited, and rollback re-activates the keys it names.
fn identity_problem(entry: &Entry) -> Option<String> {
    use crate::plan::validate::{is_access_key_id, is_account_id, is_user_name};
    if !is_account_id(&entry.account_id) {
        return Some(format!(
            "`{}` is not a 12-digit AWS account id",
            entry.account_id
        ));
    }
    if let Some(user) = entry.user_name.as_deref().filter(|u| !is_user_name(u)) {
        return Some(format!("`{user}` is not an IAM user name"));
    }
    if let Some(key) = entry
        .access_key_id
        .as_deref()
        .filter(|k| !is_access_key_id(k))
    {
        return Some(format!("`{key}` is not an access key id"));
    }
    None
}

/// What is wrong with a line's shape, if anything: every reader takes a line by its
/// kind (`Entry::typed`), so a line whose fields do not fit its event is refused rather
/// than read as something else.
fn shape_problem(entry: &Entry) -> Option<String> {
    if let Some(rotation) = &entry.rotation {
        return rotation::problem(entry, rotation);
    }
    shape_problem_of_a_change(entry).map(str::to_string)
}

/// What is wrong with the shape of a line that is not a rotation's, if anything.
fn shape_problem_of_a_change(entry: &Entry) -> Option<&'static str> {
    let names_a_key = entry.access_key_id.is_some();
    let names_a_change = entry.from.is_some() || entry.to.is_some();
    let complete_change = entry.from.is_some() && entry.to.is_some();
    if (entry.event == Event::Run) != entry.run.is_some() {
        return Some("a `run` line says what run it is, and no other line does");
    }
    if names_a_key != names_a_change || (names_a_key && !complete_change) {
        return Some("a line about a key names the key and its change (`from` and `to`)");
    }
    if names_a_key && matches!(entry.event, Event::Verified | Event::Unverified) {
        return Some("a verification line is about a user, not one key");
    }
    None
}

/// Read a journal back. A last line cut short (the process died while writing it) is
/// left out; any other bad line is an error naming its number.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    read_with_bytes(path).map(|(entries, _)| entries)
}

/// Read a journal back (as `read`), with the exact bytes its entries were read from
/// (for a digest of what was read).
pub(crate) fn read_with_bytes(path: &Path) -> Result<(Vec<Entry>, Vec<u8>)> {
    let fail = |detail: String| Error::Journal {
        path: path.display().to_string(),
        detail,
    };
    let file = File::open(path).map_err(|err| {
        fail(if err.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            err.to_string()
        })
    })?;
    read_from(file, path)
}

/// Read a journal from a file already open (`path` names it in errors), with the exact
/// bytes its entries were read from: a caller that checked the open file's owner and
/// mode reads what it checked.
pub(crate) fn read_from(file: File, path: &Path) -> Result<(Vec<Entry>, Vec<u8>)> {
    let bytes = bytes_of(file, path)?;
    let entries = entries_of(&bytes, path)?;
    Ok((entries, bytes))
}

/// The bytes of an open journal, up to the size limit (beyond it, an error).
pub(crate) fn bytes_of(file: File, path: &Path) -> Result<Vec<u8>> {
    let fail = |detail: String| Error::Journal {
        path: path.display().to_string(),
        detail,
    };
    let mut bytes = Vec::new();
    file.take(MAX_JOURNAL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| fail(err.to_string()))?;
    if bytes.len() as u64 > MAX_JOURNAL_BYTES {
        return Err(fail(format!(
            "larger than the {} MiB limit for journals",
            MAX_JOURNAL_BYTES / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// A journal's entries, read and checked from its bytes (`path` names it in errors).
pub(crate) fn entries_of(bytes: &[u8], path: &Path) -> Result<Vec<Entry>> {
    parse_lines(bytes).map_err(|detail| Error::Journal {
        path: path.display().to_string(),
        detail,
    })
}

/// The entries of a journal's bytes; the error is the detail.
fn parse_lines(bytes: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let mut reader = BufReader::new(bytes);
    let mut entries = Vec::new();
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|err| format!("line {}: {err}", number + 1))?;
        if read == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with('\n');
        match serde_json::from_str::<Entry>(line.trim_end()) {
            Ok(entry) => {
                // Rollback acts on what the journal names: only IAM identities pass.
                if let Some(problem) = identity_problem(&entry) {
                    return Err(format!("line {number}: {problem}"));
                }
                if let Some(problem) = shape_problem(&entry) {
                    return Err(format!("line {number}: {problem}"));
                }
                entries.push(entry);
            }
            Err(_) if !complete => {
                tracing::warn!(line = number, "ignoring the journal's incomplete last line");
            }
            Err(err) => return Err(format!("line {number}: {err}")),
        }
    }
    match entries.first() {
        Some(first) if first.event == Event::Run && first.run.is_some() => Ok(entries),
        _ => {
            Err("line 1: not a keytrim journal (the first line must be a `run` event)".to_string())
        }
    }
}

/// An apply's run line for tests, in account 123456789012.
#[cfg(test)]
pub(crate) fn run_info() -> RunInfo {
    RunInfo {
        mode: Mode::Apply,
        source: "plans/123456789012.yaml".into(),
        tool: "keytrim test".into(),
        caller_arn: "arn:aws:iam::123456789012:user/admin".into(),
        source_sha256: None,
    }
}

#[cfg(test)]
mod tests;
