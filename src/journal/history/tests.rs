//! Tests of the one reading of journal lines: each kind read as itself, every line a
//! writer can make read back as written, and each key's history.

use proptest::prelude::*;

use super::*;

const ACCOUNT: &str = "123456789012";

fn off(event: Event) -> Entry {
    Entry::new(event, ACCOUNT, "alice").key("AKIAALICE", KeyStatus::Active, KeyStatus::Inactive)
}

/// Each event reads as its own kind; a skip that found the key as intended is
/// told apart from one that left it alone by the line's own change.
#[test]
fn lines_read_as_their_kind() {
    assert_eq!(
        off(Event::Failed).error("AccessDenied").typed(),
        Line::Key {
            user: "alice",
            key: "AKIAALICE",
            change: Change {
                from: KeyStatus::Active,
                to: KeyStatus::Inactive
            },
            what: KeyLine::Refused {
                error: "AccessDenied"
            },
        }
    );
    let already = Entry::new(Event::Skipped, ACCOUNT, "alice").key(
        "AKIAALICE",
        KeyStatus::Inactive,
        KeyStatus::Inactive,
    );
    assert!(matches!(
        already.typed(),
        Line::Key {
            what: KeyLine::AlreadySo,
            ..
        }
    ));
    let held = off(Event::Skipped).reason("held");
    assert!(matches!(
        held.typed(),
        Line::Key {
            what: KeyLine::LeftAlone {
                by: LeftBy::Skipped,
                reason: "held"
            },
            ..
        }
    ));
    let unknown = Entry::new(Event::Unknown, ACCOUNT, "alice").error("timeout");
    assert_eq!(
        unknown.typed(),
        Line::User {
            user: "alice",
            what: UserLine::Failed {
                error: "timeout",
                unknown: true
            }
        }
    );
}

/// User lines read as their kind; the run line as the run; a user-level intent
/// (keytrim writes none) as nothing.
#[test]
fn user_lines_read_as_their_kind() {
    let user = |event| Entry::new(event, ACCOUNT, "alice");
    let is = |entry: Entry, expected: UserLine<'_>| {
        assert_eq!(
            entry.typed(),
            Line::User {
                user: "alice",
                what: expected
            }
        );
    };
    is(user(Event::Verified), UserLine::Verified);
    is(user(Event::Unverified), UserLine::Unverified);
    is(
        user(Event::Declined).reason("no"),
        UserLine::LeftAlone {
            by: LeftBy::Declined,
            reason: "no",
        },
    );
    is(
        user(Event::Failed).error("denied"),
        UserLine::Failed {
            error: "denied",
            unknown: false,
        },
    );
    assert_eq!(user(Event::Intent).typed(), Line::Nothing);
    let mut run = user(Event::Run);
    run.user_name = None;
    run.run = Some(RunInfo {
        mode: super::super::Mode::Apply,
        source: "p.yaml".into(),
        tool: "keytrim test".into(),
        caller_arn: "arn:aws:iam::123456789012:user/ops".into(),
        source_sha256: None,
    });
    assert!(matches!(run.typed(), Line::Run(_)));
}

fn a_status() -> impl Strategy<Value = KeyStatus> {
    prop_oneof![Just(KeyStatus::Active), Just(KeyStatus::Inactive)]
}

