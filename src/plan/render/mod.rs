//! Rendering a plan for people and machines, one file per format: the YAML file itself
//! (`yaml`), JSON (`json`), plain text for a terminal (`text`), Markdown for a
//! pull-request comment (`markdown`), SARIF for code scanning (`sarif`), CSV for
//! spreadsheets (`csv`) and ASFF findings for Security Hub (`asff`). What they
//! share (counts, a key's last use, ages in words) is here. Every string from the plan
//! goes through `safe_text`.

mod asff;
mod csv;
mod json;
mod markdown;
mod sarif;
mod text;
mod yaml;

use chrono::{DateTime, Utc};

use crate::rule::Decision;
use crate::safe_text;

use super::model::{Plan, PlanKey, PlanUser, Summary};

pub use asff::{AfterRuns, FindingContext, finding_id, is_region, region_in_partition, to_asff};
pub use csv::to_csv;
pub use json::to_json;
pub use markdown::to_markdown;
pub use sarif::to_sarif;
pub use text::{DecisionColour, Plain, to_text_styled};
pub use yaml::to_yaml;

/// Decision counts taken from the users listed (a reviewer may have edited decisions),
/// with the scanned and compliant counts the audit recorded.
pub(crate) fn effective_summary(plan: &Plan) -> Summary {
    let count = |decision| plan.users.iter().filter(|u| u.decision == decision).count();
    Summary {
        users_scanned: plan.summary.users_scanned,
        compliant: plan.summary.compliant,
        deactivate: count(Decision::Deactivate),
        hold: count(Decision::Hold),
        rotate: count(Decision::Rotate),
        exempt: count(Decision::Exempt),
        unreadable: count(Decision::Unreadable),
        rotation_due: plan.users.iter().filter(|u| u.rotation_due).count(),
    }
}

/// ", unreadable N" when IAM refused to show some users, else nothing (plans without
/// such users read as before).
pub(crate) fn unreadable_count(summary: &Summary) -> String {
    if summary.unreadable == 0 {
        String::new()
    } else {
        format!(", unreadable {}", summary.unreadable)
    }
}

/// ", rotation due N" when some kept keys are over the maximum age, else nothing.
pub(crate) fn rotation_due_count(summary: &Summary) -> String {
    if summary.rotation_due == 0 {
        String::new()
    } else {
        format!(", rotation due {}", summary.rotation_due)
    }
}

/// The exemptions file the audit read, and anything that kept it from being checked
/// again, as lines for a reader (empty when the audit read none). Its path comes from
/// the plan: `shown` escapes it for the format.
pub(crate) fn exemptions_lines(plan: &Plan, shown: fn(&str) -> String) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(file) = &plan.exemptions {
        lines.push(format!(
            "Exemptions file: {} (SHA-256 {})",
            shown(&file.path),
            file.sha256
        ));
    }
    if let Some(note) = &plan.exempt_by_file.note {
        lines.push(format!("Check: {}", shown(note)));
    }
    lines
}

/// What the plan's policy does for a user with no key under the maximum age.
pub(crate) fn no_fresh_key_reading(policy: &crate::plan::model::PlanPolicy) -> String {
    if policy.require_fresh_key {
        "with no fresh key, rotate and deactivate nothing (fresh key required)".to_string()
    } else {
        format!(
            "with no fresh key, keep the key in use and deactivate keys unused {} days or more",
            policy.unused_days
        )
    }
}

/// The rotation mark of a user whose kept key is over the maximum age, naming the
/// key and its age; None for any other user.
pub(crate) fn rotation_mark(plan: &Plan, user: &PlanUser) -> Option<String> {
    if !user.rotation_due {
        return None;
    }
    let keep = user.keep.as_deref()?;
    let age = user
        .keys
        .iter()
        .find(|key| key.access_key_id == keep)
        .map_or(0, |key| key.age_days);
    Some(format!(
        "the kept key {keep} is {age} days old, over the {}-day maximum: rotate it (CIS 1.14)",
        plan.policy.max_key_age_days
    ))
}

/// A `rotate` of a user with at most one active key, which breaks no rule of CIS 1.13:
/// `audit --rotation` lists it for its one key's age (the hand-off, or the advice with
/// a finding). SARIF reports it under the rotation rule; ASFF, whose findings are CIS
/// 1.13's, leaves it out as it leaves out every compliant user.
pub(crate) fn rotation_alone(user: &PlanUser) -> bool {
    user.decision == Decision::Rotate
        && user
            .keys
            .iter()
            .filter(|key| key.status == crate::facts::KeyStatus::Active)
            .count()
            <= 1
}

