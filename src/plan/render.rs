//! Rendering a plan for people and machines: the YAML file itself (with its header),
//! plain text for a terminal, Markdown for a pull-request comment, and JSON.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::rule::Decision;
use crate::term;

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
        unreadable: count(Decision::Unreadable),
    }
}

/// ", unreadable N" when IAM refused to show some users, else nothing (plans without
/// such users read as before).
pub fn unreadable_count(summary: &Summary) -> String {
    if summary.unreadable == 0 {
        String::new()
    } else {
        format!(", unreadable {}", summary.unreadable)
    }
}

/// `when (service, region)`, or just `when` where IAM named no place; the place is
/// data from IAM, shown through `shown`.
fn with_place(when: String, key: &PlanKey, shown: fn(&str) -> String) -> String {
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
            term::escape(text).into_owned()
        }),
    }
}

/// A key's description for the terminal: quoted, so where it starts and ends is plain,
/// and escaped, since it is whatever someone typed into the IAM console.
pub fn described(description: &str) -> String {
    format!("description \"{}\"", term::escape(description))
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

/// How text output colours a decision word: the shell's palette does, `Plain` does not.
pub trait DecisionColour {
    fn decision(&self, decision: Decision, text: &str) -> String;
}

/// No colour.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl DecisionColour for Plain {
    fn decision(&self, _: Decision, text: &str) -> String {
        text.to_string()
    }
}

/// Text for a terminal, coloured by `palette`, columns aligned to the longest name.
pub fn to_text_styled(plan: &Plan, palette: &dyn DecisionColour) -> String {
    let summary = effective_summary(plan);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for AWS account {} ({}), generated {} by {}",
        plan.account_id,
        plan.partition,
        timestamp(plan.generated_at),
        term::escape(&plan.generated_by)
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
        "Users scanned {}: compliant {}, deactivate {}, hold {}, rotate {}, exempt {}{}",
        summary.users_scanned,
        summary.compliant,
        summary.deactivate,
        summary.hold,
        summary.rotate,
        summary.exempt,
        unreadable_count(&summary)
    );
    for user in &plan.users {
        let _ = writeln!(out);
        let word = format!("{:<10}", user.decision.as_str());
        let _ = writeln!(
            out,
            "{} {}",
            palette.decision(user.decision, &word),
            user.user_name
        );
        let _ = writeln!(out, "           {}", term::escape(&user.reason));
        for key in &user.keys {
            let _ = writeln!(
                out,
                "  {:<10} {}  {:<8}  {:>4} days  {}",
                role(user, key),
                key.access_key_id,
                key.status.as_str(),
                key.age_days,
                if user.decision == Decision::Unreadable && key.last_used.is_none() {
                    "last use not read".to_string()
                } else {
                    last_used(key)
                }
            );
            if let Some(description) = &key.description {
                let _ = writeln!(out, "             {}", described(description));
            }
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

/// The SARIF rule id of CIS AWS Foundations Benchmark 1.13.
pub const SARIF_RULE_ID: &str = "CIS-AWS-1.13";

/// SARIF 2.1.0 for GitHub code scanning: one result per non-compliant user, located at
/// the user's entry in the plan file (`plan_uri`, relative to the repository root);
/// exempt users are reported as suppressed, with the exemption's reason.
pub fn to_sarif(plan: &Plan, plan_text: &str, plan_uri: &str) -> String {
    let line_of = |user: &str| {
        let entry = format!("- user_name: {user}");
        plan_text
            .lines()
            .position(|line| line.trim_end() == entry)
            .map_or(1, |index| index + 1)
    };
    let results: Vec<serde_json::Value> = plan
        .users
        .iter()
        .map(|user| sarif_result(plan, user, plan_uri, line_of(&user.user_name)))
        .collect();
    let document = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "keytrim",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://www.cisecurity.org/benchmark/amazon_web_services",
                    "rules": [sarif_rule()]
                }
            },
            "automationDetails": { "id": format!("keytrim/{}/", plan.account_id) },
            "results": results
        }]
    });
    let mut text = serde_json::to_string_pretty(&document).expect("SARIF serialises");
    text.push('\n');
    text
}

/// The one SARIF rule, with the recommendation's number in each CIS version.
fn sarif_rule() -> serde_json::Value {
    // Benchmark version -> the recommendation's number in it.
    let cis_numbers: serde_json::Map<String, serde_json::Value> = super::model::CIS_NUMBERS
        .iter()
        .map(|(version, number)| (format!("v{version}"), (*number).into()))
        .collect();
    serde_json::json!({
        "id": SARIF_RULE_ID,
        "name": "OneActiveAccessKeyPerIamUser",
        "shortDescription": {
            "text": "Ensure there is only one active access key for any single IAM user"
        },
        "fullDescription": {
            "text": "CIS AWS Foundations Benchmark control 1.13 (1.12 in v5, 2.12 in v6): an IAM user with two active access keys doubles what can leak; the second key is usually an unfinished rotation."
        },
        "helpUri": "https://www.cisecurity.org/benchmark/amazon_web_services",
        "help": {
            "text": "Review the plan with `keytrim show`, then run `keytrim apply` to deactivate the extra keys."
        },
        "defaultConfiguration": { "level": "error" },
        "properties": {
            "tags": ["security", "CIS AWS Foundations Benchmark"],
            "cisAwsFoundationsBenchmark": cis_numbers
        }
    })
}

