//! One user's rotation hand-off as apply carries it out (docs/rotation.md, "What apply
//! does, per user" and "Failures"): the possession proof, CreateAccessKey, the new key
//! staged as AWSPENDING, the probe, and the compare-and-swap promotion, each call
//! journaled before and after. When a step fails, the secret's labels are read back
//! and `rotation::recovery` decides the clean-up, which is journaled the same way. The
//! old key is never touched: the ordinary rule switches it off at a later audit, once
//! it is idle.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::aws::Clients;
use crate::aws::iam::Written;
use crate::aws::rotate::{self, Created};
use crate::facts::KeyStatus;
use crate::journal::{Journal, Rotation, RotationLine, RotationStep};
use crate::rotation::recovery::{self, CleanUp, Labels, NewKeyEnd, Promotion};
use crate::rotation::secret_value::{KeyPair, key_pair as rotation_key_pair, with_key};
use crate::rotation::{CURRENT, PENDING};

/// The rotation of one user, as the plan and the live checks name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandOff<'a> {
    pub account_id: &'a str,
    pub user_name: &'a str,
    pub user_arn: &'a str,
    pub secret_arn: &'a str,
    /// The version AWSCURRENT is on (the plan's `rotate_to`, checked live).
    pub current_version: &'a str,
    /// The user's one active key, which AWSCURRENT hands out.
    pub old_key: &'a str,
}

/// How long the probe waits for a new key to work: IAM takes seconds to make a new key
/// usable everywhere, so it must sign in `successes` times in a row, `spacing` apart,
/// within `give_up_after`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProbeSchedule {
    pub successes: u32,
    pub spacing: Duration,
    pub give_up_after: Duration,
}

impl Default for ProbeSchedule {
    fn default() -> ProbeSchedule {
        ProbeSchedule {
            successes: 3,
            spacing: Duration::from_secs(2),
            give_up_after: Duration::from_secs(60),
        }
    }
}

/// What came of one user's rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandedOff {
    /// AWSCURRENT hands out the new key; the old key is still Active.
    Promoted { new_key: String },
    /// Stopped before any key was made: nothing changed.
    NotStarted { why: String },
    /// Stopped after the new key was made, and undone: the key deleted (no version
    /// ever held it) or switched off for a person to delete.
    Undone {
        new_key: String,
        end: NewKeyEnd,
        why: String,
    },
    /// An earlier apply's rotation found over, and journaled so: nothing changed.
    Settled { why: String },
    /// Stopped where keytrim cannot tell what is safe: a person decides. Both keys
    /// may be Active.
    ForAPerson {
        new_key: Option<String>,
        why: String,
    },
}

/// A rotation under way: what it journals and the new key once made.
struct Run<'a> {
    clients: &'a Clients,
    journal: &'a Journal,
    job: HandOff<'a>,
    rotation: Rotation,
    new_key: Option<String>,
    /// This run's CreateAccessKey answered with the new key (a resumed rotation's key
    /// was made by an earlier run, and is never deleted).
    made_by_this_run: bool,
}

impl Run<'_> {
    /// Journal `what` of `step`; a journal that cannot be written stops the rotation.
    fn note(&self, step: RotationStep, what: RotationLine<'_>) -> Result<(), String> {
        let entry = what.entry(
            self.job.account_id,
            self.job.user_name,
            &self.rotation.at(step),
            self.new_key.as_deref(),
        );
        self.journal
            .record(&entry)
            .map_err(|err| format!("the journal could not be written: {err}"))
    }

    /// Journal the outcome of a write of `step`; `Ok` when it was applied, else what
    /// went wrong.
    fn outcome(&self, step: RotationStep, written: Written) -> Result<(), String> {
        match written {
            Written::Applied => self.note(step, RotationLine::Done),
            Written::Refused(error) | Written::NotSent(error) => {
                let why = error.to_string();
                self.note(step, RotationLine::Refused { error: &why })?;
                Err(why)
            }
            Written::Unclear { error, .. } => {
                let why = error.to_string();
                self.note(step, RotationLine::Unknown { error: &why })?;
                Err(why)
            }
        }
    }
}

