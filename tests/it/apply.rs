//! `keytrim apply` and `keytrim rollback` against a real local IAM: the happy path, dry
//! runs, re-runs, every kind of drift, the account guard, the refusal without a
//! terminal, the journal, and a rollback that restores exactly what apply changed.

use crate::support;

use std::path::PathBuf;

use crate::support::{ACCOUNT_ID, EveryDecision, LocalIam, seed_every_decision};
use keytrim::journal::{Entry, Event, Mode};

const PLAN: &str = "plans/123456789012.yaml";

/// Seed every decision and audit it into `plans/<account>.yaml`.
fn audited(iam: &LocalIam, audit_args: &[&str]) -> EveryDecision {
    let keys = seed_every_decision(iam);
    iam.keytrim().arg("audit").args(audit_args).assert().code(3);
    keys
}

fn journal_files(iam: &LocalIam) -> Vec<PathBuf> {
    support::journals(iam.dir())
}

fn read_journal(path: &std::path::Path) -> Vec<Entry> {
    keytrim::journal::read(path).expect("a valid journal")
}

fn events_for<'a>(entries: &'a [Entry], user: &str) -> Vec<&'a Entry> {
    entries
        .iter()
        .filter(|e| e.user_name.as_deref() == Some(user))
        .collect()
}

#[test]
fn apply_yes_deactivates_verifies_and_journals_exactly_the_plan() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.start_recording();

    let assert = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("deactivated {}, verified", keys.alice_old.id)),
        "{stderr}"
    );
    assert!(
        stderr.contains("deactivated+verified 2, skipped 2, drifted 0, failed 0, unverified 0"),
        "{stderr}"
    );

    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Inactive");
    assert_eq!(iam.key_status("alice", &keys.alice_new.id), "Active");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Inactive");
    assert_eq!(iam.key_status("hank", &keys.hank_new.id), "Active");
    for user in ["rita", "erin", "carol"] {
        assert!(
            iam.key_statuses(user).iter().all(|(_, s)| s == "Active"),
            "{user}"
        );
    }
    let mut writes = iam.recorded_writes();
    writes.sort();
    let mut expected = vec![
        format!("UpdateAccessKey {}=Inactive", keys.alice_old.id),
        format!("UpdateAccessKey {}=Inactive", keys.hank_old.id),
    ];
    expected.sort();
    assert_eq!(writes, expected, "exactly the planned writes");

    let journals = journal_files(&iam);
    assert_eq!(journals.len(), 1, "{journals:?}");
    let name = journals[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("123456789012.20") && name.ends_with("Z.journal.jsonl"),
        "{name}"
    );
    let entries = read_journal(&journals[0]);
    let run = entries[0].run.as_ref().unwrap();
    assert_eq!(run.mode, Mode::Apply);
    assert_eq!(run.source, PLAN);
    assert_eq!(entries[0].account_id, ACCOUNT_ID);
    let alice: Vec<(Event, Option<&str>)> = events_for(&entries, "alice")
        .iter()
        .map(|e| (e.event, e.access_key_id.as_deref()))
        .collect();
    assert_eq!(
        alice,
        [
            (Event::Intent, Some(keys.alice_old.id.as_str())),
            (Event::Done, Some(keys.alice_old.id.as_str())),
            (Event::Verified, None),
        ]
    );
    let intent = events_for(&entries, "alice")[0];
    assert_eq!(intent.from, Some(keytrim::facts::KeyStatus::Active));
    assert_eq!(intent.to, Some(keytrim::facts::KeyStatus::Inactive));
    let rita = events_for(&entries, "rita");
    assert_eq!(rita.len(), 1);
    assert_eq!(rita[0].event, Event::Skipped);
    assert!(
        rita[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("decision rotate")
    );
}

#[test]
fn a_held_user_is_left_alone_and_apply_exits_four() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &[]);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4)
        .stderr(predicates::str::contains("hank").and(predicates::str::contains("skipped: held")));
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Inactive");
}

#[test]
fn dry_run_writes_nothing_not_even_a_journal() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.start_recording();
    let assert = iam
        .keytrim()
        .args(["apply", "--dry-run", PLAN])
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("dry run: would deactivate {}", keys.alice_old.id)),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(iam.recorded_writes(), Vec::<String>::new());
    assert!(journal_files(&iam).is_empty());
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
}