fn left_by() -> impl Strategy<Value = LeftBy> {
    prop_oneof![
        Just(LeftBy::Skipped),
        Just(LeftBy::Drifted),
        Just(LeftBy::Declined)
    ]
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]

    /// What a writer means is what the reader reads: every key line keytrim can
    /// write reads back as itself.
    #[test]
    fn every_key_line_reads_back_as_written(
        from in a_status(),
        to in a_status(),
        kind in 0..6_u8,
        by in left_by(),
        text in ".{0,40}",
        some_error in any::<bool>(),
    ) {
        let change = Change { from, to };
        let what = match kind {
            0 => KeyLine::Intent,
            1 => KeyLine::Done,
            2 => KeyLine::Refused { error: &text },
            3 => KeyLine::Unknown { error: some_error.then_some(text.as_str()) },
            4 => KeyLine::AlreadySo,
            _ => KeyLine::LeftAlone { by, reason: &text },
        };
        // A change that is no change is a key found already so; one that is a
        // change cannot be.
        prop_assume!(!matches!(what, KeyLine::LeftAlone { .. }) || from != to);
        prop_assume!(what != KeyLine::AlreadySo || from == to);
        let line = Line::Key { user: "alice", key: "AKIAALICE", change, what };
        let entry = what.entry(ACCOUNT, "alice", "AKIAALICE", change);
        prop_assert_eq!(entry.typed(), line);
        prop_assert_eq!(entry.account_id.as_str(), ACCOUNT);
    }

    /// Every user line keytrim can write reads back as itself.
    #[test]
    fn every_user_line_reads_back_as_written(
        kind in 0..4_u8,
        by in left_by(),
        text in ".{0,40}",
        unknown in any::<bool>(),
    ) {
        let what = match kind {
            0 => UserLine::Verified,
            1 => UserLine::Unverified,
            2 => UserLine::LeftAlone { by, reason: &text },
            _ => UserLine::Failed { error: &text, unknown },
        };
        let line = Line::User { user: "alice", what };
        let entry = what.entry(ACCOUNT, "alice");
        prop_assert_eq!(entry.typed(), line);
    }
}

/// A key whose last line is an intent was being changed when the run ended; any
/// line after the intent (an outcome, even a refusal) means the run saw the end.
#[test]
fn a_key_whose_last_line_is_an_intent_was_cut_off() {
    let cut_off = |entries: &[Entry]| key_histories(entries)[0].cut_off();
    assert_eq!(
        cut_off(&[off(Event::Intent)]),
        Some(Change {
            from: KeyStatus::Active,
            to: KeyStatus::Inactive
        })
    );
    assert_eq!(cut_off(&[off(Event::Intent), off(Event::Failed)]), None);
    assert_eq!(cut_off(&[off(Event::Intent), off(Event::Done)]), None);
    let again = [off(Event::Intent), off(Event::Unknown), off(Event::Intent)];
    assert!(cut_off(&again).is_some());
}

/// A deactivation ends as its first outcome the same way says; a give-back by the
/// run (a lockout averted) wins; a call without an outcome may have landed until
/// the journal's end.
#[test]
fn a_deactivation_ends_as_its_history_says() {
    let end = Utc::now();
    let history = |entries: &[Entry]| {
        let histories = key_histories(entries);
        assert_eq!(histories.len(), 1);
        histories[0].deactivation(end)
    };
    let refused = [off(Event::Intent), off(Event::Failed)];
    assert!(matches!(
        history(&refused),
        Some(Deactivation::Refused { .. })
    ));
    let cut_off = [off(Event::Intent)];
    assert_eq!(
        history(&cut_off),
        Some(Deactivation::MayHaveChanged { at: end })
    );
    let back = |event| {
        Entry::new(event, ACCOUNT, "alice").key("AKIAALICE", KeyStatus::Inactive, KeyStatus::Active)
    };
    let undone = [
        off(Event::Intent),
        off(Event::Done),
        back(Event::Intent),
        back(Event::Done),
    ];
    assert_eq!(history(&undone), Some(Deactivation::UndoneByTheRun));
    // The give-back's own failure is not the deactivation's outcome.
    let lost = [off(Event::Intent), back(Event::Intent), back(Event::Failed)];
    assert_eq!(
        history(&lost),
        Some(Deactivation::MayHaveChanged { at: end })
    );
    // Switched off, given back, switched off again: the second change is the
    // run's to undo.
    let again = [
        off(Event::Intent),
        off(Event::Done),
        back(Event::Intent),
        back(Event::Done),
        off(Event::Intent),
        off(Event::Done),
    ];
    assert!(matches!(
        history(&again),
        Some(Deactivation::MayHaveChanged { .. })
    ));
    // A refusal, then a change that may have landed: the change counts.
    let retried = [
        off(Event::Intent),
        off(Event::Failed),
        off(Event::Intent),
        off(Event::Unknown),
    ];
    assert!(matches!(
        history(&retried),
        Some(Deactivation::MayHaveChanged { .. })
    ));
    let found = [Entry::new(Event::Skipped, ACCOUNT, "alice").key(
        "AKIAALICE",
        KeyStatus::Inactive,
        KeyStatus::Inactive,
    )];
    assert_eq!(history(&found), None);
}