/// What the hand-off of a user to a secret is (the rotation hand-off), naming the
/// secret in `quoted` form (a Markdown code span, say), and what apply does for it;
/// None for any other user, and for a user the exemptions file exempts,
/// whom apply leaves alone. The ARN and version come from the plan, where validation
/// allows only the characters Secrets Manager uses.
pub(crate) fn hand_off(plan: &Plan, user: &PlanUser, quoted: fn(&str) -> String) -> Option<String> {
    let rotate_to = user.rotate_to.as_ref()?;
    if super::standing::override_of(plan, user) == Some(Decision::Exempt) {
        return None;
    }
    let old = user
        .keys
        .first()
        .map_or("", |key| key.access_key_id.as_str());
    Some(format!(
        "a new key to be written to secret {} (AWSPENDING, then AWSCURRENT in place of version {}), {old} left Active until a later audit finds it idle; apply proves the secret holds the user's key, creates the new one, stages and probes it, then moves AWSCURRENT to it",
        quoted(&rotate_to.secret_arn),
        quoted(&rotate_to.current_version)
    ))
}

/// `when (service, region)`, or just `when` where IAM named no place; the place is
/// data from IAM, shown through `shown`.
pub(super) fn with_place(when: String, key: &PlanKey, shown: fn(&str) -> String) -> String {
    let place: Vec<String> = [&key.last_used_service, &key.last_used_region]
        .into_iter()
        .flatten()
        .map(|text| shown(text))
        .collect();
    if place.is_empty() {
        when
    } else {
        format!("{when} ({})", place.join(", "))
    }
}

/// A key's last use for people: "last used 2026-11-28 12:00 UTC (s3, eu-west-1)".
pub fn last_used(key: &PlanKey) -> String {
    match key.last_used {
        None => "never used".to_string(),
        Some(at) => with_place(format!("last used {}", timestamp(at)), key, |text| {
            safe_text::escape(text).into_owned()
        }),
    }
}

/// A key's description for the terminal: quoted, so where it starts and ends is plain,
/// and escaped, since it is whatever someone typed into the IAM console.
pub fn described(description: &str) -> String {
    format!("description \"{}\"", safe_text::escape(description))
}

pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The role a key plays in a user's entry.
pub(super) fn role(user: &PlanUser, key: &PlanKey) -> &'static str {
    if user.keep.as_deref() == Some(key.access_key_id.as_str()) {
        "keep"
    } else if user.deactivate.contains(&key.access_key_id) {
        match user.decision {
            Decision::Hold => "held",
            _ => "deactivate",
        }
    } else {
        "-"
    }
}

