//! The join of plans and journals, on journal lines as apply and rollback write them:
//! the fixtures, the checks a journal must pass to be evidence of a plan, escaping and
//! the end state here; what the lines add up to per user in `outcomes`.

use super::*;
use crate::journal::{Event, LeftBy, RunInfo};
use crate::plan::render::tests::every_decision_plan;

const ACCOUNT: &str = "123456789012";
/// alice's key to deactivate, and the one she keeps, in `every_decision_plan`.
const ALICE_OLD: &str = "AKIAEXAMPLEALICE0001";
const ALICE_NEW: &str = "AKIAEXAMPLEALICE0002";

fn at(minute: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-29T13:{minute:02}:00Z"))
        .unwrap()
        .to_utc()
}

fn journal(mode: Mode, started: u32, lines: Vec<Entry>) -> JournalFile {
    let mut first = Entry::new(Event::Run, ACCOUNT, "");
    first.user_name = None;
    first.ts = at(started);
    first.run = Some(RunInfo {
        mode,
        source: match mode {
            Mode::Apply => "plans/123456789012.yaml".into(),
            Mode::Rollback => "10.journal.jsonl".into(),
        },
        tool: "keytrim test".into(),
        caller_arn: "arn:aws:iam::123456789012:user/ops".into(),
        // An apply names this plan; a rollback names the apply started at :10.
        source_sha256: Some(match mode {
            Mode::Apply => PLAN_SHA256.repeat(64),
            Mode::Rollback => format!("{:064}", 10),
        }),
    });
    let mut entries = vec![first];
    entries.extend(lines);
    JournalFile {
        file: SourceFile {
            path: format!("{started}.journal.jsonl"),
            sha256: format!("{started:064}"),
        },
        entries,
    }
}

fn line(minute: u32, event: Event, user: &str) -> Entry {
    let mut entry = Entry::new(event, ACCOUNT, user);
    entry.ts = at(minute);
    entry
}

/// A line about one of alice's keys going `from` → `to`, as execute writes it.
fn key_line(minute: u32, event: Event, key: &str, from: KeyStatus, to: KeyStatus) -> Entry {
    line(minute, event, "alice").key(key, from, to)
}

fn off(minute: u32, event: Event, key: &str) -> Entry {
    key_line(minute, event, key, KeyStatus::Active, KeyStatus::Inactive)
}

fn on(minute: u32, event: Event, key: &str) -> Entry {
    key_line(minute, event, key, KeyStatus::Inactive, KeyStatus::Active)
}

/// The plan's SHA-256, as one repeated digit.
const PLAN_SHA256: &str = "1";

fn evidence_of(journals: Vec<JournalFile>) -> Result<Evidence, Mismatch> {
    assemble(
        every_decision_plan(),
        SourceFile {
            path: "plans/123456789012.yaml".into(),
            sha256: PLAN_SHA256.repeat(64),
        },
        journals,
        Made {
            reviewed_in: None,
            at: at(59),
            by: "keytrim test".into(),
        },
    )
}

fn outcome_of(evidence: &Evidence, user: &str) -> UserOutcome {
    evidence
        .users
        .iter()
        .find(|u| u.user.user_name == user)
        .unwrap()
        .outcome
        .clone()
}

fn verdict_of_alice(lines: Vec<Entry>) -> Verdict {
    let evidence = evidence_of(vec![journal(Mode::Apply, 10, lines)]).unwrap();
    outcome_of(&evidence, "alice").verdict
}

/// An apply as keytrim writes it: alice's old key deactivated and verified, hank
/// skipped as held.
fn apply_of_alice(start: u32) -> JournalFile {
    journal(
        Mode::Apply,
        start,
        vec![
            line(start, Event::Skipped, "hank").reason("decision hold: used 2 days ago"),
            off(start + 1, Event::Intent, ALICE_OLD),
            off(start + 1, Event::Done, ALICE_OLD),
            line(start + 2, Event::Verified, "alice").reason(format!("{ALICE_OLD} now Inactive")),
        ],
    )
}

