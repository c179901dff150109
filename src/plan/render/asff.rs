//! A plan as AWS Security Finding Format (ASFF) findings, for Security Hub's
//! BatchImportFindings: one finding per user the plan lists, under the account's
//! default product. `report` gives the same finding ids with `PASSED` for the users
//! its journals show brought into line (and `NOT_AVAILABLE` for changes never
//! confirmed), so Security Hub closes what keytrim fixed.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::plan::model::CIS_NUMBERS;
use crate::plan::{Plan, PlanUser};
use crate::rule::Decision;
use crate::safe_text;

/// The finding type of the CIS standard in Security Hub's taxonomy.
const CIS_FINDING_TYPE: &str = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";

/// Names the check that produced the finding (CIS 1.13), the same in every release.
const GENERATOR_ID: &str = "keytrim/cis-aws-foundations-benchmark/1.13";

/// Security Hub's limits on the text fields keytrim fills.
const TITLE_LIMIT: usize = 256;
const DESCRIPTION_LIMIT: usize = 1024;
const RECOMMENDATION_LIMIT: usize = 512;
const MAX_RESOURCES: usize = 32;

/// Is `region` shaped like an AWS region (`us-east-1`, `us-gov-west-1`,
/// `cn-north-1`, `us-isob-east-1`, `eusc-de-east-1`)? It goes into the product ARN, so
/// nothing else may.
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && (2..=4).contains(&parts[0].len())
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
        && !parts[parts.len() - 1].starts_with('0')
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|number| number > 0)
}

/// Is `region` one of `partition`'s? Each partition's regions start their own way.
pub fn region_in_partition(region: &str, partition: &str) -> bool {
    let prefixes: &[(&str, &str)] = &[
        ("aws-cn", "cn-"),
        ("aws-us-gov", "us-gov-"),
        ("aws-iso-b", "us-isob-"),
        ("aws-iso-e", "eu-isoe-"),
        ("aws-iso-f", "us-isof-"),
        ("aws-iso", "us-iso-"),
        ("aws-eusc", "eusc-"),
    ];
    let partition_of = prefixes
        .iter()
        .find(|(_, prefix)| region.starts_with(prefix))
        .map_or("aws", |(name, _)| *name);
    partition_of == partition
}

/// Where a user stands after the runs, as `report` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRuns {
    /// Brought to one active key, seen so by a verifying listing.
    InLine,
    /// Changed, or found changed, but never confirmed by a listing; or the lockout
    /// guard could not give a key back: the user's keys need a look.
    NotConfirmed,
}

/// What the findings are made for.
#[derive(Debug, Clone)]
pub struct FindingContext<'a> {
    /// The Security Hub region the findings are imported into.
    pub region: &'a str,
    /// When the findings were last brought up to date: the plan's time for `show`,
    /// the report's for `report` (Security Hub keeps the latest `UpdatedAt`).
    pub updated_at: DateTime<Utc>,
    /// Where users stand after the runs, by name (`report` only; empty for `show`).
    pub after_runs: &'a HashMap<String, AfterRuns>,
}

/// A finding's stable id: the same account and user give the same id, so a re-import
/// updates the finding instead of adding another.
pub fn finding_id(plan: &Plan, user: &PlanUser) -> String {
    format!(
        "keytrim/cis-aws-1.13/{}/{}",
        plan.account_id, user.user_name
    )
}

