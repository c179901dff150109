//! The evidence as one self-contained HTML document: no script, no fetch (its Content
//! Security Policy forbids both), styles inline, a chart drawn in inline SVG, laid out
//! to print to PDF. Every string from a plan, a journal or IAM goes through maud's
//! escaping, after `safe_text::escape` has written out the characters that would hide or
//! reorder text.

mod chart;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{
    Evidence, KeyOutcome, KeyProblem, Run, Step, Tally, UserEvidence, UserOutcome, Verdict,
    Verification,
};
use crate::journal::{Entry, KeyLine, LeftBy, Line, Mode, RotationLine, RotationStep, UserLine};
use crate::plan::{PlanKey, PlanUser, Source};
use crate::rule::Decision;
use crate::safe_text;

/// No script and no fetch of anything: the document is what it shows.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const STYLE: &str = r"
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --bad: #b3261e; --good: #1a7f37; --hold: #9a6700; }
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: var(--ink); max-width: 70rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 0 0 .3rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .45rem; text-align: left; vertical-align: top; }
td, p, li { overflow-wrap: anywhere; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; }
code, .id { font-family: ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace; font-size: .92em; overflow-wrap: anywhere; }
.id, .digest, .date, .word { white-space: nowrap; overflow-wrap: normal; }
th[scope=row] { width: 9rem; }
.muted { color: var(--muted); }
.user { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; margin: .8rem 0; }
.outcome { font-weight: 600; }
.outcome.bad { color: var(--bad); }
.outcome.good { color: var(--good); }
.outcome.hold { color: var(--hold); }
ul.keys { margin: .2rem 0 .4rem; padding-left: 1.4rem; }
.override { border-left: 4px solid var(--hold); padding-left: .5rem; }
.warning { border-left: 4px solid var(--bad); padding-left: .5rem; }
ol.steps { margin: .3rem 0; padding-left: 1.4rem; }
figure { margin: .5rem 0; }
figcaption { color: var(--muted); font-size: .9em; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
@page { size: A4; margin: 14mm; }
@media print {
  body { font-size: 10pt; margin: 0; max-width: none; }
  .user, tr, figure { break-inside: avoid; }
  h2 { break-after: avoid; }
}
";

/// Data shown as text: hidden controls written out (maud escapes HTML).
fn text(data: &str) -> Cow<'_, str> {
    safe_text::escape(data)
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The whole document.
pub fn render(evidence: &Evidence) -> String {
    let plan = &evidence.plan;
    let title = format!(
        "keytrim evidence: account {}, plan of {}",
        plan.account_id,
        plan.generated_at.format("%Y-%m-%d")
    );
    let document = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CONTENT_SECURITY_POLICY);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "Evidence: " (text(&plan.policy.control)) ", account " span.id { (plan.account_id) } }
                    p.muted {
                        "No IAM user may have more than one active access key. This document joins the reviewed plan with the journals of the runs made from it. It was made by "
                        (text(&evidence.made_by)) " at " (when(evidence.made_at)) "."
                    }
                }
                (sources(evidence))
                (summary(evidence))
                (chart::ages_chart(evidence))
                (users(evidence))
                (strays(evidence))
            }
        }
    };
    document.into_string()
}

fn sources(evidence: &Evidence) -> Markup {
    let plan = &evidence.plan;
    html! {
        section #sources {
            h2 { "Sources" }
            table {
                tr { th scope="row" { "Plan file" } td { code { (text(&evidence.plan_file.path)) } br; span.muted { "SHA-256 " } code.digest { (evidence.plan_file.sha256) } } }
                tr { th scope="row" { "Reviewed in" } td {
                    @match &evidence.reviewed_in {
                        Some(reference) => code { (text(reference)) },
                        None => span.muted { "not given (keytrim report --commit)" },
                    }
                } }
                tr { th scope="row" { "Audited" } td { (when(plan.generated_at)) " by " code { (text(&plan.caller_arn)) } " with " (text(&plan.generated_by)) ", from "
                    (match plan.source { Source::Live => "live IAM", Source::CredentialReport => "the credential report, confirmed live" }) } }
                tr { th scope="row" { "Policy" } td {
                    "Keys " (plan.policy.max_key_age_days) " days old or older are not kept; a key used within "
                    (plan.policy.in_use_window_days) " days holds its deactivation (guard "
                    (if plan.policy.in_use_guard { "on" } else { "off" }) "); "
                    (crate::plan::render::no_fresh_key_reading(&plan.policy)) "."
                    @if crate::plan::standing::policy_of(plan) != crate::rule::Policy::default() {
                        " " strong { "This is not keytrim's default policy." }
                    }
                } }
            }
            @if evidence.runs.is_empty() {
                p.warning { "No journal was given: nothing below has been applied." }
            }
            @for note in &evidence.notes {
                p.warning { "Check: " (text(note)) }
            }
            @for run in &evidence.runs {
                table {
                    tr { th scope="row" { "Run" } td { strong { (run.label) } ", started " span.date { (when(run.started)) } " by " code { (text(&run.caller_arn)) } " with " (text(&run.tool)) } }
                    tr { th scope="row" { "Replayed" } td { code { (text(&run.source)) } } }
                    tr { th scope="row" { "Journal" } td { code { (text(&run.file.path)) } br; span.muted { "SHA-256 " } code.digest { (run.file.sha256) } } }
                }
            }
        }
    }
}

