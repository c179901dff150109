//! Reliability: keytrim through a fault-injecting proxy in front of the local IAM.
//! Throttling, 503s, dropped connections, latency, lost UpdateAccessKey responses and
//! SIGKILL must leave a true plan, a true journal and no user locked out.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::proxy::{FaultProxy, Faults};
use crate::support::{
    LocalIam, SeededKey, assert_journals_tell_the_truth, journals, new_journal, only_journal,
    param, seed_every_decision, without_generated_at,
};
use keytrim::journal::Event;

const PLAN: &str = "plans/123456789012.yaml";

/// The faults of an unreliable IAM: throttling above 20 requests a second (IAM
/// throttles an account that exceeds its rate), and at random 5% throttling, 5% 503
/// and 2% dropped connections. The runs must converge within the default retry budget.
fn flaky(seed: u64) -> Faults {
    Faults {
        seed,
        rate_limit: Some(20.0),
        throttle: 0.05,
        unavailable: 0.05,
        drop: 0.02,
        ..Faults::default()
    }
}

#[test]
fn an_audit_under_faults_writes_the_same_plan_as_without() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    let clean = iam.keytrim().args(["audit", "-o", "-"]).output().unwrap();
    assert_eq!(clean.status.code(), Some(3));

    let proxy = FaultProxy::start(&iam.endpoint, flaky(7));
    let faulty = iam
        .keytrim_via(&proxy.endpoint)
        .args(["audit", "-o", "-"])
        .output()
        .unwrap();
    assert_eq!(
        faulty.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&faulty.stderr)
    );
    assert_eq!(
        without_generated_at(&String::from_utf8(faulty.stdout).unwrap()),
        without_generated_at(&String::from_utf8(clean.stdout).unwrap())
    );
    let tally = proxy.tally();
    eprintln!("audit under faults: {tally:?}");
    assert!(tally.faults_injected() > 0, "{tally:?}");
}

/// Users whose old key is to be deactivated and new key kept.
fn seed_pairs(iam: &LocalIam, users: usize) -> Vec<(String, SeededKey, SeededKey)> {
    (0..users)
        .map(|index| {
            let user = format!("user{index:03}");
            iam.create_user(&user);
            let old = iam.create_key(&user, 200);
            let new = iam.create_key(&user, 10);
            (user, old, new)
        })
        .collect()
}

#[test]
fn an_apply_under_faults_and_lost_responses_converges() {
    let iam = LocalIam::start();
    let pairs = seed_pairs(&iam, 12);
    iam.keytrim().arg("audit").assert().code(3);
    iam.start_recording();

    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            lost_update_response: 0.20,
            ..flaky(11)
        },
    );
    let output = iam
        .keytrim_via(&proxy.endpoint)
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 0);
    assert!(stderr.contains("deactivated+verified 12"), "{stderr}");
    for (user, old, new) in &pairs {
        assert_eq!(iam.key_status(user, &old.id), "Inactive", "{user}");
        assert_eq!(iam.key_status(user, &new.id), "Active", "{user}");
    }
    // Every write that reached IAM was a planned one (retries repeat it, nothing else).
    let planned: BTreeSet<&str> = pairs.iter().map(|(_, old, _)| old.id.as_str()).collect();
    for call in iam.recorded_calls() {
        match param(&call, "Action") {
            Some("UpdateAccessKey") => {
                assert!(planned.contains(param(&call, "AccessKeyId").unwrap()));
                assert_eq!(param(&call, "Status"), Some("Inactive"));
            }
            Some(action) => assert!(!support::is_write(action), "{action}"),
            None => {}
        }
    }
    let tally = proxy.tally();
    eprintln!("apply under faults: {tally:?}");
    assert!(tally.faults_injected() > 0);
}

fn count_in(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.matches(needle).count())
        .unwrap_or(0)
}

/// What the journals claim against what IAM shows, after a kill; and every kept key
/// is still Active.
fn assert_journals_are_true(iam: &LocalIam, pairs: &[(String, SeededKey, SeededKey)]) {
    assert_journals_tell_the_truth(
        iam,
        &journals(iam.dir()),
        pairs.iter().map(|(user, old, _)| (user.as_str(), old)),
    );
    for (user, _, new) in pairs {
        assert_eq!(iam.key_status(user, &new.id), "Active", "{user} kept key");
    }
}