#[test]
fn applying_an_applied_plan_again_is_a_successful_no_op() {
    let iam = LocalIam::start();
    audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    iam.start_recording();
    let output = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 0);
    // The totals count what this run changed (nothing) apart from what was done.
    let totals = stderr.lines().last().unwrap_or_default();
    assert!(
        totals.starts_with("deactivated+verified 0,") && totals.contains("already done 2"),
        "{stderr}"
    );
    assert_eq!(iam.recorded_writes(), Vec::<String>::new());
}

#[test]
fn a_kept_key_deactivated_after_the_audit_skips_the_user() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    // Someone deactivates alice's new key by hand: deactivating the old one now would
    // leave alice with no working key.
    iam.set_status("alice", &keys.alice_new.id, false);
    iam.start_recording();
    let assert = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "drifted, left alone: the kept key {} is no longer Active",
            keys.alice_new.id
        )),
        "{stderr}"
    );
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
    assert_eq!(
        iam.recorded_writes(),
        [format!("UpdateAccessKey {}=Inactive", keys.hank_old.id)],
        "only hank changed"
    );
    let entries = read_journal(&support::only_journal(iam.dir()));
    let drifted = events_for(&entries, "alice");
    assert_eq!(drifted.len(), 1);
    assert_eq!(drifted[0].event, Event::Drifted);
}

#[test]
fn created_deleted_and_freshly_used_keys_are_drift() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--max-key-age", "365"]);
    // alice: a third key appears. hank: his old key is used after the audit.
    // rita (deactivate with a year allowed): her older key is deleted.
    iam.block_on(
        iam.iam()
            .delete_access_key()
            .user_name("alice")
            .access_key_id(&keys.alice_new.id)
            .send(),
    )
    .expect("DeleteAccessKey");
    iam.create_key("alice", 0);
    iam.use_key(&keys.hank_old, 0);
    iam.block_on(
        iam.iam()
            .delete_access_key()
            .user_name("rita")
            .access_key_id(&keys.rita_older.id)
            .send(),
    )
    .expect("DeleteAccessKey");
    iam.start_recording();
    let assert = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("key(s) created since the audit"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{} was used at", keys.hank_old.id))
            && stderr.contains("in or after the minute of the audit"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "key(s) deleted since the audit: {}",
            keys.rita_older.id
        )),
        "{stderr}"
    );
    assert!(stderr.contains("drifted 3"), "{stderr}");
    assert_eq!(iam.recorded_writes(), Vec::<String>::new());
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
}

#[test]
fn a_plan_for_another_account_is_refused_before_any_change() {
    let audited_account = LocalIam::start();
    audited(&audited_account, &["--no-in-use-guard"]);
    let plan = std::fs::read_to_string(audited_account.dir().join(PLAN)).unwrap();

    let other = LocalIam::start_with_env(&[("MOTO_ACCOUNT_ID", "210987654321")]);
    seed_every_decision(&other);
    std::fs::create_dir_all(other.dir().join("plans")).unwrap();
    std::fs::write(other.dir().join(PLAN), plan).unwrap();
    other.start_recording();
    other
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(1)
        .stderr(format!(
            "keytrim: error: {PLAN} is for account 123456789012, but the credentials are for account 210987654321 (arn:aws:sts::210987654321:user/moto); nothing was changed\n"
        ));
    assert_eq!(other.recorded_writes(), Vec::<String>::new());
    assert!(
        journal_files(&other).is_empty(),
        "no journal for a refused plan"
    );
}

#[test]
fn without_a_terminal_and_without_yes_apply_refuses() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.start_recording();
    iam.keytrim()
        .args(["apply", PLAN])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "standard input is not a terminal, so keytrim cannot ask for confirmation: pass --yes",
        ));
    assert_eq!(iam.recorded_calls().len(), 0, "not even a read");
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
}

