//! The plan as SARIF 2.1.0, for GitHub code scanning: one result per user to act on or
//! look at, located at the user's line in the plan file.

use crate::plan::{Plan, PlanUser};
use crate::rule::Decision;
use crate::safe_text;

/// The SARIF rule id of CIS AWS Foundations Benchmark 1.13.
const SARIF_RULE_ID: &str = "CIS-AWS-1.13";

/// The SARIF rule id of the rotation of keys over the maximum age (CIS 1.14: keys
/// rotated every 90 days or less), for kept keys due for rotation.
const ROTATION_RULE_ID: &str = "CIS-AWS-1.14";

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
    // A user with one active key breaks no rule of CIS 1.13: under --rotation it is
    // listed for its key's age alone, a result of the rotation rule.
    let mut results: Vec<serde_json::Value> = plan
        .users
        .iter()
        .filter(|user| !super::rotation_alone(user))
        .map(|user| sarif_result(plan, user, plan_uri, line_of(&user.user_name)))
        .collect();
    results.extend(
        plan.users
            .iter()
            .filter_map(|user| rotation_result(plan, user, plan_uri, line_of(&user.user_name))),
    );
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
                    "rules": [sarif_rule(), rotation_rule()]
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
    let cis_numbers: serde_json::Map<String, serde_json::Value> = crate::plan::model::CIS_NUMBERS
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

/// The rotation rule: a kept key over the maximum age is due for rotation.
fn rotation_rule() -> serde_json::Value {
    serde_json::json!({
        "id": ROTATION_RULE_ID,
        "name": "KeptAccessKeyDueForRotation",
        "shortDescription": {
            "text": "Ensure access keys are rotated every 90 days or less"
        },
        "fullDescription": {
            "text": "CIS AWS Foundations Benchmark control 1.14: the key keytrim keeps for a user with no key under the maximum age is over that age and due for rotation."
        },
        "helpUri": "https://www.cisecurity.org/benchmark/amazon_web_services",
        "help": {
            "text": "Create a new key, move the application to it, then deactivate the old one."
        },
        "defaultConfiguration": { "level": "note" },
        "properties": { "tags": ["security", "CIS AWS Foundations Benchmark"] }
    })
}

/// Where a user's result points: the user's entry in the plan file, and the user.
fn location(user: &PlanUser, plan_uri: &str, line: usize) -> serde_json::Value {
    serde_json::json!({
        "physicalLocation": {
            "artifactLocation": { "uri": plan_uri },
            "region": { "startLine": line }
        },
        "logicalLocations": [{
            "name": user.user_name,
            "fullyQualifiedName": user.user_arn,
            "kind": "object"
        }]
    })
}

/// A note that the user's kept key, or its one key, is due for rotation, when it is;
/// for a hand-off, what apply does and the secret.
fn rotation_result(
    plan: &Plan,
    user: &PlanUser,
    plan_uri: &str,
    line: usize,
) -> Option<serde_json::Value> {
    let mark = match super::rotation_mark(plan, user) {
        Some(mark) => mark,
        None if super::rotation_alone(user) => safe_text::escape(&user.reason).into_owned(),
        None => return None,
    };
    let mut result = serde_json::json!({
        "ruleId": ROTATION_RULE_ID,
        "ruleIndex": 1,
        "level": "note",
        "kind": "fail",
        "message": { "text": format!("IAM user {}: {mark}", user.user_name) },
        "locations": [location(user, plan_uri, line)],
        "partialFingerprints": { "keytrimUserArn/v1": user.user_arn },
        "properties": {
            "decision": user.decision.as_str(),
            "accountId": plan.account_id,
            "rotationDue": true
        }
    });
    if let Some(rotate_to) = &user.rotate_to {
        result["properties"]["rotateTo"] = rotate_to.secret_arn.clone().into();
    }
    Some(result)
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
            safe_text::escape(&user.reason)
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
            safe_text::escape(&user.reason)
        )
    };
    let mut result = serde_json::json!({
        "ruleId": SARIF_RULE_ID,
        "ruleIndex": 0,
        "level": level,
        "kind": "fail",
        "message": { "text": finding },
        "locations": [location(user, plan_uri, line)],
        "partialFingerprints": { "keytrimUserArn/v1": user.user_arn },
        "properties": { "decision": user.decision.as_str(), "accountId": plan.account_id }
    });
    let descriptions: serde_json::Map<String, serde_json::Value> = user
        .keys
        .iter()
        .filter_map(|key| {
            let description = key.description.as_deref()?;
            Some((
                key.access_key_id.clone(),
                safe_text::escape(description).into(),
            ))
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
            "justification": safe_text::escape(&user.reason)
        }]);
    }
    result
}
