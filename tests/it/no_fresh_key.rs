//! Users with no active key under the maximum age (issue "whole"): the audit keeps the
//! key in use and plans the idle one off, marks the kept key for rotation in the plan,
//! `show` (text and Markdown) and the evidence report, and apply leaves each such user
//! with the one key in use. `--require-fresh-key` keeps the older reading.

use crate::support::{LocalIam, SeededKey, only_journal};
use keytrim::rule::Decision;

const PLAN: &str = "plans/123456789012.yaml";

/// The two users: frank (a 400-day key idle 300 days, a 200-day key used 2
/// days ago) and ivan (a 100-day key idle 50 days, a 95-day key used 20 days ago).
fn frank_and_ivan(iam: &LocalIam) -> [(&'static str, SeededKey, SeededKey); 2] {
    iam.create_user("frank");
    iam.create_user("ivan");
    let frank_idle = iam.create_key("frank", 400);
    iam.use_key(&frank_idle, 300);
    let frank_used = iam.create_key("frank", 200);
    iam.use_key(&frank_used, 2);
    let ivan_idle = iam.create_key("ivan", 100);
    iam.use_key(&ivan_idle, 50);
    let ivan_used = iam.create_key("ivan", 95);
    iam.use_key(&ivan_used, 20);
    [
        ("frank", frank_idle, frank_used),
        ("ivan", ivan_idle, ivan_used),
    ]
}

#[test]
fn frank_and_ivan_each_end_with_the_key_they_use_marked_for_rotation() {
    let iam = LocalIam::start();
    let users = frank_and_ivan(&iam);
    let audit = iam.keytrim().arg("audit").assert().code(3);
    let stderr = String::from_utf8_lossy(&audit.get_output().stderr).into_owned();
    assert!(
        stderr.contains("2 kept keys are over 90 days: rotate them (CIS 1.14)"),
        "{stderr}"
    );
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    assert!(!plan.policy.require_fresh_key);
    assert_eq!(plan.policy.unused_days, 45);
    assert_eq!(plan.summary.rotation_due, 2);
    for (name, idle, used) in &users {
        let user = plan.users.iter().find(|u| u.user_name == *name).unwrap();
        assert_eq!(
            user.decision,
            Decision::Deactivate,
            "{name}: {}",
            user.reason
        );
        assert_eq!(user.keep.as_deref(), Some(used.id.as_str()), "{name}");
        assert_eq!(user.deactivate, std::slice::from_ref(&idle.id), "{name}");
        assert!(user.rotation_due, "{name}");
    }

    let text = iam.keytrim().args(["show", PLAN]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let markdown = iam
        .keytrim()
        .args(["show", "--format", "markdown", PLAN])
        .output()
        .unwrap();
    let markdown = String::from_utf8_lossy(&markdown.stdout).into_owned();
    for (name, _, used) in &users {
        let mark = format!("the kept key {} is ", used.id);
        let block: String = text
            .split("\n\n")
            .find(|block| block.contains(&format!(" {name}\n")))
            .unwrap_or_default()
            .to_string();
        assert!(
            block.contains(&format!("ROTATION DUE: {mark}")),
            "{name}: {text}"
        );
        let section: String = markdown
            .split("**`")
            .find(|part| part.starts_with(&format!("{name}`**")))
            .unwrap_or_default()
            .to_string();
        assert!(
            section.contains(&format!("> **Rotation due:** {mark}")),
            "{name}: {markdown}"
        );
    }

    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    for (name, idle, used) in &users {
        assert_eq!(iam.key_status(name, &idle.id), "Inactive", "{name}");
        assert_eq!(iam.key_status(name, &used.id), "Active", "{name}");
    }

    let journal = only_journal(iam.dir());
    iam.keytrim()
        .args(["report", PLAN])
        .arg(&journal)
        .args(["-o", "evidence.html"])
        .assert()
        .code(0);
    let html = std::fs::read_to_string(iam.dir().join("evidence.html")).unwrap();
    for (_, _, used) in &users {
        assert!(
            html.contains(&format!("Rotation due: the kept key {} is ", used.id)),
            "{html}"
        );
    }
    assert!(
        html.contains("2 of the plan's users have one active key"),
        "{html}"
    );
    assert!(
        html.contains("<span id=\"count-still-not-compliant\">0</span>"),
        "{html}"
    );
}

/// `--require-fresh-key` is the older reading: both users are to rotate, nothing is
/// deactivated, and the plan's policy says which reading it used.
#[test]
fn requiring_a_fresh_key_plans_rotations_and_says_so() {
    let iam = LocalIam::start();
    let users = frank_and_ivan(&iam);
    iam.keytrim()
        .args(["audit", "--require-fresh-key"])
        .assert()
        .code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    assert!(plan.policy.require_fresh_key);
    assert_eq!(plan.summary.rotation_due, 0);
    for (name, _, _) in &users {
        let user = plan.users.iter().find(|u| u.user_name == *name).unwrap();
        assert_eq!(user.decision, Decision::Rotate, "{name}");
        assert!(user.keep.is_none() && user.deactivate.is_empty());
    }
    let text = iam.keytrim().args(["show", PLAN]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("with no fresh key, rotate and deactivate nothing (fresh key required)")
    );
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    for (name, idle, used) in &users {
        assert_eq!(iam.key_status(name, &idle.id), "Active", "{name}");
        assert_eq!(iam.key_status(name, &used.id), "Active", "{name}");
    }
}
