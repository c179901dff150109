//! Rendering a plan for people and machines: the YAML file itself (with its header),
//! plain text for a terminal, Markdown for a pull-request comment, and JSON.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::rule::Decision;

use super::model::{Plan, PlanKey, PlanUser, Summary};

/// The comment at the top of every plan file.
fn header(plan: &Plan) -> String {
    format!(
        "# keytrim remediation plan for AWS account {account} ({control}: at most one active access key per IAM user).\n\
         # Written by `keytrim audit`; apply compares every user against live IAM state before changing anything.\n\
         # Review it: a `hold` may be changed to `deactivate` once you know the key is unused. Nothing is ever deleted.\n\
         # Read it with `keytrim show FILE [--format markdown]`; apply it with `keytrim apply FILE`.\n",
        account = plan.account_id,
        control = plan.policy.control,
    )
}

/// The plan as written to disk: header comment, then YAML.
pub fn to_yaml(plan: &Plan) -> String {
    let body = serde_yaml::to_string(plan).expect("a plan always serialises to YAML");
    format!("{}{body}", header(plan))
}

/// The plan as pretty JSON.
pub fn to_json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).expect("a plan always serialises to JSON");
    text.push('\n');
    text
}

/// Decision counts taken from the users listed (a reviewer may have edited decisions),
/// with the scanned and compliant counts the audit recorded.
pub fn effective_summary(plan: &Plan) -> Summary {
    let count = |decision| plan.users.iter().filter(|u| u.decision == decision).count();
    Summary {
        users_scanned: plan.summary.users_scanned,
        compliant: plan.summary.compliant,
        deactivate: count(Decision::Deactivate),
        hold: count(Decision::Hold),
        rotate: count(Decision::Rotate),
        exempt: count(Decision::Exempt),
    }
}

fn last_used(key: &PlanKey) -> String {
    match key.last_used {
        None => "never used".to_string(),
        Some(at) => {
            let mut text = format!("last used {}", timestamp(at));
            let place: Vec<&str> = [&key.last_used_service, &key.last_used_region]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            if !place.is_empty() {
                let _ = write!(text, " ({})", place.join(", "));
            }
            text
        }
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The role a key plays in a user's entry.
fn role(user: &PlanUser, key: &PlanKey) -> &'static str {
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

/// Plain text for a terminal.
pub fn to_text(plan: &Plan) -> String {
    let summary = effective_summary(plan);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for AWS account {} ({}), generated {} by {}",
        plan.account_id,
        plan.partition,
        timestamp(plan.generated_at),
        plan.generated_by
    );
    let _ = writeln!(
        out,
        "Policy: max key age {} days, in-use window {} days, in-use guard {}",
        plan.policy.max_key_age_days,
        plan.policy.in_use_window_days,
        if plan.policy.in_use_guard {
            "on"
        } else {
            "off"
        }
    );
    let _ = writeln!(
        out,
        "Users scanned {}: compliant {}, deactivate {}, hold {}, rotate {}, exempt {}",
        summary.users_scanned,
        summary.compliant,
        summary.deactivate,
        summary.hold,
        summary.rotate,
        summary.exempt
    );
    for user in &plan.users {
        let _ = writeln!(out);
        let _ = writeln!(out, "{:<10} {}", user.decision.as_str(), user.user_name);
        let _ = writeln!(out, "           {}", user.reason);
        for key in &user.keys {
            let _ = writeln!(
                out,
                "  {:<10} {}  {:<8}  {:>4} days  {}",
                role(user, key),
                key.access_key_id,
                key.status.as_str(),
                key.age_days,
                last_used(key)
            );
        }
    }
    if plan.users.is_empty() {
        let _ = writeln!(
            out,
            "\nNothing to do: every user has at most one active key."
        );
    }
    out
}

/// Markdown for a pull-request comment.
pub fn to_markdown(plan: &Plan) -> String {
    let summary = effective_summary(plan);
    let mut out = String::new();
    let _ = writeln!(out, "## keytrim plan for account `{}`", plan.account_id);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}. Generated {} by {} (source: {}). Policy: keys older than {} days are not kept; use within {} days holds a deactivation (guard {}).",
        plan.policy.control,
        timestamp(plan.generated_at),
        plan.generated_by,
        match plan.source {
            super::model::Source::Live => "live",
            super::model::Source::CredentialReport => "credential report",
        },
        plan.policy.max_key_age_days,
        plan.policy.in_use_window_days,
        if plan.policy.in_use_guard {
            "on"
        } else {
            "off"
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| users scanned | compliant | deactivate | hold | rotate | exempt |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        summary.users_scanned,
        summary.compliant,
        summary.deactivate,
        summary.hold,
        summary.rotate,
        summary.exempt
    );
    for decision in [
        Decision::Deactivate,
        Decision::Hold,
        Decision::Rotate,
        Decision::Exempt,
    ] {
        let users: Vec<&PlanUser> = plan
            .users
            .iter()
            .filter(|u| u.decision == decision)
            .collect();
        if users.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "### {} ({})", decision.as_str(), users.len());
        for user in users {
            let _ = writeln!(out);
            let _ = writeln!(out, "**`{}`**: {}", user.user_name, user.reason);
            let _ = writeln!(out);
            let _ = writeln!(out, "| role | key | status | age (days) | last used |");
            let _ = writeln!(out, "|---|---|---|---:|---|");
            for key in &user.keys {
                let _ = writeln!(
                    out,
                    "| {} | `{}` | {} | {} | {} |",
                    role(user, key),
                    key.access_key_id,
                    key.status.as_str(),
                    key.age_days,
                    last_used(key)
                );
            }
        }
    }
    if plan.users.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Nothing to do: every user has at most one active key.");
    }
    out
}

#[cfg(test)]
mod tests {
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
        }
    }

    fn user(name: &str, keys: Vec<KeyFacts>, tag: Option<&str>) -> UserFacts {
        UserFacts {
            user_name: name.into(),
            user_arn: format!("arn:aws:iam::123456789012:user/{name}"),
            keys,
            exempt_tag: tag.map(String::from),
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
            },
        )
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
    }
}