/// Text from a plan as Security Hub shows it: hidden characters written out, cut to
/// `limit` UTF-16 code units (Security Hub counts as Java does), never blank.
fn text(value: &str, limit: usize) -> String {
    let shown = safe_text::escape(value);
    if shown.trim().is_empty() {
        return "(the plan gives no text)".to_string();
    }
    if shown.encode_utf16().count() <= limit {
        return shown.into_owned();
    }
    let mut cut = String::new();
    let mut units = 0;
    for c in shown.chars() {
        units += c.len_utf16();
        if units > limit - 3 {
            break;
        }
        cut.push(c);
    }
    format!("{cut}...")
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The requirement in each benchmark version, as Security Hub names requirements.
fn related_requirements() -> Vec<String> {
    CIS_NUMBERS
        .iter()
        .map(|(version, number)| format!("CIS AWS Foundations Benchmark v{version}.0/{number}"))
        .collect()
}

/// Compliance status, severity label and the title's verb for a user.
fn standing_of(
    user: &PlanUser,
    after: Option<AfterRuns>,
) -> (&'static str, &'static str, &'static str) {
    match (after, user.decision) {
        (Some(AfterRuns::InLine), _) => {
            ("PASSED", "INFORMATIONAL", "now has one active access key")
        }
        (Some(AfterRuns::NotConfirmed), _) => (
            "NOT_AVAILABLE",
            "MEDIUM",
            "was changed by keytrim, but the change was not confirmed: check its access keys",
        ),
        (None, Decision::Unreadable) => (
            "NOT_AVAILABLE",
            "INFORMATIONAL",
            "could not be read to check its active access keys",
        ),
        (None, Decision::Exempt) => (
            "FAILED",
            "INFORMATIONAL",
            "has more than one active access key (exempt)",
        ),
        (None, _) => ("FAILED", "MEDIUM", "has more than one active access key"),
    }
}

/// The user, and each of its keys, as ASFF resources.
fn resources(plan: &Plan, user: &PlanUser, region: &str) -> Vec<Value> {
    let mut resources = vec![json!({
        "Type": "AwsIamUser",
        "Id": user.user_arn,
        "Partition": plan.partition,
        "Region": region,
        "Details": {"AwsIamUser": {"UserName": user.user_name}},
    })];
    // Security Hub takes 32 resources a finding; IAM allows two keys a user.
    resources.extend(user.keys.iter().take(MAX_RESOURCES - 1).map(|key| {
        json!({
            "Type": "AwsIamAccessKey",
            "Id": key.access_key_id,
            "Partition": plan.partition,
            "Region": region,
            "Details": {"AwsIamAccessKey": {
                "AccessKeyId": key.access_key_id,
                "Status": key.status.as_str(),
                "CreatedAt": timestamp(key.created),
                "PrincipalName": user.user_name,
                "PrincipalType": "IAMUser",
                "AccountId": plan.account_id,
            }},
        })
    }));
    resources
}

fn finding(plan: &Plan, user: &PlanUser, context: &FindingContext<'_>) -> Value {
    let after = context.after_runs.get(&user.user_name).copied();
    let (status, severity, state) = standing_of(user, after);
    let mut recommendation = match user.decision {
        Decision::Deactivate if after.is_none() => format!(
            "Review the keytrim plan and apply it: keytrim deactivates {} and keeps {}.",
            user.deactivate.join(", "),
            user.keep.as_deref().unwrap_or("no key")
        ),
        _ => "Keep one active access key per IAM user: review the keytrim plan's reason, then act on the user or record why not.".to_string(),
    };
    if let Some(mark) = super::rotation_mark(plan, user) {
        recommendation = format!("{recommendation} Also: {mark}.");
    }
    let mut finding = json!({
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(plan, user),
        "ProductArn": format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            plan.partition, context.region, plan.account_id, plan.account_id
        ),
        "ProductName": "keytrim",
        "GeneratorId": GENERATOR_ID,
        "AwsAccountId": plan.account_id,
        "Types": [CIS_FINDING_TYPE],
        "CreatedAt": timestamp(plan.generated_at),
        "UpdatedAt": timestamp(context.updated_at),
        "Severity": {"Label": severity},
        "Title": text(&format!("IAM user {} {state} (CIS 1.13)", user.user_name), TITLE_LIMIT),
        "Description": text(&user.reason, DESCRIPTION_LIMIT),
        "Remediation": {"Recommendation": {"Text": text(&recommendation, RECOMMENDATION_LIMIT)}},
        "Resources": resources(plan, user, context.region),
        "Compliance": {"Status": status, "RelatedRequirements": related_requirements()},
        "ProductFields": {
            "keytrim/decision": user.decision.as_str(),
            "keytrim/reviewer_override_of": crate::plan::standing::override_of(plan, user)
                .map_or("", |rule| rule.as_str()),
            "keytrim/rotation_due": user.rotation_due.to_string(),
        },
        "RecordState": "ACTIVE",
    });
    if user.decision == Decision::Exempt && after.is_none() {
        // Taken on the first import only: after that the workflow is the team's.
        finding["Workflow"] = json!({"Status": "SUPPRESSED"});
    }
    finding
}