/// Carry out `job`, journaling every step in `journal`.
pub(crate) async fn hand_off(
    clients: &Clients,
    journal: &Journal,
    job: HandOff<'_>,
    schedule: ProbeSchedule,
) -> HandedOff {
    let mut run = Run {
        clients,
        journal,
        job,
        rotation: Rotation {
            step: RotationStep::Begin,
            secret_arn: job.secret_arn.to_string(),
            token: uuid::Uuid::new_v4().to_string(),
            previous_version: job.current_version.to_string(),
            old_access_key_id: job.old_key.to_string(),
        },
        new_key: None,
        made_by_this_run: false,
    };
    let current = match prove(&run).await {
        Ok(current) => current,
        Err(why) => return HandedOff::NotStarted { why },
    };
    let new = match create(&mut run).await {
        Ok(new) => new,
        Err(stopped) => return stopped,
    };
    let value = match with_key(&current, &new) {
        Ok(value) => value,
        Err(why) => return clean_up(&run, why.to_string()).await,
    };
    drop(current);
    if let Err(why) = stage(&run, &value).await {
        return clean_up(&run, why).await;
    }
    drop(value);
    if let Err(why) = probe(&run, &new, schedule).await {
        return clean_up(&run, why).await;
    }
    drop(new);
    promote(&run).await
}

/// The rotation's first line, then the possession proof: AWSCURRENT, on the version
/// the plan names, holds the user's key, and that key signs in as the user. Answers
/// with AWSCURRENT's whole value, for the new one.
async fn prove(run: &Run<'_>) -> Result<Zeroizing<String>, String> {
    run.note(RotationStep::Begin, RotationLine::Intent)?;
    run.note(RotationStep::Prove, RotationLine::Intent)?;
    let proved = async {
        let (pair, text) =
            rotate::current_pair(run.clients, run.job.secret_arn, run.job.current_version)
                .await
                .map_err(|err| err.to_string())?;
        if pair.access_key_id != run.job.old_key {
            // The value is the secret's, so whoever can write it chose it: named only
            // when it is an access key id.
            let held = if crate::plan::validate::is_access_key_id(&pair.access_key_id) {
                pair.access_key_id.as_str()
            } else {
                "something that is not an access key id"
            };
            return Err(format!(
                "AWSCURRENT hands out {held}, not the user's key {}",
                run.job.old_key
            ));
        }
        let arn = rotate::signs_in_as(run.clients, &pair)
            .await
            .map_err(|err| format!("AWSCURRENT's key does not sign in: {err}"))?;
        if arn != run.job.user_arn {
            return Err(format!(
                "AWSCURRENT's key signs in as {arn}, not as the user"
            ));
        }
        Ok(text)
    }
    .await;
    match proved {
        Ok(text) => {
            run.note(RotationStep::Prove, RotationLine::Done)?;
            Ok(text)
        }
        Err(why) => {
            run.note(RotationStep::Prove, RotationLine::Refused { error: &why })?;
            Err(why)
        }
    }
}

/// CreateAccessKey, once.
async fn create(run: &mut Run<'_>) -> Result<KeyPair, HandedOff> {
    let not_started = |why| HandedOff::NotStarted { why };
    run.note(RotationStep::CreateAccessKey, RotationLine::Intent)
        .map_err(not_started)?;
    match rotate::create_access_key(run.clients, run.job.user_name).await {
        Created::Made(pair) => {
            run.new_key = Some(pair.access_key_id.clone());
            run.made_by_this_run = true;
            if let Err(why) = run.note(RotationStep::CreateAccessKey, RotationLine::Done) {
                // The key exists and the journal cannot say so: end it now, unheld.
                return Err(clean_up(run, why).await);
            }
            Ok(pair)
        }
        Created::Refused(error) => {
            let why = error.to_string();
            run.note(
                RotationStep::CreateAccessKey,
                RotationLine::Refused { error: &why },
            )
            .map_err(not_started)?;
            Err(not_started(why))
        }
        Created::Unclear(error) => {
            let why = error.to_string();
            let _ = run.note(
                RotationStep::CreateAccessKey,
                RotationLine::Unknown { error: &why },
            );
            Err(HandedOff::ForAPerson {
                new_key: None,
                why: format!(
                    "CreateAccessKey got no clear answer ({why}): a key may have been made that no secret holds; CloudTrail's CreateAccessKey events for the user tell"
                ),
            })
        }
    }
}

/// PutSecretValue of the new value as the token's version, AWSPENDING only. First
/// the labels again: staging would move AWSPENDING off another rotation begun since
/// the proof (AWSPENDING left on AWSCURRENT's version by an earlier promotion is no
/// rotation), and AWSCURRENT must still be where the proof read it; either stops the
/// rotation before the write.
async fn stage(run: &Run<'_>, value: &Zeroizing<String>) -> Result<(), String> {
    let labels = rotate::labels(run.clients, run.job.secret_arn, &run.rotation.token)
        .await
        .map_err(|err| format!("the secret's labels could not be read before staging: {err}"))?;
    if labels.current.as_deref() != Some(run.job.current_version) {
        return Err("AWSCURRENT moved after the proof: someone is changing the secret".into());
    }
    if labels.pending.is_some() && labels.pending != labels.current {
        return Err(
            "AWSPENDING appeared on a version after the proof: another rotation is under way"
                .into(),
        );
    }
    run.note(RotationStep::PutSecretValue, RotationLine::Intent)?;
    let written =
        rotate::put_pending(run.clients, run.job.secret_arn, &run.rotation.token, value).await;
    run.outcome(RotationStep::PutSecretValue, written)
}

