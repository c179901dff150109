//! Tests of `diff`: which users moved between groups, overrides, key changes, and
//! strings from the plans shown as data.

use super::*;
use crate::plan::render::tests::every_decision_plan;

fn user_mut<'p>(plan: &'p mut Plan, name: &str) -> &'p mut PlanUser {
    plan.users
        .iter_mut()
        .find(|u| u.user_name == name)
        .expect("the user is in the plan")
}

fn names<'a>(changes: &[Change<'a>]) -> Vec<(&'a str, Decision, Decision)> {
    changes
        .iter()
        .map(|c| (c.user_name, c.was, c.now))
        .collect()
}

#[test]
fn a_plan_against_itself_has_no_change() {
    let plan = every_decision_plan();
    assert!(diff(&plan, &plan).is_empty());
}

#[test]
fn changes_fall_into_three_groups() {
    let old = every_decision_plan();
    let mut new = old.clone();
    // alice fixed (no longer listed); bob appears; hank held -> deactivate; erin's
    // exemption removed and she is now to rotate; rita renamed in case only.
    let alice = new.users.remove(0);
    let mut bob = alice.clone();
    bob.user_name = "bob".into();
    new.users.push(bob);
    let hank = user_mut(&mut new, "hank");
    hank.decision = Decision::Deactivate;
    let erin = user_mut(&mut new, "erin");
    erin.decision = Decision::Rotate;
    let rita = user_mut(&mut new, "rita");
    rita.user_name = "Rita".into();

    let result = diff(&old, &new);
    use Decision::*;
    assert_eq!(
        names(&result.newly_non_compliant),
        [("bob", Compliant, Deactivate), ("erin", Exempt, Rotate)]
    );
    assert_eq!(names(&result.fixed), [("alice", Deactivate, Compliant)]);
    assert_eq!(names(&result.changed), [("hank", Hold, Deactivate)]);

    let text = to_text(&old, &new, &result);
    assert!(text.contains("newly non-compliant (2):"), "{text}");
    assert!(
        text.contains("  alice    deactivate -> compliant\n"),
        "{text}"
    );
    let markdown = to_markdown(&old, &new, &result);
    assert!(
        markdown.contains("| `hank` | hold | deactivate |"),
        "{markdown}"
    );
}

/// The swap with forged facts and the hidden use: no decision changes, yet each
/// edit is listed (and so `diff` exits 3).
#[test]
fn changed_keys_facts_and_overrides_are_listed() {
    let old = every_decision_plan();
    let mut new = old.clone();
    let alice = user_mut(&mut new, "alice");
    let keep = alice.keep.clone().unwrap();
    alice.keep = Some(alice.deactivate[0].clone());
    alice.deactivate = vec![keep];
    let created = alice.keys[1].created;
    alice.keys[1].created = alice.keys[2].created;
    alice.keys[2].created = created;
    let hank = user_mut(&mut new, "hank");
    hank.decision = Decision::Deactivate;
    hank.keys[0].last_used = None;
    new.policy.in_use_window_days = 1;

    let result = diff(&old, &new);
    assert!(!result.is_empty());
    let keys: Vec<(&str, &str)> = result
        .keys
        .iter()
        .map(|k| (k.user_name, k.what.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("alice", "keep AKIAEXAMPLEALICE0002 -> AKIAEXAMPLEALICE0001"),
            (
                "alice",
                "deactivate AKIAEXAMPLEALICE0001 -> AKIAEXAMPLEALICE0002"
            ),
            (
                "alice",
                "key AKIAEXAMPLEALICE0001 created 2026-05-13T12:00:00Z -> 2026-11-19T12:00:00Z"
            ),
            (
                "alice",
                "key AKIAEXAMPLEALICE0002 created 2026-11-19T12:00:00Z -> 2026-05-13T12:00:00Z"
            ),
            (
                "hank",
                "key AKIAEXAMPLEHANK00001 last used 2026-11-27T12:00:00Z -> never"
            ),
        ]
    );
    assert_eq!(
        result.policy,
        [("in_use_window_days", "7".to_string(), "1".to_string())]
    );
    let text = to_text(&old, &new, &result);
    assert!(text.contains("changed keys (5):"), "{text}");
    assert!(
        text.contains("changed policy (1):\n  in_use_window_days 7 -> 1"),
        "{text}"
    );
    let markdown = to_markdown(&old, &new, &result);
    assert!(markdown.contains("### changed keys (5)"), "{markdown}");
}

#[test]
fn an_override_in_the_newer_plan_is_listed() {
    let old = every_decision_plan();
    let mut new = old.clone();
    user_mut(&mut new, "hank").decision = Decision::Deactivate;
    let result = diff(&old, &new);
    assert_eq!(
        result.overrides,
        [Override {
            user_name: "hank",
            rule: Decision::Hold,
            now: Decision::Deactivate
        }]
    );
    let text = to_text(&old, &new, &result);
    assert!(
        text.contains(
            "reviewer overrides (1):\n  hank     the rule decides hold, the plan says deactivate"
        ),
        "{text}"
    );
    // The same override in both plans is no news.
    assert!(diff(&new, &new).is_empty());
}

#[test]
fn reasons_are_shown_as_data() {
    let old = every_decision_plan();
    let mut new = old.clone();
    let hank = user_mut(&mut new, "hank");
    hank.decision = Decision::Deactivate;
    hank.reason = "ok <!-- | x\u{1b}[8m".into();
    let result = diff(&old, &new);
    let text = to_text(&old, &new, &result);
    assert!(text.contains("ok <!-- | x\\u{1b}[8m"), "{text}");
    let markdown = to_markdown(&old, &new, &result);
    assert!(
        markdown.contains(r"ok &lt;!-- \| x\\u{1b}\[8m"),
        "{markdown}"
    );
}
