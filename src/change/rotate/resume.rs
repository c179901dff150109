//! An earlier apply's rotation that stopped short (a kill, a crash, a lost answer),
//! taken up by the next apply (docs/rotation.md, "Crashes"): how far the journal says it
//! got and the secret's labels now decide (`rotation::recovery::resume`); each call is
//! journaled as the first run's were, and a `settled` line ends the rotation once
//! nothing is left, so that no later apply takes it up again.

use chrono::{DateTime, Utc};

use super::{HandOff, HandedOff, ProbeSchedule, Run, clean_up, probe, promote};
use crate::aws::Clients;
use crate::aws::iam;
use crate::aws::rotate;
use crate::journal::{Journal, Rotation, RotationLine, RotationStep};
use crate::rotation::PENDING;
use crate::rotation::recovery::{self, CleanUp, Reached, Resume, Unclaimed};
use crate::rotation::secret_value::key_pair;

/// A rotation an earlier apply began and did not finish, as its journal lines say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unfinished {
    pub user_name: String,
    /// The rotation as it began: its secret, token, previous version and old key.
    pub rotation: Rotation,
    /// How far it got.
    pub reached: Reached,
    /// When its `begin` line was written.
    pub begun_at: DateTime<Utc>,
}

/// The rotations of `account_id` that the apply journals in `dir` began and did not
/// finish. Every journal of the directory is read (a bad one is an error naming it):
/// an interrupted rotation must be found wherever its lines are.
pub(crate) fn unfinished_in(
    dir: &std::path::Path,
    account_id: &str,
) -> crate::error::Result<Vec<Unfinished>> {
    let fail = |err: std::io::Error| crate::error::Error::Journal {
        path: dir.display().to_string(),
        detail: format!("cannot list the journals beside the plan: {err}"),
    };
    let paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(fail)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with(".journal.jsonl"))
        })
        .collect();
    let mut journals = Vec::new();
    for path in &paths {
        // Opened once, without following a link and without waiting on a FIFO; its
        // owner and mode are read from the open file, then its bytes from the same one.
        let Some((file, meta)) = open_journal(path) else {
            continue;
        };
        // Only a journal that could hold a rotation line is read line by line: the
        // others take no part, and every apply searches the whole directory.
        let bytes = crate::journal::bytes_of(file, path)?;
        let needle = b"\"rotation\"";
        if !bytes.windows(needle.len()).any(|w| w == needle) {
            continue;
        }
        let journal = crate::journal::entries_of(&bytes, path)?;
        let run = journal[0]
            .run
            .as_ref()
            .expect("journal::read checks the run line");
        if run.mode == crate::journal::Mode::Apply && journal[0].account_id == account_id {
            if journal.iter().any(|entry| entry.rotation.is_some()) {
                owned_and_private(path, &meta)?;
            }
            journals.push(journal);
        }
    }
    // In the order the runs began (their run lines), whatever the files are named.
    journals.sort_by_key(|journal| journal[0].ts);
    // Each line's own account, not only its run line's.
    let entries: Vec<crate::journal::Entry> = journals
        .into_iter()
        .flatten()
        .filter(|entry| entry.account_id == account_id)
        .collect();
    let histories = crate::journal::rotation_histories(&entries).map_err(|detail| {
        crate::error::Error::Journal {
            path: dir.display().to_string(),
            detail,
        }
    })?;
    Ok(histories
        .into_iter()
        .filter_map(|history| {
            let reached = recovery::reached(history.lines.iter().copied());
            (reached != Reached::Finished).then(|| Unfinished {
                user_name: history.user.to_string(),
                rotation: history.begun.clone(),
                reached,
                begun_at: history.begun_at,
            })
        })
        .collect())
}