fn summary(evidence: &Evidence) -> Markup {
    let counts = crate::plan::render::effective_summary(&evidence.plan);
    let tally: Tally = evidence.tally();
    let outcomes = [
        ("deactivated", "deactivated", tally.deactivated),
        ("unverified", "of them not verified", tally.unverified),
        ("already-done", "already done", tally.already_done),
        ("reactivated", "re-activated", tally.reactivated),
        (
            "found-active",
            "found active again (not by keytrim)",
            tally.found_active,
        ),
        ("left-alone", "left alone", tally.left_alone),
        (
            "failed-or-unknown",
            "failed or unknown",
            tally.failed_or_unknown,
        ),
        ("not-applied", "not applied", tally.not_applied),
    ];
    let overrides: Vec<&UserEvidence> = evidence
        .users
        .iter()
        .filter(|user| user.overridden.is_some())
        .collect();
    html! {
        section #summary {
            h2 { "Summary" }
            table {
                tr { th.num { "users scanned" } th.num { "compliant" } th.num { "deactivate" } th.num { "hold" } th.num { "rotate" } th.num { "exempt" } th.num { "unreadable" } }
                tr { td.num { (counts.users_scanned) } td.num { (counts.compliant) } td.num { (counts.deactivate) } td.num { (counts.hold) } td.num { (counts.rotate) } td.num { (counts.exempt) } td.num { (counts.unreadable) } }
            }
            p { "What the journals record, in users:" }
            table {
                tr { @for (_, label, _) in &outcomes { th.num { (label) } } }
                tr { @for (id, _, count) in &outcomes { td.num id={ "count-" (id) } { (count) } } }
            }
            (end_state(evidence))
            @if !overrides.is_empty() {
                p.override {
                    strong { "Reviewer overrides (" (overrides.len()) "): " }
                    @for (index, user) in overrides.iter().enumerate() {
                        @if index > 0 { ", " }
                        code { (text(&user.user.user_name)) }
                        " (" (user.overridden.map(Decision::as_str).unwrap_or_default()) " → " (user.user.decision.as_str()) ")"
                    }
                    ". The rule decided otherwise on the plan's own facts; keytrim accepts an override only when it does less, or what the rule named for a held key."
                }
            }
        }
    }
}

/// Where the account stands after the runs: the plan's users still not compliant, by
/// why, and the kept keys due for rotation.
fn end_state(evidence: &Evidence) -> Markup {
    let state = evidence.end_state();
    let why = [
        (
            "no-active-key",
            "MAY HAVE NO ACTIVE KEY",
            state.no_active_key,
        ),
        ("held", "held", state.held),
        ("exempt", "exempt", state.exempt),
        ("unreadable", "unreadable", state.unreadable),
        (
            "rotation-pending",
            "rotation pending",
            state.rotation_pending,
        ),
        (
            "not-applied",
            "not applied or not finished",
            state.not_applied,
        ),
    ];
    html! {
        p #end-state {
            strong { "After these runs: " }
            (state.brought_into_line) " of the plan's users have one active key; "
            span #count-still-not-compliant { (state.not_compliant()) }
            " are still not compliant with CIS 1.13"
            @if state.not_compliant() > 0 {
                " ("
                @for (index, (id, label, count)) in why.iter().filter(|(_, _, count)| *count > 0).enumerate() {
                    @if index > 0 { ", " }
                    span id={ "end-" (id) } { (label) " " (count) }
                }
                ")"
            }
            "."
            @if state.rotation_due > 0 {
                " " span #count-rotation-due { (state.rotation_due) } " of the plan's kept keys are over "
                (evidence.plan.policy.max_key_age_days) " days: rotate them (CIS 1.14)."
            }
        }
    }
}