#[test]
fn rollback_restores_exactly_what_apply_changed() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    let journal = support::only_journal(iam.dir());
    // After the apply, someone deactivates one of rita's keys by hand.
    iam.set_status("rita", &keys.rita_older.id, false);

    iam.keytrim()
        .arg("rollback")
        .arg(&journal)
        .arg("--dry-run")
        .assert()
        .code(0)
        .stderr(predicates::str::contains("would reactivate"));
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Inactive");

    iam.start_recording();
    let assert = iam
        .keytrim()
        .arg("rollback")
        .arg(&journal)
        .arg("--yes")
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("reactivated+verified 2"), "{stderr}");
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
    assert_eq!(
        iam.key_status("rita", &keys.rita_older.id),
        "Inactive",
        "not ours to undo"
    );
    let mut writes = iam.recorded_writes();
    writes.sort();
    let mut expected = vec![
        format!("UpdateAccessKey {}=Active", keys.alice_old.id),
        format!("UpdateAccessKey {}=Active", keys.hank_old.id),
    ];
    expected.sort();
    assert_eq!(writes, expected);

    let journals = journal_files(&iam);
    assert_eq!(journals.len(), 2, "the rollback has a journal of its own");
    let rollback_journal = journals
        .iter()
        .find(|p| p.to_string_lossy().contains(".rollback-"))
        .unwrap();
    let entries = read_journal(rollback_journal);
    assert_eq!(entries[0].run.as_ref().unwrap().mode, Mode::Rollback);
    assert!(entries.iter().any(|e| e.event == Event::Intent
        && e.access_key_id.as_deref() == Some(keys.alice_old.id.as_str())
        && e.to == Some(keytrim::facts::KeyStatus::Active)));

    // Rolling back a rollback's journal is refused.
    iam.keytrim()
        .arg("rollback")
        .arg(rollback_journal)
        .arg("--yes")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "only an apply's journal can be rolled back",
        ));
}

#[test]
fn journal_option_names_the_file_and_never_overwrites() {
    let iam = LocalIam::start();
    audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.keytrim()
        .args(["apply", "--yes", "--journal", "records/run.jsonl", PLAN])
        .assert()
        .code(0);
    let entries = read_journal(&iam.dir().join("records/run.jsonl"));
    assert!(entries.iter().any(|e| e.event == Event::Verified));
    iam.keytrim()
        .args(["apply", "--yes", "--journal", "records/run.jsonl", PLAN])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("records/run.jsonl"));
    assert_eq!(read_journal(&iam.dir().join("records/run.jsonl")), entries);

    // Rollback takes --journal the same way, for its own journal: named, and an
    // existing file is never overwritten (nothing is changed then).
    iam.keytrim()
        .args(["rollback", "--yes", "--journal", "records/undo.jsonl"])
        .arg("records/run.jsonl")
        .assert()
        .code(0);
    let undo = read_journal(&iam.dir().join("records/undo.jsonl"));
    assert_eq!(undo[0].run.as_ref().unwrap().mode, Mode::Rollback);
    assert!(undo.iter().any(|e| e.event == Event::Verified));
    iam.start_recording();
    iam.keytrim()
        .args(["rollback", "--yes", "--journal", "records/undo.jsonl"])
        .arg("records/run.jsonl")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("records/undo.jsonl"));
    assert_eq!(read_journal(&iam.dir().join("records/undo.jsonl")), undo);
    assert_eq!(iam.recorded_writes(), Vec::<String>::new());
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn rollback_checks_live_state_for_intents_without_an_outcome() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    let journal = support::only_journal(iam.dir());
    // As if the apply had been killed while alice's call was in flight (no `done`), and
    // had also journaled an intent for rita's key just before dying (call never sent).
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut kept: Vec<String> = text
        .lines()
        .filter(|line| {
            !(line.contains(r#""event":"done""#) && line.contains(keys.alice_old.id.as_str()))
        })
        .map(str::to_string)
        .collect();
    kept.push(
        serde_json::to_string(&Entry::new(Event::Intent, ACCOUNT_ID, "rita").key(
            &keys.rita_older.id,
            keytrim::facts::KeyStatus::Active,
            keytrim::facts::KeyStatus::Inactive,
        ))
        .unwrap(),
    );
    std::fs::write(&journal, kept.join("\n") + "\n").unwrap();

    iam.start_recording();
    let assert = iam
        .keytrim()
        .arg("rollback")
        .arg(&journal)
        .arg("--yes")
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("already done ({}), verified", keys.rita_older.id)),
        "{stderr}"
    );
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
    assert_eq!(iam.key_status("rita", &keys.rita_older.id), "Active");
    let mut writes = iam.recorded_writes();
    writes.sort();
    let mut expected = vec![
        format!("UpdateAccessKey {}=Active", keys.alice_old.id),
        format!("UpdateAccessKey {}=Active", keys.hank_old.id),
    ];
    expected.sort();
    assert_eq!(writes, expected, "rita's key was Active: no call");
}