/// A re-run of the apply as keytrim writes it: alice's old key skipped as already
/// Inactive, then "verified: already in the intended state".
fn rerun_finding_alice_done(start: u32) -> JournalFile {
    journal(
        Mode::Apply,
        start,
        vec![
            key_line(
                start + 1,
                Event::Skipped,
                ALICE_OLD,
                KeyStatus::Inactive,
                KeyStatus::Inactive,
            )
            .reason("already Inactive"),
            line(start + 1, Event::Verified, "alice").reason("already in the intended state"),
        ],
    )
}

fn rollback_of_alice(start: u32, lines: Vec<Entry>) -> JournalFile {
    journal(Mode::Rollback, start, lines)
}

/// Journals that cannot be evidence of this plan are refused, each with its reason.
#[test]
fn journals_that_cannot_be_of_this_plan_are_refused() {
    let mut other_account = apply_of_alice(10);
    other_account.entries[2].account_id = "210987654321".into();
    let mut earlier = journal(Mode::Apply, 10, Vec::new());
    earlier.entries[0].ts = every_decision_plan().generated_at - chrono::Duration::minutes(2);
    // The same run, copied with its line endings changed: another SHA-256.
    let mut copy = apply_of_alice(10);
    copy.file.sha256 = "f".repeat(64);
    copy.file.path = "copy.journal.jsonl".into();
    let mut other_plan = apply_of_alice(10);
    other_plan.entries[0].run.as_mut().unwrap().source_sha256 = Some("2".repeat(64));
    let mut joined = apply_of_alice(10);
    joined
        .entries
        .extend(rollback_of_alice(20, Vec::new()).entries);
    let cases = vec![
        (
            vec![other_account],
            "line 3: is a journal of account 210987654321, but the plan is of account 123456789012",
        ),
        (vec![joined], "holds 2 runs"),
        (
            vec![apply_of_alice(10), apply_of_alice(10)],
            "is the same journal as 10.journal.jsonl",
        ),
        (
            vec![apply_of_alice(10), copy],
            "records the same run as 10.journal.jsonl",
        ),
        (
            vec![other_plan],
            "its apply replayed a plan with SHA-256 2222",
        ),
        // every_decision_plan was generated at 12:00; this run started at 11:58,
        // beyond the minute of clock skew apply allows.
        (vec![earlier], "before the plan was generated"),
    ];
    for (journals, expected) in cases {
        let mismatch = evidence_of(journals).unwrap_err();
        assert!(mismatch.detail.contains(expected), "{mismatch:?}");
    }
}

/// What the files cannot prove is said: a rollback whose apply journal is not given.
#[test]
fn a_rollback_without_its_apply_is_noted() {
    let mut orphan = rollback_of_alice(20, Vec::new());
    orphan.entries[0].run.as_mut().unwrap().source_sha256 = Some("9".repeat(64));
    let evidence = evidence_of(vec![apply_of_alice(10), orphan]).unwrap();
    assert_eq!(evidence.notes.len(), 1, "{:?}", evidence.notes);
    assert!(
        evidence.notes[0]
            .contains("rollback 1 undid the journal `10.journal.jsonl`, which is not among")
    );
    // With its apply given, the rollback needs no note.
    let both = evidence_of(vec![apply_of_alice(10), rollback_of_alice(20, Vec::new())]).unwrap();
    assert!(both.notes.is_empty(), "{:?}", both.notes);
}

/// A run line without the SHA-256 of what it replayed was edited (every keytrim
/// release writes it): deleting it must not turn another plan's apply into a note.
/// The journal is refused, apply or rollback.
#[test]
fn a_run_line_without_what_it_replayed_is_refused() {
    for mut forged in [apply_of_alice(10), rollback_of_alice(20, Vec::new())] {
        forged.entries[0].run.as_mut().unwrap().source_sha256 = None;
        let refused = evidence_of(vec![forged]).unwrap_err();
        assert!(
            refused
                .detail
                .contains("does not record the SHA-256 of the file it replayed"),
            "{refused:?}"
        );
    }
}