fn users(evidence: &Evidence) -> Markup {
    html! {
        section #users {
            h2 { "Users (" (evidence.users.len()) ")" }
            @if evidence.users.is_empty() {
                p { "Every user had at most one active key: nothing to do." }
            }
            @for user in &evidence.users {
                (user_section(evidence, user))
            }
        }
    }
}

fn user_section(evidence: &Evidence, evidence_of: &UserEvidence) -> Markup {
    let user = &evidence_of.user;
    let (outcome, class) = verdict_text(&evidence_of.outcome.verdict);
    html! {
        article.user {
            h3 { code { (text(&user.user_name)) } ": " (user.decision.as_str()) }
            p.muted { code { (text(&user.user_arn)) } }
            p { "Reason: " (text(&user.reason)) }
            @if let Some(mark) = crate::plan::render::rotation_mark(&evidence.plan, user) {
                p.warning { "Rotation due: " (text(&mark)) }
            }
            @if let Some(hand_off) = crate::plan::render::hand_off(&evidence.plan, user, str::to_string) {
                p { "Rotation hand-off: " (text(&hand_off)) }
            }
            @if let Some(rule) = evidence_of.overridden {
                p.override { "Reviewer override: the rule decided " strong { (rule.as_str()) } " on the plan's facts; the plan says " strong { (user.decision.as_str()) } "." }
            }
            @if let Some(until) = user.exempt_until {
                p { "Exempt until " (until.format("%Y-%m-%d")) " (its last day)." }
            }
            @if let Some(error) = &user.error {
                p.warning { "IAM refused to show this user: " (text(error)) }
            }
            @if !user.keys.is_empty() {
                (keys_table(user))
            }
            @if !evidence_of.steps.is_empty() {
                p { "What the journals record:" }
                ol.steps {
                    @for step in &evidence_of.steps {
                        li { (step_text(&evidence.runs, step)) }
                    }
                }
            }
            p class={ "outcome " (class) } { "Outcome: " (outcome) }
            @if !evidence_of.outcome.keys.is_empty() {
                ul.keys {
                    @for key in &evidence_of.outcome.keys {
                        li { (key_text(&evidence.runs, key)) }
                    }
                }
            }
            @if let Some(note) = evidence_of.outcome.note.as_deref().filter(|_| shows_note(&evidence_of.outcome)) {
                p { "Why: " (text(note)) }
            }
        }
    }
}

fn keys_table(user: &PlanUser) -> Markup {
    html! {
        table {
            tr { th { "Access key" } th { "Planned" } th { "Status at audit" } th { "Created" } th.num { "Age (days)" } th { "Last used" } th { "Description" } }
            @for key in &user.keys {
                tr {
                    td.id { (key.access_key_id) }
                    td.word { (planned_role(user, key)) }
                    td.word { (key.status.as_str()) }
                    td.date { (key.created.format("%Y-%m-%d")) }
                    td.num { (key.age_days) }
                    td { (last_use(key)) }
                    td { (key.description.as_deref().map(text).unwrap_or_default()) }
                }
            }
        }
    }
}

fn planned_role(user: &PlanUser, key: &PlanKey) -> &'static str {
    let id = key.access_key_id.as_str();
    if user.keep.as_deref() == Some(id) {
        "keep"
    } else if user.deactivate.iter().any(|k| k == id) {
        match user.decision {
            Decision::Deactivate => "deactivate",
            Decision::Hold => "held",
            _ => "-",
        }
    } else {
        "-"
    }
}

fn last_use(key: &PlanKey) -> String {
    let Some(at) = key.last_used else {
        return "never".to_string();
    };
    let place: Vec<Cow<'_, str>> = [&key.last_used_service, &key.last_used_region]
        .into_iter()
        .flatten()
        .map(|part| text(part))
        .collect();
    if place.is_empty() {
        when(at)
    } else {
        format!("{} ({})", when(at), place.join(", "))
    }
}