/// The plan's findings as a JSON array, the `--findings` of `aws securityhub
/// batch-import-findings` (100 at most per call).
pub fn to_asff(plan: &Plan, context: &FindingContext<'_>) -> String {
    let findings: Vec<Value> = plan
        .users
        .iter()
        .filter(|user| !super::rotation_alone(user))
        .map(|user| finding(plan, user, context))
        .collect();
    let mut text =
        serde_json::to_string_pretty(&findings).expect("findings made of JSON values serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::tests::every_decision_plan;

    #[test]
    fn regions_and_nothing_else_go_into_the_product_arn() {
        for region in [
            "us-east-1",
            "eu-west-3",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-5",
        ] {
            assert!(is_region(region), "{region}");
        }
        for other in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-0",
            "us:east-1",
            "us-east-1/x",
            "a-b-1",
        ] {
            assert!(!is_region(other), "{other}");
        }
    }

    /// One finding per listed user, each id stable and tied to account and user;
    /// a user the runs brought into line is PASSED with the same id.
    #[test]
    fn one_finding_per_user_with_a_stable_id() {
        let plan = every_decision_plan();
        let none = HashMap::new();
        let context = FindingContext {
            region: "eu-west-1",
            updated_at: plan.generated_at,
            after_runs: &none,
        };
        let findings: Vec<Value> = serde_json::from_str(&to_asff(&plan, &context)).unwrap();
        assert_eq!(findings.len(), plan.users.len());
        let alice = findings
            .iter()
            .find(|f| f["Id"] == "keytrim/cis-aws-1.13/123456789012/alice")
            .unwrap();
        assert_eq!(alice["Compliance"]["Status"], "FAILED");
        assert_eq!(
            alice["ProductArn"],
            "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
        );
        let fixed = HashMap::from([
            ("alice".to_string(), AfterRuns::InLine),
            ("hank".to_string(), AfterRuns::NotConfirmed),
        ]);
        let later = FindingContext {
            after_runs: &fixed,
            ..context
        };
        let after: Vec<Value> = serde_json::from_str(&to_asff(&plan, &later)).unwrap();
        let ids = |all: &[Value]| all.iter().map(|f| f["Id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(&findings), ids(&after));
        let alice = after.iter().find(|f| f["Id"] == alice["Id"]).unwrap();
        assert_eq!(alice["Compliance"]["Status"], "PASSED");
        let hank = after
            .iter()
            .find(|f| f["Id"] == "keytrim/cis-aws-1.13/123456789012/hank")
            .unwrap();
        assert_eq!(hank["Compliance"]["Status"], "NOT_AVAILABLE");
    }

    /// An edited plan cannot make a finding Security Hub refuses: a blank reason is
    /// not a blank description, text is cut in UTF-16 units, and a user listed with
    /// more keys than IAM allows still has at most 32 resources.
    #[test]
    fn an_edited_plan_still_gives_findings_within_security_hubs_limits() {
        let mut plan = every_decision_plan();
        let user = &mut plan.users[0];
        user.reason = " \t ".into();
        let key = user.keys[0].clone();
        user.keys = (0..40)
            .map(|n| crate::plan::PlanKey {
                access_key_id: format!("AKIAEXAMPLEMANY{n:05}"),
                ..key.clone()
            })
            .collect();
        plan.users[1].reason = "\u{1f600}".repeat(1500);
        let none = HashMap::new();
        let context = FindingContext {
            region: "us-east-1",
            updated_at: plan.generated_at,
            after_runs: &none,
        };
        let findings: Vec<Value> = serde_json::from_str(&to_asff(&plan, &context)).unwrap();
        let units = |value: &Value| value.as_str().unwrap().encode_utf16().count();
        for finding in &findings {
            assert!(units(&finding["Title"]) <= TITLE_LIMIT);
            assert!(units(&finding["Description"]) <= DESCRIPTION_LIMIT);
            assert!(!finding["Description"].as_str().unwrap().trim().is_empty());
            assert!(
                units(&finding["Remediation"]["Recommendation"]["Text"]) <= RECOMMENDATION_LIMIT
            );
            assert!(finding["Resources"].as_array().unwrap().len() <= MAX_RESOURCES);
        }
        assert_eq!(
            findings[0]["Resources"].as_array().unwrap().len(),
            MAX_RESOURCES
        );
    }

    #[test]
    fn a_region_must_be_in_the_plans_partition() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-isob-east-1", "aws-iso-b"),
            ("us-iso-east-1", "aws-iso"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            assert!(
                region_in_partition(region, partition),
                "{region} {partition}"
            );
        }
        assert!(!region_in_partition("cn-north-1", "aws"));
        assert!(!region_in_partition("us-east-1", "aws-cn"));
        assert!(!is_region("us-east-01"));
    }

    #[test]
    fn long_text_is_cut_to_the_limit_and_hidden_characters_written_out() {
        let long = "x".repeat(2000);
        assert_eq!(
            text(&long, DESCRIPTION_LIMIT).chars().count(),
            DESCRIPTION_LIMIT
        );
        assert_eq!(text("a\u{1b}[8mb", 100), "a\\u{1b}[8mb");
    }
}