/// Journals name every user, key and caller: apply's and rollback's are created
/// readable by their owner only, whatever the umask.
#[test]
fn journals_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let iam = LocalIam::start();
    audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    let applied = journal_files(&iam);
    assert_eq!(applied.len(), 1);
    iam.keytrim()
        .arg("rollback")
        .arg("--yes")
        .arg(&applied[0])
        .assert()
        .code(0);
    let all = journal_files(&iam);
    assert_eq!(all.len(), 2, "{all:?}");
    for path in all {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", path.display());
    }
}

/// Tagging a user `keytrim:exempt` is how an owner says "do not touch". A plan
/// audited before the tag must not touch the user either: apply reads the tags in its
/// drift check (the tag key in any case, as IAM matches it).
#[test]
fn a_user_exempted_after_the_audit_is_left_alone_as_drifted() {
    let iam = LocalIam::start();
    let keys = audited(&iam, &["--no-in-use-guard", "--require-fresh-key"]);
    let tag = aws_sdk_iam::types::Tag::builder()
        .key("Keytrim:Exempt")
        .value("payments batch, ask team-pay")
        .build()
        .unwrap();
    iam.block_on(iam.iam().tag_user().user_name("alice").tags(tag).send())
        .expect("TagUser");
    iam.start_recording();

    let output = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 4);
    assert!(
        stderr.contains("drifted, left alone: exempted since the audit by tag keytrim:exempt: payments batch, ask team-pay"),
        "{stderr}"
    );
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
    // hank was not exempted: his deactivation went ahead.
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Inactive");
    assert_eq!(
        iam.recorded_writes(),
        [format!("UpdateAccessKey {}=Inactive", keys.hank_old.id)]
    );
    let entries = read_journal(&support::only_journal(iam.dir()));
    let alice = events_for(&entries, "alice");
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(alice[0].event, Event::Drifted);
}

/// A staged rollout: `--max-changes 2` deactivates two keys, skips the other users as
/// `limit` (exit 4), and running the plan again continues where it stopped.
#[test]
fn max_changes_stops_at_the_limit_and_a_rerun_continues() {
    let iam = LocalIam::start();
    let mut old_keys = Vec::new();
    for index in 0..5 {
        let user = format!("user{index}");
        iam.create_user(&user);
        old_keys.push((user.clone(), iam.create_key(&user, 200).id));
        iam.create_key(&user, 10);
    }
    iam.keytrim().arg("audit").assert().code(3);
    let inactive = |iam: &LocalIam| {
        old_keys
            .iter()
            .filter(|(user, key)| iam.key_status(user, key) == "Inactive")
            .count()
    };

    let assert = iam
        .keytrim()
        .args(["apply", "--yes", "--max-changes", "2", PLAN])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(inactive(&iam), 2, "{stderr}");
    assert_eq!(
        stderr
            .matches("skipped: limit (--max-changes 2 reached; run the plan again to continue)")
            .count(),
        3,
        "{stderr}"
    );
    let entries = read_journal(&support::only_journal(iam.dir()));
    let limited = entries
        .iter()
        .filter(|e| {
            e.event == Event::Skipped
                && e.reason.as_deref() == Some("limit: --max-changes 2 reached")
        })
        .count();
    assert_eq!(limited, 3);

    iam.keytrim()
        .args(["apply", "--yes", "--max-changes", "2", PLAN])
        .assert()
        .code(4);
    assert_eq!(inactive(&iam), 4);
    // The keys already done do not count against the limit.
    iam.keytrim()
        .args(["apply", "--yes", "--max-changes", "1", PLAN])
        .assert()
        .code(0);
    assert_eq!(inactive(&iam), 5);
}
