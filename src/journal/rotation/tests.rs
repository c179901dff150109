//! Tests of the rotation's journal lines: each one a writer can make reads back as
//! written, through a journal file; a line whose fields do not fit its step is refused.

use super::*;
use crate::journal::{Journal, Line, read, run_info};

const ACCOUNT: &str = "123456789012";
const NEW_KEY: &str = "AKIANEWKEY0000000001";

fn rotation(step: Step) -> Rotation {
    Rotation {
        step,
        secret_arn: format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app/key-AbCdEf"),
        token: "0b7c5e0e-6f4b-4e8a-9d1e-2f3a4b5c6d7e".into(),
        previous_version: "11111111-2222-3333-4444-555555555555".into(),
        old_access_key_id: "AKIAOLDKEY0000000001".into(),
    }
}

const STEPS: [Step; 11] = [
    Step::Begin,
    Step::Prove,
    Step::CreateAccessKey,
    Step::PutSecretValue,
    Step::Probe,
    Step::Promote,
    Step::RemovePending,
    Step::DeleteAccessKey,
    Step::DeactivateAccessKey,
    Step::Settled,
    Step::Restore,
];

/// The lines a writer can make: `begin` as an intent only, the new key from
/// CreateAccessKey's `done` on.
fn writable() -> Vec<Entry> {
    let outcomes = [
        RotationLine::Intent,
        RotationLine::Done,
        RotationLine::Refused {
            error: "AccessDenied: no",
        },
        RotationLine::Unknown { error: "timed out" },
    ];
    let mut lines = Vec::new();
    for step in STEPS {
        for what in outcomes {
            if (step == Step::Begin && what != RotationLine::Intent)
                || (step == Step::Settled && what != RotationLine::Done)
            {
                continue;
            }
            let names_key = step.names_the_new_key()
                || (step == Step::CreateAccessKey && what == RotationLine::Done);
            let key = names_key.then_some(NEW_KEY);
            lines.push(what.entry(ACCOUNT, "app", &rotation(step), key));
        }
    }
    lines
}

#[test]
fn every_line_a_writer_makes_reads_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.journal.jsonl");
    let journal = Journal::create(&path, ACCOUNT, run_info()).unwrap();
    let written = writable();
    for line in &written {
        journal.record(line).unwrap();
    }
    let read_back = read(&path).unwrap();
    assert_eq!(&read_back[1..], &written[..]);
    for line in &read_back[1..] {
        let Line::Rotation {
            user,
            rotation: read,
            new_key,
            what,
        } = line.typed()
        else {
            panic!("not read as a rotation line: {line:?}");
        };
        assert_eq!(user, "app");
        assert_eq!(read, line.rotation.as_ref().unwrap());
        assert_eq!(new_key, line.access_key_id.as_deref());
        let expected = match line.event {
            Event::Intent => RotationLine::Intent,
            Event::Done => RotationLine::Done,
            Event::Failed => RotationLine::Refused {
                error: "AccessDenied: no",
            },
            _ => RotationLine::Unknown { error: "timed out" },
        };
        assert_eq!(what, expected);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""step":"create_access_key""#), "{text}");
}

/// A `prove` intent, edited by `edit`.
fn edited(edit: impl FnOnce(&mut Rotation)) -> Entry {
    let mut entry = RotationLine::Intent.entry(ACCOUNT, "app", &rotation(Step::Prove), None);
    edit(entry.rotation.as_mut().unwrap());
    entry
}

#[test]
fn a_rotation_line_whose_fields_do_not_fit_its_step_is_refused() {
    let line = |step, what: RotationLine<'static>, key: Option<&str>| {
        what.entry(ACCOUNT, "app", &rotation(step), key)
    };
    let cases: Vec<(Entry, &str)> = vec![
        (line(Step::Begin, RotationLine::Done, None), "an intent"),
        (
            line(Step::Settled, RotationLine::Intent, None),
            "`settled`: done",
        ),
        (
            line(Step::CreateAccessKey, RotationLine::Done, None),
            "names the new key",
        ),
        (
            line(Step::CreateAccessKey, RotationLine::Intent, Some(NEW_KEY)),
            "names the new key",
        ),
        (
            line(Step::Probe, RotationLine::Intent, None),
            "names the new key",
        ),
        (
            edited(|r| {
                r.secret_arn =
                    "arn:aws:secretsmanager:us-east-1:210987654321:secret:app/key-AbCdEf".into()
            }),
            "not a full secret ARN of the line's account",
        ),
        (edited(|r| r.token = "x".into()), "not a secret version id"),
        (
            edited(|r| r.old_access_key_id = "<b>".into()),
            "not an access key id",
        ),
        (
            {
                let mut entry = line(Step::Probe, RotationLine::Done, Some(NEW_KEY));
                entry.from = Some(crate::facts::KeyStatus::Active);
                entry.to = Some(crate::facts::KeyStatus::Inactive);
                entry
            },
            "no key status change",
        ),
        (
            line(
                Step::Probe,
                RotationLine::Done,
                Some("AKIAOLDKEY0000000001"),
            ),
            "not the key it replaces",
        ),
        (
            edited(|r| r.token = r.previous_version.clone()),
            "not the version it began with",
        ),
        (
            {
                let mut entry = line(Step::Probe, RotationLine::Done, Some(NEW_KEY));
                entry.event = Event::Verified;
                entry
            },
            "an intent, done, failed or unknown line",
        ),
    ];
    for (entry, expected) in cases {
        let problem = problem(&entry, entry.rotation.as_ref().unwrap());
        assert!(
            problem.as_deref().is_some_and(|p| p.contains(expected)),
            "{entry:?}: {problem:?}, expected {expected}"
        );
    }
    let begin = line(Step::Begin, RotationLine::Intent, None);
    assert_eq!(problem(&begin, begin.rotation.as_ref().unwrap()), None);
}
