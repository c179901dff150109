//! The plan file itself: a header comment that says what it is and how to use it, then
//! the YAML.

use crate::plan::Plan;

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