/// One user's SARIF result, located at `line` of the plan file.
fn sarif_result(plan: &Plan, user: &PlanUser, plan_uri: &str, line: usize) -> serde_json::Value {
    let level = match user.decision {
        Decision::Hold | Decision::Exempt => "warning",
        _ => "error",
    };
    let finding = if user.decision == Decision::Unreadable {
        format!(
            "IAM user {} could not be read (decision: unreadable): {}",
            user.user_name,
            term::escape(&user.reason)
        )
    } else {
        format!(
            "IAM user {} has {} active access keys (decision: {}): {}",
            user.user_name,
            user.keys
                .iter()
                .filter(|k| k.status == crate::facts::KeyStatus::Active)
                .count(),
            user.decision.as_str(),
            term::escape(&user.reason)
        )
    };
    let mut result = serde_json::json!({
        "ruleId": SARIF_RULE_ID,
        "ruleIndex": 0,
        "level": level,
        "kind": "fail",
        "message": { "text": finding },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": plan_uri },
                "region": { "startLine": line }
            },
            "logicalLocations": [{
                "name": user.user_name,
                "fullyQualifiedName": user.user_arn,
                "kind": "object"
            }]
        }],
        "partialFingerprints": { "keytrimUserArn/v1": user.user_arn },
        "properties": { "decision": user.decision.as_str(), "accountId": plan.account_id }
    });
    let descriptions: serde_json::Map<String, serde_json::Value> = user
        .keys
        .iter()
        .filter_map(|key| {
            let description = key.description.as_deref()?;
            Some((key.access_key_id.clone(), term::escape(description).into()))
        })
        .collect();
    if !descriptions.is_empty() {
        let listed: Vec<String> = descriptions
            .iter()
            .map(|(key, description)| {
                format!("{key} \"{}\"", description.as_str().unwrap_or_default())
            })
            .collect();
        let message = &mut result["message"]["text"];
        *message = format!(
            "{}. Key descriptions: {}",
            message.as_str().unwrap_or_default(),
            listed.join(", ")
        )
        .into();
        result["properties"]["keyDescriptions"] = descriptions.into();
    }
    if user.decision == Decision::Exempt {
        result["suppressions"] = serde_json::json!([{
            "kind": "external",
            "status": "accepted",
            "justification": term::escape(&user.reason)
        }]);
    }
    result
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

/// A section longer than this many users is folded into `<details>`.
const FOLD_AFTER_USERS: usize = 10;

/// The rule's decision when the plan overrides it for `user` (a reviewer's edit).
fn overridden(plan: &Plan, user: &PlanUser) -> Option<Decision> {
    match super::standing::standing(plan, user) {
        Ok(super::standing::Standing::Override { rule }) => Some(rule),
        _ => None,
    }
}

fn markdown_user(out: &mut String, user: &PlanUser, plan: &Plan) {
    let generated_at = plan.generated_at;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**`{}`**: {}",
        user.user_name,
        term::markdown(&user.reason)
    );
    if let Some(rule) = overridden(plan, user) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "> **Reviewer override:** the rule decides `{}` for these keys; this plan says `{}`.",
            rule.as_str(),
            user.decision.as_str()
        );
    }
    let _ = writeln!(out);
    // The description column appears only for users whose keys have one, so tables
    // of accounts that never use descriptions stay as narrow as before.
    let described = user.keys.iter().any(|key| key.description.is_some());
    let (head, rule) = if described {
        (
            "| role | key | status | age | last used | description |",
            "|---|---|---|---:|---|---|",
        )
    } else {
        (
            "| role | key | status | age | last used |",
            "|---|---|---|---:|---|",
        )
    };
    let _ = writeln!(out, "{head}");
    let _ = writeln!(out, "{rule}");
    for key in &user.keys {
        let used = match key.last_used {
            // IAM may have refused the read: nothing is known.
            None if user.decision == Decision::Unreadable => "not read".to_string(),
            None => "never".to_string(),
            Some(at) => with_place(ago(at, generated_at), key, term::markdown),
        };
        let description = if described {
            format!(
                " {} |",
                key.description
                    .as_deref()
                    .map_or_else(String::new, term::markdown)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} days | {used} |{description}",
            role(user, key),
            key.access_key_id,
            key.status.as_str(),
            key.age_days,
        );
    }
}

