//! Tests of a change run's own parts: the mode's names and verbs, and the exit status its
//! outcomes add up to.

use super::*;

#[test]
fn the_mode_names_the_run_and_its_verbs() {
    assert_eq!(RunMode::new(Mode::Apply, false), RunMode::Apply);
    assert_eq!(RunMode::new(Mode::Rollback, false), RunMode::Rollback);
    let dry = RunMode::new(Mode::Rollback, true);
    assert!(dry.is_dry_run());
    assert_eq!(dry.action().past(), "reactivated");
    assert_eq!(
        dry.title("j.jsonl (account 1)", None),
        "dry run of the rollback of j.jsonl (account 1): nothing was changed"
    );
    assert_eq!(
        RunMode::Apply.title("p.yaml (account 1)", Some(Path::new("p.journal.jsonl"))),
        "apply p.yaml (account 1), journal p.journal.jsonl"
    );
    assert_eq!(Mode::Apply.verb(), "deactivate");
}

/// The run exits with its heaviest user's status: interrupted over error over
/// partial over ok, whatever the order.
#[test]
fn the_heaviest_outcome_sets_the_exit_status() {
    let report = |outcome| UserReport {
        user_name: "u".into(),
        outcome,
    };
    let ok = report(Outcome::Skipped {
        reason: "exempt".into(),
    });
    let partial = report(Outcome::Declined);
    let error = report(Outcome::Failed {
        changed: Vec::new(),
        error: "AccessDenied".into(),
    });
    let stopped = report(interrupted());
    assert_eq!(exit_status(&[], false), ExitStatus::Ok);
    assert_eq!(
        exit_status(std::slice::from_ref(&ok), false),
        ExitStatus::Ok
    );
    assert_eq!(
        exit_status(&[ok.clone(), partial.clone()], false),
        ExitStatus::Partial
    );
    assert_eq!(
        exit_status(&[error.clone(), partial.clone(), ok.clone()], false),
        ExitStatus::Error
    );
    assert_eq!(
        exit_status(&[partial, stopped, error], false),
        ExitStatus::Interrupted
    );
    assert_eq!(exit_status(&[ok], true), ExitStatus::Interrupted);
}