#[test]
fn applies_killed_at_several_points_leave_true_journals_and_can_be_finished_and_rolled_back() {
    let iam = LocalIam::start();
    let pairs = seed_pairs(&iam, 80);
    iam.keytrim().arg("audit").assert().code(3);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            seed: 3,
            latency: Duration::from_millis(5),
            ..Faults::default()
        },
    );
    let mut kills = 0;
    for done_before_kill in [1, 15, 35] {
        let existing = journals(iam.dir());
        let mut child = iam.keytrim_std();
        let mut child = child
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .args(["apply", "--yes", "--concurrency", "4", PLAN])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let done = new_journal(iam.dir(), &existing)
                .map_or(0, |path| count_in(&path, r#""event":"done""#));
            if done >= done_before_kill {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "apply finished before the kill"
            );
            assert!(Instant::now() < deadline, "no progress within 120 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        assert_journals_are_true(&iam, &pairs);
    }

    // Running the plan again finishes the job.
    iam.keytrim_via(&proxy.endpoint)
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    assert_journals_are_true(&iam, &pairs);
    for (user, old, _) in &pairs {
        assert_eq!(iam.key_status(user, &old.id), "Inactive");
    }

    // Rolling back every apply's journal restores every old key.
    for journal in journals(iam.dir()) {
        if journal.to_string_lossy().contains(".rollback-") {
            continue;
        }
        iam.keytrim_via(&proxy.endpoint)
            .arg("rollback")
            .arg("--yes")
            .arg(&journal)
            .assert()
            .code(0);
    }
    for (user, old, new) in &pairs {
        assert_eq!(iam.key_status(user, &old.id), "Active", "{user}");
        assert_eq!(iam.key_status(user, &new.id), "Active", "{user}");
    }
    eprintln!("kills recovered: {kills}; proxy: {:?}", proxy.tally());
}

#[test]
fn persistent_throttling_gives_up_with_a_clear_error_and_claims_nothing() {
    let iam = LocalIam::start();
    let pairs = seed_pairs(&iam, 2);
    iam.keytrim().arg("audit").assert().code(3);
    let plan_before = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            seed: 5,
            throttle: 1.0,
            ..Faults::default()
        },
    );
    // The audit: no plan is written over the old one.
    iam.keytrim_via(&proxy.endpoint)
        .args(["--max-attempts", "3", "audit"])
        .assert()
        .code(1)
        .stderr("keytrim: error: sts:GetCallerIdentity failed: Throttling: Rate exceeded\n");
    assert_eq!(
        std::fs::read_to_string(iam.dir().join(PLAN)).unwrap(),
        plan_before
    );
    assert_eq!(proxy.tally().received.get("GetCallerIdentity"), Some(&3));

    // The apply: refused at the first call, no journal claims anything.
    iam.keytrim_via(&proxy.endpoint)
        .args(["--max-attempts", "2", "apply", "--yes", PLAN])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("Throttling"));
    assert!(journals(iam.dir()).is_empty());
    for (user, old, _) in &pairs {
        assert_eq!(iam.key_status(user, &old.id), "Active");
    }
}

/// IAM applies UpdateAccessKey but the answer is lost, and `--max-attempts 1` gives
/// no retry. keytrim reads the key back and journals what IAM shows (`done`), never
/// `failed`; so rollback (whose answers are lost too) restores every key.
#[test]
fn a_lost_answer_is_read_back_as_done_and_rollback_restores_the_key() {
    let iam = LocalIam::start();
    let pairs = seed_pairs(&iam, 3);
    iam.keytrim().arg("audit").assert().code(3);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            seed: 5,
            lost_update_response: 1.0,
            ..Faults::default()
        },
    );
    let through_proxy = |args: &[&str]| {
        iam.keytrim_via(&proxy.endpoint)
            .args(["--max-attempts", "1"])
            .args(args)
            .output()
            .unwrap()
    };
    let output = through_proxy(&["apply", "--yes", PLAN]);
    let stderr = crate::support::stderr_with_code(&output, 0);
    assert!(stderr.contains("deactivated+verified 3"), "{stderr}");
    assert!(proxy.tally().faults_injected() >= 3, "{:?}", proxy.tally());
    for (user, old, new) in &pairs {
        assert_eq!(iam.key_status(user, &old.id), "Inactive", "{user}");
        assert_eq!(iam.key_status(user, &new.id), "Active", "{user}");
    }
    let journal = only_journal(iam.dir());
    let entries = keytrim::journal::read(&journal).unwrap();
    assert!(
        !entries.iter().any(|e| e.event == Event::Failed),
        "{entries:?}"
    );
    let done: Vec<_> = entries.iter().filter(|e| e.event == Event::Done).collect();
    assert_eq!(done.len(), 3);
    for entry in done {
        let reason = entry.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("reading the key back shows it Inactive"),
            "{reason}"
        );
    }

    let output = through_proxy(&["rollback", "--yes", journal.to_str().unwrap()]);
    crate::support::stderr_with_code(&output, 0);
    for (user, old, _) in &pairs {
        assert_eq!(iam.key_status(user, &old.id), "Active", "{user}");
    }
}