/// The new key must sign in as the user `successes` times in a row.
async fn probe(run: &Run<'_>, new: &KeyPair, schedule: ProbeSchedule) -> Result<(), String> {
    run.note(RotationStep::Probe, RotationLine::Intent)?;
    let deadline = tokio::time::Instant::now() + schedule.give_up_after;
    let mut in_a_row = 0;
    let mut last = String::from("it was not tried");
    loop {
        match rotate::signs_in_as(run.clients, new).await {
            Ok(arn) if arn == run.job.user_arn => in_a_row += 1,
            Ok(arn) => {
                in_a_row = 0;
                last = format!("it signed in as {arn}");
            }
            Err(err) => {
                in_a_row = 0;
                last = err.to_string();
            }
        }
        if in_a_row >= schedule.successes.max(1) {
            return run.note(RotationStep::Probe, RotationLine::Done);
        }
        if tokio::time::Instant::now() + schedule.spacing > deadline {
            let why = format!(
                "the new key did not sign in as the user {} times in a row within {} s (last: {last})",
                schedule.successes,
                schedule.give_up_after.as_secs()
            );
            run.note(RotationStep::Probe, RotationLine::Refused { error: &why })?;
            return Err(why);
        }
        tokio::time::sleep(schedule.spacing).await;
    }
}

/// The compare-and-swap: AWSCURRENT moves to the token's version only from the
/// version the rotation began with. A clear refusal changed nothing, so the new key is
/// cleaned up. Without a clear answer the promotion may still land after any read, so
/// the new key is never ended then: the labels say whether it landed, and otherwise a
/// person decides, both keys Active.
async fn promote(run: &Run<'_>) -> HandedOff {
    let new_key = run.new_key.clone().unwrap_or_default();
    if let Err(why) = run.note(RotationStep::Promote, RotationLine::Intent) {
        return clean_up(run, why).await;
    }
    let written = rotate::move_stage(
        run.clients,
        run.job.secret_arn,
        CURRENT,
        Some(&run.rotation.token),
        Some(&run.rotation.previous_version),
    )
    .await;
    let unclear = matches!(written, Written::Unclear { .. });
    let why = match run.outcome(RotationStep::Promote, written) {
        Ok(()) => return HandedOff::Promoted { new_key },
        Err(why) if !unclear => return clean_up(run, why).await,
        Err(why) => why,
    };
    let labels = rotate::labels(run.clients, run.job.secret_arn, &run.rotation.token).await;
    if let Ok(labels) = &labels
        && recovery::promotion(labels, &run.rotation) == Promotion::Landed
    {
        let line = RotationLine::Done.entry(
            run.job.account_id,
            run.job.user_name,
            &run.rotation.at(RotationStep::Promote),
            Some(&new_key),
        );
        let _ = run
            .journal
            .record(&line.reason("read back: AWSCURRENT is on the new version"));
        return HandedOff::Promoted { new_key };
    }
    HandedOff::ForAPerson {
        why: format!(
            "the promotion got no clear answer ({why}) and may still land: both keys are left Active, the new key {new_key} staged as AWSPENDING; move AWSCURRENT to it, or switch it off, once the secret settles"
        ),
        new_key: Some(new_key),
    }
}

/// After `why` stopped the rotation with its new key made: read the labels back and
/// leave no key nobody holds.
async fn clean_up(run: &Run<'_>, why: String) -> HandedOff {
    let new_key = run.new_key.clone().unwrap_or_default();
    let for_a_person = |detail: String| HandedOff::ForAPerson {
        new_key: Some(new_key.clone()),
        why: format!("{why}; {detail}"),
    };
    let labels = match rotate::labels(run.clients, run.job.secret_arn, &run.rotation.token).await {
        Ok(labels) => labels,
        Err(err) => {
            return for_a_person(format!(
                "the secret's labels could not be read back ({err}): the new key {new_key} is left Active"
            ));
        }
    };
    let (remove_pending, end) = match recovery::clean_up(
        &labels,
        &run.rotation,
        run.made_by_this_run,
    ) {
        // keytrim did not promote it (or did not get that far): someone else did.
        // AWSCURRENT may hand the key out, so it is never ended.
        CleanUp::Promoted => {
            return for_a_person(format!(
                "AWSCURRENT is on the new version although this run did not promote it: the new key {new_key} is left Active"
            ));
        }
        CleanUp::ForAPerson => {
            return for_a_person(
                "AWSCURRENT is on a version neither this rotation's nor the one it began with: someone changed the secret; both keys are left Active"
                    .into(),
            );
        }
        CleanUp::Undo {
            remove_pending,
            new_key: end,
        } => (remove_pending, end),
    };
    if let Err(why) = may_end(run, &labels, &new_key).await {
        return for_a_person(format!("{why}: the new key {new_key} is left Active"));
    }
    match end_new_key(run, remove_pending, end, &new_key).await {
        Ok(()) => HandedOff::Undone { new_key, end, why },
        Err(error) => for_a_person(format!(
            "ending the new key {new_key} failed ({error}): it is Active and no secret version hands it out"
        )),
    }
}