/// One journal line for people.
fn step_text(runs: &[Run], step: &Step) -> Markup {
    let entry = &step.entry;
    let run = &runs[step.run];
    html! {
        span.date { (when(entry.ts)) } " · " (run.label) ": " (event_text(run.mode, entry))
        @if let Some(key) = &entry.access_key_id { " " span.id { (key) } }
        @if let (Some(from), Some(to)) = (entry.from, entry.to) { " (" (from.as_str()) " → " (to.as_str()) ")" }
        @if let Some(reason) = &entry.reason { " — " (text(reason)) }
        @if let Some(error) = &entry.error { " — error: " (text(error)) }
    }
}

fn event_text(mode: Mode, entry: &Entry) -> &'static str {
    let left_alone = |by| match by {
        LeftBy::Skipped => "skipped",
        LeftBy::Drifted => "left alone: live state differs from the plan",
        LeftBy::Declined => "declined at the prompt",
    };
    match entry.typed() {
        Line::Run(_) => "run started",
        Line::Key { change, what, .. } => {
            let reactivating = change.to == crate::facts::KeyStatus::Active;
            match what {
                KeyLine::Intent if reactivating => "about to re-activate",
                KeyLine::Intent => "about to deactivate",
                KeyLine::Done if reactivating && mode == Mode::Apply => {
                    "re-activated (lockout guard)"
                }
                KeyLine::Done if reactivating => "re-activated",
                KeyLine::Done => "deactivated",
                KeyLine::Refused { .. } => "IAM refused the call; nothing changed",
                KeyLine::Unknown { .. } => "no clear answer; live state decides",
                KeyLine::AlreadySo
                | KeyLine::LeftAlone {
                    by: LeftBy::Skipped,
                    ..
                } => "skipped",
                KeyLine::LeftAlone { by, .. } => left_alone(by),
            }
        }
        Line::User { what, .. } => match what {
            UserLine::Verified => "verified: IAM lists the intended state",
            UserLine::Unverified => "not verified in time",
            UserLine::LeftAlone { by, .. } => left_alone(by),
            UserLine::Failed { unknown: true, .. } => "no clear answer; live state decides",
            UserLine::Failed { .. } => "IAM refused the call; nothing changed",
        },
        Line::Rotation { rotation, what, .. } => rotation_text(rotation.step, what),
        Line::Nothing => "noted",
    }
}