/// Markdown for a pull-request comment: a summary table, then one section per
/// decision; sections of more than ten users are folded.
pub fn to_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## keytrim plan for account `{}`", plan.account_id);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}. Generated {} by {} (source: {}). Keys {} days old or older are not kept; a key used within {} days holds its deactivation (guard {}). Ages and last use are as of the audit.",
        term::markdown(&plan.policy.control),
        timestamp(plan.generated_at),
        term::markdown(&plan.generated_by),
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
    markdown_policy(&mut out, plan);
    markdown_counts(&mut out, &effective_summary(plan));
    markdown_overrides(&mut out, plan);
    markdown_decisions(&mut out, plan);
    markdown_expiring(&mut out, plan);
    if plan.users.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Nothing to do: every user has at most one active key.");
    }
    out
}

/// A policy other than keytrim's defaults, said plainly: it changes what the rule
/// decides (no guard turns holds into deactivations), so a reviewer must see it.
fn markdown_policy(out: &mut String, plan: &Plan) {
    let defaults = crate::rule::Policy::default();
    let policy = super::standing::policy_of(plan);
    if policy == defaults {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**This plan's policy differs from keytrim's defaults** (max key age {} days, in-use window {} days, guard on): max key age {} days, in-use window {} days, guard {}.",
        defaults.max_key_age_days,
        defaults.in_use_window_days,
        policy.max_key_age_days,
        policy.in_use_window_days,
        if policy.in_use_guard { "on" } else { "off" }
    );
}

/// Every reviewer override, up front, so the approving reviewer sees each one.
fn markdown_overrides(out: &mut String, plan: &Plan) {
    let overrides: Vec<String> = plan
        .users
        .iter()
        .filter_map(|user| {
            overridden(plan, user).map(|rule| {
                format!(
                    "`{}` ({} → {})",
                    user.user_name,
                    rule.as_str(),
                    user.decision.as_str()
                )
            })
        })
        .collect();
    if overrides.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**Reviewer overrides ({}):** {}. The rule decided otherwise on the plan's own facts; apply accepts these because each does less, or what the rule named for a held key.",
        overrides.len(),
        overrides.join(", ")
    );
}

/// The table of counts.
fn markdown_counts(out: &mut String, summary: &Summary) {
    // The unreadable column appears only when some user was, so plans without such
    // users read as before.
    let (head, rule, unreadable) = if summary.unreadable > 0 {
        (
            " unreadable |",
            "---:|",
            format!(" {} |", summary.unreadable),
        )
    } else {
        ("", "", String::new())
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| users scanned | compliant | deactivate | hold | rotate | exempt |{head}"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|{rule}");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |{unreadable}",
        summary.users_scanned,
        summary.compliant,
        summary.deactivate,
        summary.hold,
        summary.rotate,
        summary.exempt
    );
}

/// One section per decision, folded when long.
fn markdown_decisions(out: &mut String, plan: &Plan) {
    for (decision, meaning) in [
        (
            Decision::Deactivate,
            "apply deactivates the listed keys and keeps one",
        ),
        (
            Decision::Hold,
            "a key to deactivate was used recently; change `hold` to `deactivate` once you know it is unused",
        ),
        (
            Decision::Rotate,
            "no key is fresh enough to keep; rotate first, then audit again",
        ),
        (Decision::Exempt, "never acted on"),
        (
            Decision::Unreadable,
            "IAM refused to show the user (its keys, their last use or its tags): not known to be compliant, and never acted on; give the audit role access, then audit again",
        ),
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
        let _ = writeln!(out);
        let _ = writeln!(out, "_{meaning}._");
        let fold = users.len() > FOLD_AFTER_USERS;
        if fold {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "<details><summary>{} users: {}</summary>",
                users.len(),
                decision.as_str()
            );
        }
        for user in users {
            markdown_user(out, user, plan);
        }
        if fold {
            let _ = writeln!(out);
            let _ = writeln!(out, "</details>");
        }
    }
}

/// Exemptions that end soon, if any.
fn markdown_expiring(out: &mut String, plan: &Plan) {
    let expiring = super::model::exemptions_expiring(plan, super::model::EXPIRING_WITHIN_DAYS);
    if !expiring.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "### exemptions ending within {} days ({})",
            super::model::EXPIRING_WITHIN_DAYS,
            expiring.len()
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "_After its last day an exemption no longer applies: renew it, or let the rule decide._"
        );
        let _ = writeln!(out);
        for (name, until) in expiring {
            let _ = writeln!(out, "- `{name}`: last day {until}");
        }
    }
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
        let err = crate::plan::load::parse(&yaml.replace("version: 2", "version: 1")).unwrap_err();
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
            markdown.contains("**This plan's policy differs from keytrim's defaults** (max key age 90 days, in-use window 7 days, guard on): max key age 90 days, in-use window 7 days, guard off."),
            "{markdown}"
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
    }
}