/// AWSPENDING off the rotation's version (when asked), then the new key deleted or
/// switched off, each call journaled before and after.
async fn end_new_key(
    run: &Run<'_>,
    remove_pending: bool,
    end: NewKeyEnd,
    new_key: &str,
) -> Result<(), String> {
    if remove_pending {
        let _ = run.note(RotationStep::RemovePending, RotationLine::Intent);
        let token = Some(run.rotation.token.as_str());
        let written =
            rotate::move_stage(run.clients, run.job.secret_arn, PENDING, None, token).await;
        // A label left behind names a version applications do not read: the key is
        // ended all the same.
        let _ = run.outcome(RotationStep::RemovePending, written);
    }
    let step = match end {
        NewKeyEnd::Delete => RotationStep::DeleteAccessKey,
        NewKeyEnd::Deactivate => RotationStep::DeactivateAccessKey,
    };
    let _ = run.note(step, RotationLine::Intent);
    let user = run.job.user_name;
    let written = match end {
        NewKeyEnd::Delete => rotate::delete_access_key(run.clients, user, new_key).await,
        NewKeyEnd::Deactivate => {
            crate::aws::iam::update_access_key(run.clients, user, new_key, KeyStatus::Inactive)
                .await
        }
    };
    run.outcome(step, written)
}

/// Whether the new key may be ended, read from AWS rather than believed from a
/// journal. A key this run made may. One an earlier run made may only when no labelled
/// version of the secret hands it out (AWSCURRENT, AWSPREVIOUS, an AWSPENDING of
/// another rotation) and it is either one this rotation's version held or one never
/// used. The reason, when it may not.
async fn may_end(run: &Run<'_>, labels: &Labels, new_key: &str) -> Result<(), String> {
    // A key this run made has been in no hands but this run's and the rotation's own
    // version: nothing else can hand it out.
    if run.made_by_this_run {
        return Ok(());
    }
    let token = run.rotation.token.as_str();
    let labelled = [
        (labels.current.as_deref(), CURRENT),
        (labels.previous.as_deref(), "AWSPREVIOUS"),
        (
            labels
                .pending
                .as_deref()
                .filter(|version| *version != token),
            PENDING,
        ),
    ];
    for (version, stage) in labelled {
        let Some(version) = version else { continue };
        match key_of(run, version, Some(stage)).await {
            Ok(held) if held == new_key => {
                return Err(format!("the secret's {stage} hands it out"));
            }
            Ok(_) => {}
            Err(err) => {
                return Err(format!(
                    "which key the secret's {stage} hands out could not be read ({err})"
                ));
            }
        }
    }
    if labels.token_version_exists
        && key_of(run, token, None)
            .await
            .is_ok_and(|held| held == new_key)
    {
        return Ok(());
    }
    match crate::aws::iam::last_use(run.clients, new_key).await {
        Ok(used) if used.at.is_none() => Ok(()),
        Ok(_) => Err(
            "it has been used, and no version of this rotation held it: a person decides".into(),
        ),
        Err(err) => Err(format!("its last use could not be read ({err})")),
    }
}

/// The access key id the secret's version `version` holds.
async fn key_of(
    run: &Run<'_>,
    version: &str,
    stage: Option<&'static str>,
) -> Result<String, String> {
    let text = rotate::version_text(run.clients, run.job.secret_arn, version, stage)
        .await
        .map_err(|err| err.to_string())?;
    rotation_key_pair(&text)
        .map(|pair| pair.access_key_id)
        .map_err(str::to_string)
}

mod restore;
mod resume;
pub(crate) use restore::{Restored, can_restore, restore};
pub(crate) use resume::{Unfinished, resume, unfinished_in};

#[cfg(test)]
mod tests;