/// A rotation hand-off's line in words: the step and what came of it.
fn rotation_text(step: RotationStep, what: RotationLine<'_>) -> &'static str {
    use RotationLine::{Done, Intent, Refused, Unknown};
    use RotationStep as S;
    match (step, what) {
        (S::Begin, _) => "rotation hand-off begins",
        (S::Settled, _) => "rotation over: a later apply settled it",
        (S::Restore, Intent) => "about to move AWSCURRENT back to the old key (rollback)",
        (S::Restore, Done) => "AWSCURRENT moved back to the old key; the new key stays Active",
        (S::Prove, Intent) => "about to prove the secret holds the user's key",
        (S::Prove, Done) => "proved: the secret's key signs in as the user",
        (S::CreateAccessKey, Intent) => "about to create a new key",
        (S::CreateAccessKey, Done) => "created a new key",
        (S::PutSecretValue, Intent) => "about to stage the new key in the secret (AWSPENDING)",
        (S::PutSecretValue, Done) => "staged the new key (AWSPENDING)",
        (S::Probe, Intent) => "about to probe the new key",
        (S::Probe, Done) => "probed: the new key signs in as the user",
        (S::Promote, Intent) => "about to move AWSCURRENT to the new key",
        (S::Promote, Done) => "promoted: AWSCURRENT hands out the new key",
        (S::RemovePending, Intent) => "about to remove AWSPENDING from the new version",
        (S::RemovePending, Done) => "removed AWSPENDING from the new version",
        (S::DeleteAccessKey, Intent) => "about to delete the new key (no version held it)",
        (S::DeleteAccessKey, Done) => "deleted the new key",
        (S::DeactivateAccessKey, Intent) => "about to switch the new key off",
        (S::DeactivateAccessKey, Done) => "switched the new key off",
        (S::Prove, Refused { .. }) => "not proved: nothing was created",
        (S::Probe, Refused { .. }) => "the new key did not sign in as the user in time",
        (_, Refused { .. }) => "AWS refused the call; nothing changed",
        (_, Unknown { .. }) => "no clear answer; live state decides",
    }
}

/// The verdict in words, with its class for colour (the words carry the meaning).
fn verdict_text(verdict: &Verdict) -> (String, &'static str) {
    let seen = |verified: bool| {
        if verified { "verified" } else { "NOT verified" }
    };
    match verdict {
        Verdict::NoChangePlanned => ("no change planned".to_string(), "muted"),
        Verdict::NotApplied => (
            "not applied (no journal names this user)".to_string(),
            "hold",
        ),
        Verdict::Deactivated { verified, complete } => (
            format!(
                "deactivated{}, {}",
                if *complete {
                    ""
                } else {
                    " in part (see the keys)"
                },
                seen(*verified)
            ),
            if *verified && *complete {
                "good"
            } else {
                "bad"
            },
        ),
        Verdict::AlreadyDone { verified } => (
            format!("already in the intended state, {}", seen(*verified)),
            if *verified { "good" } else { "bad" },
        ),
        Verdict::Reactivated { by_rollback: true } => {
            ("rolled back (see the keys)".to_string(), "hold")
        }
        Verdict::Reactivated { by_rollback: false } => (
            "re-activated by the apply's lockout guard (see the keys)".to_string(),
            "hold",
        ),
        Verdict::FoundActive => (
            "active again, switched on by someone else: a later run found the key already Active and changed nothing (see the keys)".to_string(),
            "hold",
        ),
        Verdict::LeftAlone { by, reason } => {
            let what = match by {
                LeftBy::Drifted => "left alone, drifted",
                LeftBy::Declined => "declined at the prompt",
                LeftBy::Skipped => "skipped",
            };
            (format!("{what}: {}", text(reason)), "hold")
        }
        Verdict::Failed => (
            "a change failed: IAM refused it (see the keys)".to_string(),
            "bad",
        ),
        Verdict::Uncertain => (
            "unknown: a change got no clear answer, live state decides (see the keys)".to_string(),
            "bad",
        ),
        Verdict::NoActiveKey { .. } => (
            "THE USER MAY HAVE NO ACTIVE KEY: the lockout guard could not re-activate a key"
                .to_string(),
            "bad",
        ),
    }
}

/// The journal line that left the user alone is shown as "why" unless the verdict
/// already says it.
fn shows_note(outcome: &UserOutcome) -> bool {
    !matches!(
        outcome.verdict,
        Verdict::LeftAlone { .. } | Verdict::NoChangePlanned
    )
}

/// What the journals say about one key, for people.
fn key_text(runs: &[Run], key: &KeyOutcome) -> Markup {
    let verification = |verified: Verification| match verified {
        Verification::Verified => "verified",
        Verification::Unverified => "NOT verified in time",
        Verification::NotRecorded => "no verification recorded",
    };
    let label = |run: usize| runs[run].label.as_str();
    html! {
        span.id { (key.key) } ": "
        @if let Some(change) = &key.changed {
            @match change.to {
                crate::facts::KeyStatus::Inactive => { "deactivated by " (label(change.run)) }
                crate::facts::KeyStatus::Active => { "re-activated by " (label(change.run)) }
            }
            ", " (verification(change.verified))
        }
        @if let Some((status, run, verified)) = key.already {
            "already " (status.as_str()) " when " (label(run)) " checked, " (verification(verified))
        }
        @if let Some(problem) = &key.problem {
            @if key.changed.is_some() || key.already.is_some() { "; then " }
            @match problem {
                KeyProblem::Failed { run, to, error } => {
                    (label(*run)) ": IAM refused to make it " (to.as_str()) ", unchanged: " (text(error))
                }
                KeyProblem::Uncertain { run, to, error } => {
                    (label(*run)) ": no clear answer whether it became " (to.as_str()) ", live state decides"
                    @if let Some(error) = error { ": " (text(error)) } @else { " (the run ended during the call)" }
                }
                KeyProblem::NotReached { run, reason, .. } => {
                    (label(*run)) ": not changed: " (text(reason))
                }
            }
        }
    }
}

fn strays(evidence: &Evidence) -> Markup {
    if evidence.strays.is_empty() {
        return html! {};
    }
    html! {
        section #strays {
            h2 { "Not in this plan" }
            p.warning { "These journal lines name users or keys that the plan does not list: the journal may be of another plan of this account." }
            ol.steps {
                @for step in &evidence.strays {
                    li { @if let Some(user) = &step.entry.user_name { code { (text(user)) } ": " } (step_text(&evidence.runs, step)) }
                }
            }
        }
    }
}
