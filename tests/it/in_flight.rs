//! Calls in flight: `--concurrency` bounds each account and `--max-in-flight` the whole
//! run, whatever else runs; and an Organization audited with every account side by
//! side plans exactly what one account at a time plans, and an apply with many users
//! in progress journals exactly what one user at a time journals. The proxy counts the
//! requests it is answering at once; it never counts more than the client sent.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::proxy::{FaultProxy, Faults};
use crate::support::{ACCOUNT_ID, LocalIam, without_generated_at};

const ROLE: &str = "KeytrimAudit";
const PLAN: &str = "plans/123456789012.yaml";

/// A proxy that holds every request 20 ms, so that calls overlap as they would on a
/// real network.
fn slow_proxy(iam: &LocalIam) -> FaultProxy {
    FaultProxy::start(
        &iam.endpoint,
        Faults {
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
    )
}

/// `users` users, each with an old and a new active key.
fn seed_pairs(iam: &LocalIam, prefix: &str, users: usize) {
    for index in 0..users {
        let user = format!("{prefix}{index:02}");
        iam.create_user(&user);
        iam.create_key(&user, 200);
        iam.create_key(&user, 10);
    }
}

/// A plan's text without the moment it was written.
fn plan_without_time(path: &Path) -> String {
    without_generated_at(
        &std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display())),
    )
}

#[test]
fn concurrency_bounds_the_calls_in_flight_in_an_account() {
    let iam = LocalIam::start();
    seed_pairs(&iam, "user", 24);
    let proxy = slow_proxy(&iam);
    iam.keytrim_via(&proxy.endpoint)
        .args(["audit", "-q", "--concurrency", "3"])
        .assert()
        .code(3);
    let audited = proxy.tally();
    assert!(
        audited.peak_in_flight <= 3,
        "audit: {} calls in flight at once with --concurrency 3",
        audited.peak_in_flight
    );
    let proxy = slow_proxy(&iam);
    iam.keytrim_via(&proxy.endpoint)
        .args(["apply", "--yes", "-q", "--concurrency", "2", PLAN])
        .assert()
        .code(0);
    let applied = proxy.tally();
    assert_eq!(applied.received.get("UpdateAccessKey"), Some(&24));
    assert!(
        applied.peak_in_flight <= 2,
        "apply: {} calls in flight at once with --concurrency 2",
        applied.peak_in_flight
    );
}

#[test]
fn one_budget_bounds_an_organization_and_side_by_side_plans_what_one_at_a_time_does() {
    let mut iam = LocalIam::start();
    let members: Vec<String> = (0..3)
        .map(|index| iam.create_member_account(&format!("member-{index}")))
        .collect();
    for (index, member) in members.iter().enumerate() {
        iam.use_account(member);
        seed_pairs(&iam, &format!("m{index}-"), 6);
    }
    iam.use_account(ACCOUNT_ID);
    seed_pairs(&iam, "mgmt-", 3);
    let proxy = slow_proxy(&iam);
    iam.keytrim_via(&proxy.endpoint)
        .args([
            "audit",
            "-q",
            "--org-role",
            ROLE,
            "--out-dir",
            "side-by-side",
            "--concurrency",
            "4",
            "--max-in-flight",
            "3",
        ])
        .assert()
        .code(3);
    let tally = proxy.tally();
    assert!(
        tally.peak_in_flight <= 3,
        "{} calls in flight at once with --max-in-flight 3",
        tally.peak_in_flight
    );
    iam.keytrim_via(&proxy.endpoint)
        .args([
            "audit",
            "-q",
            "--org-role",
            ROLE,
            "--out-dir",
            "one-at-a-time",
            "--account-concurrency",
            "1",
            "--concurrency",
            "1",
        ])
        .assert()
        .code(3);
    for account in members.iter().map(String::as_str).chain([ACCOUNT_ID]) {
        let name = format!("{account}.yaml");
        assert_eq!(
            plan_without_time(&iam.dir().join("side-by-side").join(&name)),
            plan_without_time(&iam.dir().join("one-at-a-time").join(&name)),
            "account {account}"
        );
    }
}

/// What a journal says happened, without when or in which order: each line's event,
/// user, key and change, counted.
fn journal_meaning(path: &Path) -> BTreeMap<String, usize> {
    let mut meaning = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let field = |name: &str| entry.get(name).map_or(String::new(), ToString::to_string);
        // The run's own line differs by design: its journal's name and time.
        if field("event") == r#""run""# {
            continue;
        }
        let what = ["event", "user_name", "access_key_id", "from", "to"].map(field);
        *meaning.entry(what.join(" ")).or_default() += 1;
    }
    meaning
}

#[test]
fn an_apply_with_many_users_in_progress_journals_what_one_at_a_time_does() {
    let iam = LocalIam::start();
    seed_pairs(&iam, "user", 12);
    let proxy = slow_proxy(&iam);
    iam.keytrim_via(&proxy.endpoint)
        .args(["audit", "-q"])
        .assert()
        .code(3);
    let run = |concurrency: &str, journal: &str| {
        iam.keytrim_via(&proxy.endpoint)
            .args(["apply", "--yes", "-q", "--concurrency", concurrency])
            .args(["--journal", journal, PLAN])
            .assert()
            .code(0);
        let meaning = journal_meaning(&iam.dir().join(journal));
        iam.keytrim_via(&proxy.endpoint)
            .args(["rollback", "--yes", "-q", journal])
            .assert()
            .code(0);
        meaning
    };
    let side_by_side = run("8", "many.journal.jsonl");
    let one_at_a_time = run("1", "one.journal.jsonl");
    assert!(
        side_by_side.keys().any(|line| line.contains("done")),
        "{side_by_side:?}"
    );
    assert_eq!(side_by_side, one_at_a_time);
}

/// Two plans of one account go one after the other, as a person would run them: side
/// by side, both would see the same keys Active and both would claim to change them.
#[test]
fn two_plans_of_one_account_run_one_after_the_other() {
    let iam = LocalIam::start();
    seed_pairs(&iam, "user", 6);
    iam.keytrim().args(["audit", "-q"]).assert().code(3);
    std::fs::copy(iam.dir().join(PLAN), iam.dir().join("plans/copy.yaml")).unwrap();
    iam.keytrim()
        .args(["apply", "--yes", "-q", PLAN, "plans/copy.yaml"])
        .assert()
        .code(0);
    let done_in = |stem: &str| {
        let journal = crate::support::journals(iam.dir())
            .into_iter()
            .find(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(stem)
            })
            .unwrap_or_else(|| panic!("no journal of {stem}"));
        std::fs::read_to_string(journal)
            .unwrap()
            .matches(r#""event":"done""#)
            .count()
    };
    assert_eq!(done_in(ACCOUNT_ID), 6, "the first plan changes every key");
    assert_eq!(done_in("copy"), 0, "the second finds them already Inactive");
}