/// How long before `now` something happened, in words ("3 days ago").
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let elapsed = now - at;
    let (count, unit) = if elapsed.num_days() >= 1 {
        (elapsed.num_days(), "day")
    } else if elapsed.num_hours() >= 1 {
        (elapsed.num_hours(), "hour")
    } else if elapsed.num_minutes() >= 1 {
        (elapsed.num_minutes(), "minute")
    } else {
        return "just now".to_string();
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::exemptions::Exemptions;
    use crate::facts::{Caller, Inventory, KeyFacts, KeyStatus, LastUse, UserFacts};
    use crate::plan::model::{PlanInputs, Source, build};
    use crate::rule::Policy;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
    }

    fn key(id: &str, active: bool, age_days: i64, used_days_ago: Option<i64>) -> KeyFacts {
        KeyFacts {
            access_key_id: id.into(),
            status: if active {
                KeyStatus::Active
            } else {
                KeyStatus::Inactive
            },
            created: now() - Duration::days(age_days),
            last_use: Some(LastUse {
                at: used_days_ago.map(|days| now() - Duration::days(days)),
                service: used_days_ago.map(|_| "s3".to_string()),
                region: used_days_ago.map(|_| "eu-west-1".to_string()),
            }),
            description: None,
        }
    }

    fn user(name: &str, keys: Vec<KeyFacts>, tag: Option<&str>) -> UserFacts {
        UserFacts {
            user_name: name.into(),
            user_arn: format!("arn:aws:iam::123456789012:user/{name}"),
            keys,
            exempt_tag: tag.map(String::from),
            exempt_until: None,
            unreadable: None,
            rotation: None,
        }
    }

    /// A fixed account with one user per decision, in scrambled order.
    pub(crate) fn every_decision_plan() -> Plan {
        let inventory = Inventory {
            caller: Caller {
                account_id: "123456789012".into(),
                arn: "arn:aws:iam::123456789012:user/auditor".into(),
            },
            users_scanned: 7,
            scanned_names: Vec::new(),
            candidates: vec![
                user(
                    "rita",
                    vec![
                        key("AKIAEXAMPLERITA00002", true, 100, None),
                        key("AKIAEXAMPLERITA00001", true, 120, Some(40)),
                    ],
                    None,
                ),
                user(
                    "alice",
                    vec![
                        key("AKIAEXAMPLEALICE0002", true, 10, Some(1)),
                        key("AKIAEXAMPLEALICE0001", true, 200, Some(30)),
                        key("AKIAEXAMPLEALICE0003", false, 300, None),
                    ],
                    None,
                ),
                user(
                    "hank",
                    vec![
                        key("AKIAEXAMPLEHANK00001", true, 150, Some(2)),
                        key("AKIAEXAMPLEHANK00002", true, 5, None),
                    ],
                    None,
                ),
                user(
                    "erin",
                    vec![
                        key("AKIAEXAMPLEERIN00001", true, 400, None),
                        key("AKIAEXAMPLEERIN00002", true, 3, None),
                    ],
                    Some("break-glass account"),
                ),
            ],
        };
        build(
            &inventory,
            &PlanInputs {
                policy: Policy::default(),
                source: Source::Live,
                now: now(),
                exemptions: &Exemptions::default(),
                exemptions_file: None,
            },
        )
    }

    /// IAM refused to show two users. One is listed in the exemptions file (a
    /// break-glass user protected on purpose): exempt, with the refusal in the reason.
    /// The other is unreadable: never compliant, its last use shown as not read.
    #[test]
    fn unreadable_users_are_findings_unless_the_exemptions_file_names_them() {
        let refused = |name: &str| {
            let mut facts = user(
                name,
                vec![key("AKIAEXAMPLEBOB000001", true, 200, None)],
                None,
            );
            facts.unreadable = Some("iam:GetAccessKeyLastUsed failed: AccessDenied: no".into());
            facts
        };
        let exemptions =
            Exemptions::parse("- {user: breakglass, reason: protected by an SCP}\n").unwrap();
        let inventory = Inventory {
            caller: Caller {
                account_id: "123456789012".into(),
                arn: "arn:aws:iam::123456789012:user/auditor".into(),
            },
            users_scanned: 2,
            scanned_names: Vec::new(),
            candidates: vec![refused("bob"), refused("breakglass")],
        };
        let plan = build(
            &inventory,
            &PlanInputs {
                policy: Policy::default(),
                source: Source::Live,
                now: now(),
                exemptions: &exemptions,
                exemptions_file: None,
            },
        );
        let bob = &plan.users[0];
        assert_eq!(bob.decision, Decision::Unreadable);
        assert!(
            bob.error
                .as_deref()
                .is_some_and(|e| e.contains("AccessDenied"))
        );
        let breakglass = &plan.users[1];
        assert_eq!(breakglass.decision, Decision::Exempt);
        assert!(
            breakglass
                .reason
                .contains("protected by an SCP; IAM refused to show the user"),
            "{}",
            breakglass.reason
        );
        assert_eq!((plan.summary.unreadable, plan.summary.exempt), (1, 1));
        assert!(!plan.summary.is_compliant());
        let text = to_text_styled(&plan, &Plain);
        assert!(text.contains("last use not read"), "{text}");
        assert!(!text.contains("never used"), "{text}");
        assert!(to_markdown(&plan).contains("| not read |"));
        // Loaded back, the plan is valid; as version 1 it is refused.
        let yaml = to_yaml(&plan);
        assert_eq!(crate::plan::load::parse(&yaml).unwrap(), plan);
        let as_version_1 = yaml.replace("version: 4", "version: 1").replace(
            "  require_fresh_key: false\n  unused_days: 45\n  rotation: false\n",
            "",
        );
        let err = crate::plan::load::parse(&as_version_1).unwrap_err();
        assert!(
            err.contains("version 1 plan has no `unreadable` users"),
            "{err}"
        );
    }

    #[test]
    fn ages_read_as_words() {
        let now = now();
        assert_eq!(ago(now - Duration::days(3), now), "3 days ago");
        assert_eq!(ago(now - Duration::days(1), now), "1 day ago");
        assert_eq!(ago(now - Duration::hours(5), now), "5 hours ago");
        assert_eq!(ago(now - Duration::seconds(5), now), "just now");
    }

    #[test]
    fn long_sections_are_folded_in_markdown() {
        let mut plan = every_decision_plan();
        let alice = plan.users[0].clone();
        plan.users = (0..11)
            .map(|n| PlanUser {
                user_name: format!("user{n:02}"),
                ..alice.clone()
            })
            .collect();
        let markdown = to_markdown(&plan);
        assert!(markdown.contains("<details><summary>11 users: deactivate</summary>"));
        assert!(markdown.trim_end().ends_with("</details>"));
        plan.users.truncate(10);
        assert!(!to_markdown(&plan).contains("<details>"));
    }

    #[test]
    fn a_policy_other_than_the_defaults_is_said_plainly() {
        let mut plan = every_decision_plan();
        assert!(!to_markdown(&plan).contains("differs from keytrim's defaults"));
        plan.policy.in_use_guard = false;
        let markdown = to_markdown(&plan);
        assert!(
            markdown.contains("**This plan's policy differs from keytrim's defaults** (max key age 90 days, in-use window 7 days, guard on, unused 45 days, no fresh key required): max key age 90 days, in-use window 7 days, guard off, unused 45 days, no fresh key required."),
            "{markdown}"
        );
        // The older reading is a policy of its own, said as plainly.
        plan.policy.in_use_guard = true;
        plan.policy.require_fresh_key = true;
        assert!(
            to_markdown(&plan)
                .contains("guard on, unused 45 days, a fresh key required (the older reading"),
            "{}",
            to_markdown(&plan)
        );
    }

    /// A user with no fresh key: the kept key is marked for rotation next to the user
    /// in text and Markdown, and as its own note in SARIF.
    #[test]
    fn a_kept_key_due_for_rotation_is_marked_in_every_format() {
        let plan = every_decision_plan();
        let rita = plan.users.iter().find(|u| u.user_name == "rita").unwrap();
        assert!(rita.rotation_due);
        let mark = "the kept key AKIAEXAMPLERITA00001 is 120 days old, over the 90-day maximum: rotate it (CIS 1.14)";
        let text = to_text_styled(&plan, &Plain);
        assert!(text.contains(&format!("ROTATION DUE: {mark}")), "{text}");
        assert!(text.contains(", rotation due 1"), "{text}");
        let markdown = to_markdown(&plan);
        assert!(
            markdown.contains(&format!("> **Rotation due:** {mark}.")),
            "{markdown}"
        );
        let sarif: serde_json::Value =
            serde_json::from_str(&to_sarif(&plan, &to_yaml(&plan), "plan.yaml")).unwrap();
        let notes: Vec<&serde_json::Value> = sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ruleId"] == "CIS-AWS-1.14")
            .collect();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["level"], "note");
        assert!(notes[0]["message"]["text"].as_str().unwrap().contains(mark));
        // Only rita's kept key is over the maximum age.
        assert_eq!(
            plan.users
                .iter()
                .filter(|u| rotation_mark(&plan, u).is_some())
                .count(),
            1
        );
    }

    #[test]
    fn plan_yaml_of_a_fixed_account() {
        let yaml = to_yaml(&every_decision_plan());
        insta::assert_snapshot!(yaml);
        // What is written can be read back, unchanged.
        assert_eq!(
            crate::plan::load::parse(&yaml).unwrap(),
            every_decision_plan()
        );
        // A version 4 plan states which reading it used: without it, it is refused
        // rather than read under either.
        for field in [
            "require_fresh_key: false",
            "unused_days: 45",
            "rotation: false",
        ] {
            let missing = yaml.replace(&format!("  {field}\n"), "");
            let name = field.split(':').next().unwrap();
            assert!(
                crate::plan::load::parse(&missing)
                    .unwrap_err()
                    .contains(&format!("field `policy.{name}`: missing")),
                "{field}"
            );
        }
    }
}