/// A journal whose rotation lines apply will act on must be the running user's own
/// file, which no one else may write (keytrim creates journals mode 0600): like ssh's
/// StrictModes, a file another user could have written is refused, not believed.
fn owned_and_private(path: &std::path::Path, meta: &std::fs::Metadata) -> crate::error::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let own = meta.uid() == rustix::process::geteuid().as_raw();
        if !own || meta.mode() & 0o022 != 0 {
            return Err(crate::error::Error::Journal {
                path: path.display().to_string(),
                detail: "it records a rotation, and is not this user's own file or others may write it: keytrim does not act on it (keytrim writes journals mode 0600)".into(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

/// A regular file named like a journal, open, with its metadata; None for anything
/// else (a link, a FIFO, a device, a file that cannot be opened).
fn open_journal(path: &std::path::Path) -> Option<(std::fs::File, std::fs::Metadata)> {
    let mut options = std::fs::File::options();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
    );
    let file = options.open(path).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta))
}

/// Take up `unfinished` (the user's: `user_arn` is its ARN), journaling in `journal`.
pub(crate) async fn resume(
    clients: &Clients,
    journal: &Journal,
    account_id: &str,
    user_arn: &str,
    unfinished: &Unfinished,
    schedule: ProbeSchedule,
) -> HandedOff {
    let rotation = &unfinished.rotation;
    let job = HandOff {
        account_id,
        user_name: &unfinished.user_name,
        user_arn,
        secret_arn: &rotation.secret_arn,
        current_version: &rotation.previous_version,
        old_key: &rotation.old_access_key_id,
    };
    let mut run = Run {
        clients,
        journal,
        job,
        rotation: rotation.clone(),
        new_key: match &unfinished.reached {
            Reached::Created { new_key } => Some(new_key.clone()),
            _ => None,
        },
        made_by_this_run: false,
    };
    if let Err(stopped) = vouch(&run, unfinished).await {
        return stopped;
    }
    let labels = match rotate::labels(clients, &rotation.secret_arn, &rotation.token).await {
        Ok(labels) => labels,
        Err(err) => {
            return HandedOff::ForAPerson {
                new_key: run.new_key.clone(),
                why: format!(
                    "an earlier apply's rotation is unfinished, and the secret's labels could not be read ({err})"
                ),
            };
        }
    };
    match recovery::resume(unfinished.reached.clone(), rotation, &labels) {
        Resume::Nothing => settle(&run, "nothing was left to do"),
        Resume::LookForAnUnclaimedKey => {
            if labels.token_version_exists {
                return HandedOff::ForAPerson {
                    new_key: None,
                    why: "the journal names no new key, yet the secret holds the rotation's version: a person decides".into(),
                };
            }
            unclaimed(&mut run, unfinished.begun_at).await
        }
        Resume::ProbeAndPromote { new_key } => probe_and_promote(&run, &new_key, schedule).await,
        Resume::MovedBack { .. } => settle(
            &run,
            "AWSCURRENT was moved back from the rotation's version since; the new key is left as it is",
        ),
        // The promotion landed, its answer lost: journaled as done, read back, so that
        // the promotion is this journal's to roll back.
        Resume::CleanUp {
            clean_up: CleanUp::Promoted,
            new_key,
        } => {
            let line = RotationLine::Done
                .entry(
                    account_id,
                    &unfinished.user_name,
                    &rotation.at(RotationStep::Promote),
                    Some(&new_key),
                )
                .reason("read back: AWSCURRENT is on the rotation's version");
            match journal.record(&line) {
                Ok(()) => HandedOff::Promoted { new_key },
                Err(err) => HandedOff::ForAPerson {
                    new_key: Some(new_key),
                    why: format!("the journal could not be written: {err}"),
                },
            }
        }
        Resume::CleanUp { .. } => {
            clean_up(
                &run,
                "an earlier apply stopped before the new key was handed off".into(),
            )
            .await
        }
    }
}

/// What a journal says is checked against live state before anything is done for
/// it: a journal is a file anyone with the directory can write. The user must still be
/// bound both ways to the journal's secret, and a new key the journal names must be a
/// key of the user created when the rotation began (a key already gone leaves nothing
/// to do). Anything else is for a person, and nothing is written.
async fn vouch(run: &Run<'_>, unfinished: &Unfinished) -> Result<(), HandedOff> {
    let rotation = &unfinished.rotation;
    let for_a_person = |why: String| HandedOff::ForAPerson {
        new_key: run.new_key.clone(),
        why: format!(
            "an earlier apply's rotation is unfinished, and {why}: keytrim does not act on it"
        ),
    };
    let tags = iam::user_tags(run.clients, run.job.user_name)
        .await
        .map_err(|err| for_a_person(format!("the user's tags could not be read ({err})")))?;
    let tag = format!("secretsmanager:{}", rotation.secret_arn);
    let names_back = rotate::names_back(run.clients, &rotation.secret_arn)
        .await
        .map_err(|err| for_a_person(format!("its secret could not be described ({err})")))?;
    if tags.rotate_to.as_deref() != Some(tag.as_str())
        || names_back.as_deref() != Some(run.job.user_arn)
    {
        return Err(for_a_person(
            "the user and the journal's secret no longer name each other".into(),
        ));
    }
    let Some(new_key) = &run.new_key else {
        return Ok(());
    };
    let keys = iam::list_keys(run.clients, run.job.user_name)
        .await
        .map_err(|err| for_a_person(format!("the user's keys could not be listed ({err})")))?;
    match keys.iter().find(|key| key.access_key_id == *new_key) {
        // IAM's listings lag: a key made moments ago may not show yet.
        None if recovery::settled_since(unfinished.begun_at)
            .is_none_or(|at| chrono::Utc::now() < at) =>
        {
            Err(for_a_person(format!(
                "the key it names, {new_key}, is not listed yet (IAM's listings lag): apply again after {}",
                when(unfinished.begun_at)
            )))
        }
        None => Err(settle(run, "the new key no longer exists")),
        Some(key) if recovery::made_by_the_rotation(key.created, unfinished.begun_at) => Ok(()),
        Some(_) => Err(for_a_person(format!(
            "the key it names, {new_key}, was not created when the rotation began"
        ))),
    }
}

/// AWSPENDING holds the new key, and AWSCURRENT has not moved: probe the key (its
/// secret read back from the rotation's version), then promote it.
async fn probe_and_promote(run: &Run<'_>, new_key: &str, schedule: ProbeSchedule) -> HandedOff {
    let rotation = &run.rotation;
    let read = |version, stage| {
        rotate::version_text(run.clients, &rotation.secret_arn, version, Some(stage))
    };
    let staged = read(&rotation.token, PENDING).await;
    let current = read(&rotation.previous_version, crate::rotation::CURRENT).await;
    let (staged, current) = match (staged, current) {
        (Ok(staged), Ok(current)) => (staged, current),
        (Err(err), _) | (_, Err(err)) => return clean_up(run, err.to_string()).await,
    };
    // The staged value must be the one keytrim writes: AWSCURRENT's with only the key
    // changed. A version someone else staged is neither promoted nor touched.
    if !crate::rotation::secret_value::only_the_key_differs(&current, &staged) {
        return HandedOff::ForAPerson {
            new_key: Some(new_key.to_string()),
            why: "AWSPENDING holds a value keytrim did not write (it differs from AWSCURRENT's in more than the key): a person decides".into(),
        };
    }
    drop(current);
    let pair = match key_pair(&staged) {
        Ok(pair) if pair.access_key_id == new_key => pair,
        Ok(_) => {
            return clean_up(
                run,
                "AWSPENDING holds another key than the journal's".into(),
            )
            .await;
        }
        Err(why) => return clean_up(run, why.to_string()).await,
    };
    drop(staged);
    if let Err(why) = probe(run, &pair, schedule).await {
        return clean_up(run, why).await;
    }
    drop(pair);
    promote(run).await
}

/// CreateAccessKey may have made a key whose id no line names. A key of the user
/// created since the rotation began, never used and not the one AWSCURRENT hands out,
/// is switched off (undoable, named); if there is none, no key was made.
async fn unclaimed(run: &mut Run<'_>, begun_at: DateTime<Utc>) -> HandedOff {
    let keys = match iam::list_keys(run.clients, run.job.user_name).await {
        Ok(keys) => keys,
        Err(err) => {
            return HandedOff::ForAPerson {
                new_key: None,
                why: format!(
                    "an earlier apply stopped during CreateAccessKey, and the user's keys could not be listed ({err})"
                ),
            };
        }
    };
    let listed = keys
        .iter()
        .map(|key| (key.access_key_id.as_str(), key.created));
    let key = match recovery::unclaimed(listed, run.job.old_key, begun_at, chrono::Utc::now()) {
        Unclaimed::NoneMade => return settle(run, "CreateAccessKey made no key"),
        Unclaimed::TooSoon => {
            return HandedOff::ForAPerson {
                new_key: None,
                why: format!(
                    "an earlier apply stopped during CreateAccessKey, and the user's keys show no key it made yet; IAM's listings can lag, so apply again after {}",
                    when(begun_at)
                ),
            };
        }
        Unclaimed::One(key) => key,
        Unclaimed::Several => {
            return HandedOff::ForAPerson {
                new_key: None,
                why: "an earlier apply stopped during CreateAccessKey, and the user has more than one key created since: CloudTrail's CreateAccessKey events tell which is keytrim's".into(),
            };
        }
    };
    match iam::last_use(run.clients, &key).await {
        Ok(used) if used.at.is_none() => {}
        Ok(_) => {
            return HandedOff::ForAPerson {
                new_key: Some(key),
                why: "an earlier apply stopped during CreateAccessKey; the key created since has been used, so it is left Active for a person".into(),
            };
        }
        Err(err) => {
            return HandedOff::ForAPerson {
                new_key: Some(key),
                why: format!("the last use of the key created since could not be read ({err})"),
            };
        }
    }
    run.new_key = Some(key);
    clean_up(
        run,
        "an earlier apply stopped during CreateAccessKey; the key it made was never handed off"
            .into(),
    )
    .await
}

/// When IAM's listings will have settled for a rotation begun at `begun_at`, in words.
fn when(begun_at: DateTime<Utc>) -> String {
    recovery::settled_since(begun_at).map_or_else(
        || "a while".to_string(),
        |at| at.format("%H:%M UTC").to_string(),
    )
}

/// Journal that nothing of the rotation is left to take up.
fn settle(run: &Run<'_>, why: &str) -> HandedOff {
    let line = RotationLine::Done
        .entry(
            run.job.account_id,
            run.job.user_name,
            &run.rotation.at(RotationStep::Settled),
            run.new_key.as_deref(),
        )
        .reason(why);
    match run.journal.record(&line) {
        Ok(()) => HandedOff::Settled {
            why: format!("an earlier apply's rotation is over: {why}"),
        },
        Err(err) => HandedOff::ForAPerson {
            new_key: run.new_key.clone(),
            why: format!("the journal could not be written: {err}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal with a rotation that others may write, or another user owns, is
    /// refused; the running user's own private journal is read.
    #[cfg(unix)]
    #[test]
    fn only_the_running_users_private_journals_are_believed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal.jsonl");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let meta = || std::fs::metadata(&path).unwrap();
        assert!(owned_and_private(&path, &meta()).is_ok());
        for mode in [0o620, 0o602, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let refused = owned_and_private(&path, &meta()).unwrap_err().to_string();
            assert!(
                refused.contains("others may write it"),
                "{mode:o}: {refused}"
            );
        }
    }
}