/// The journal's file cannot grow past 4 KiB (`ulimit -f 4`, SIGXFSZ ignored, so a
/// write fails part-way as on a full disk). The journal is cut back to whole lines,
/// no change starts after the failure, every change IAM shows has its intent, the run
/// exits 1, and rollback with that journal restores everything.
#[test]
fn a_journal_that_cannot_grow_stays_whole_and_rollback_restores_everything() {
    let iam = LocalIam::start();
    let pairs = seed_pairs(&iam, 30);
    iam.keytrim().arg("audit").assert().code(3);
    let output = std::process::Command::new("bash")
        .args([
            "-c",
            r#"trap '' XFSZ; ulimit -f 4; exec "$0" apply --yes --concurrency 2 "$1""#,
        ])
        .arg(support::keytrim_path())
        .arg(PLAN)
        .env_clear()
        .envs(support::isolated_env(iam.dir()))
        .env("AWS_ENDPOINT_URL", &iam.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .current_dir(iam.dir())
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert!(
        stderr.contains("keytrim: error: cannot write the journal"),
        "{stderr}"
    );

    let journal = only_journal(iam.dir());
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.len() <= 4096, "{}", text.len());
    assert!(text.ends_with('\n'), "a fragment is left: {text:?}");
    let entries: Vec<keytrim::journal::Entry> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is a whole entry"))
        .collect();
    let intents: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.event == Event::Intent)
        .filter_map(|e| e.access_key_id.as_deref())
        .collect();
    let mut changed = 0;
    for (user, old, new) in &pairs {
        assert_eq!(iam.key_status(user, &new.id), "Active", "{user}");
        if iam.key_status(user, &old.id) == "Inactive" {
            changed += 1;
            assert!(
                intents.contains(old.id.as_str()),
                "{user}: no intent for {}",
                old.id
            );
        }
    }
    assert!(
        changed > 0,
        "the run changed nothing before the journal filled"
    );
    assert!(
        changed < pairs.len(),
        "the run did not stop: {changed} changed"
    );

    let output = iam
        .keytrim()
        .args(["rollback", "--yes"])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (user, old, _) in &pairs {
        assert_eq!(iam.key_status(user, &old.id), "Active", "{user}");
    }
}

/// The AWS conventions: `AWS_MAX_ATTEMPTS` (or a profile's `max_attempts`) sets the
/// attempts per call in place of keytrim's default, and `--max-attempts` wins over it.
/// Counted at a proxy that throttles every call.
#[test]
fn aws_max_attempts_is_honoured_and_the_flag_wins() {
    let iam = LocalIam::start();
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            seed: 7,
            throttle: 1.0,
            ..Faults::default()
        },
    );
    let config = iam.dir().join("aws-config");
    std::fs::write(&config, "[profile ops]\nmax_attempts = 4\n").unwrap();
    let mut seen = 0;
    for (env, args, attempts) in [
        (vec![("AWS_MAX_ATTEMPTS", "2")], vec!["audit"], 2),
        (
            vec![("AWS_MAX_ATTEMPTS", "2")],
            vec!["--max-attempts", "3", "audit"],
            3,
        ),
        (
            vec![("AWS_CONFIG_FILE", config.to_str().unwrap())],
            vec!["--profile", "ops", "audit"],
            4,
        ),
    ] {
        let output = iam
            .keytrim_via(&proxy.endpoint)
            .envs(env.clone())
            .args(&args)
            .output()
            .unwrap();
        crate::support::stderr_with_code(&output, 1);
        let received = proxy
            .tally()
            .received
            .get("GetCallerIdentity")
            .copied()
            .unwrap_or(0);
        assert_eq!(received - seen, attempts, "{env:?} {args:?}");
        seen = received;
    }
}