/// (another machine's clock); earlier than that is refused.
#[test]
fn a_run_within_the_clock_skew_of_the_plan_is_accepted() {
    let generated = every_decision_plan().generated_at;
    let mut close = journal(Mode::Apply, 10, Vec::new());
    close.entries[0].ts = generated - chrono::Duration::seconds(30);
    assert!(evidence_of(vec![close]).is_ok());
}

/// Every string a plan, a journal or the reader can set, hostile, in one document:
/// none becomes markup, and hidden controls are written out.
#[test]
fn every_string_from_outside_is_escaped() {
    let hostile = "<b id=x>\"'&\u{202e}";
    let mut plan = every_decision_plan();
    plan.generated_by = hostile.into();
    for user in &mut plan.users {
        user.reason = hostile.into();
        user.error = Some(hostile.into());
        for key in &mut user.keys {
            key.description = Some(hostile.into());
            key.last_used_service = Some(hostile.into());
            key.last_used_region = Some(hostile.into());
        }
    }
    let mut journal = apply_of_alice(10);
    for entry in &mut journal.entries {
        entry.reason = Some(hostile.into());
        entry.error = Some(hostile.into());
        if let Some(run) = &mut entry.run {
            run.tool = hostile.into();
            run.source = hostile.into();
            run.caller_arn = hostile.into();
        }
    }
    journal.file.path = hostile.into();
    journal
        .entries
        .push(line(40, Event::Skipped, "zed").reason(hostile));
    let evidence = assemble(
        plan,
        SourceFile {
            path: hostile.into(),
            sha256: "1".repeat(64),
        },
        vec![journal],
        Made {
            reviewed_in: Some(hostile.into()),
            at: at(59),
            by: "keytrim test".into(),
        },
    )
    .unwrap();
    let document = html::render(&evidence);
    assert!(!document.contains("<b id"), "{document}");
    assert!(!document.contains('\u{202e}'), "{document}");
    let shown = document
        .matches("&lt;b id=x&gt;&quot;'&amp;\\u{202e}")
        .count();
    assert!(shown > 20, "{shown}: {document}");
}

/// Where the account stands: without journals every planned user is still not
/// compliant, each by why; after alice's apply she is in line and the rest stand.
#[test]
fn the_end_state_counts_users_still_not_compliant_by_why() {
    let before = evidence_of(Vec::new()).unwrap().end_state();
    assert_eq!(
        before,
        EndState {
            brought_into_line: 0,
            no_active_key: 0,
            // rita's kept key, whatever the runs did.
            rotation_due: 1,
            held: 1,
            exempt: 1,
            unreadable: 0,
            rotation_pending: 0,
            not_verified: 0,
            not_applied: 2,
        }
    );
    assert_eq!(before.not_compliant(), 4);
    let after = evidence_of(vec![apply_of_alice(10)]).unwrap().end_state();
    assert_eq!(after.brought_into_line, 1);
    assert_eq!((after.not_applied, after.not_compliant()), (1, 3));
}

mod outcomes;

#[test]
fn the_report_says_what_the_rotation_hand_off_does() {
    use crate::plan::hand_off_tests::{SECRET, VERSION, hand_off_plan, now};
    let evidence = assemble(
        hand_off_plan(),
        SourceFile {
            path: "plans/123456789012.yaml".into(),
            sha256: "1".repeat(64),
        },
        Vec::new(),
        Made {
            reviewed_in: None,
            at: now(),
            by: "keytrim test".into(),
        },
    )
    .unwrap();
    let document = html::render(&evidence);
    assert!(
        document.contains(&format!(
            "Rotation hand-off: a new key to be written to secret {SECRET} (AWSPENDING, then AWSCURRENT in place of version {VERSION})"
        )),
        "{document}"
    );
    assert_eq!(document.matches("Rotation hand-off:").count(), 1);
}
