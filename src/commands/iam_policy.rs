//! `keytrim iam-policy PHASE`: the least-privilege policies, or CloudFormation
//! templates that create the roles.

use crate::error::Result;
use crate::exit::ExitStatus;
use crate::shell::cli::{IamPolicyArgs, Phase, PolicyFormat};
use crate::shell::output;

pub(super) fn run(args: &IamPolicyArgs) -> Result<ExitStatus> {
    let (policy, organization_actions, default_role) = match args.phase {
        Phase::Audit if args.rotation => (
            crate::iam_policy::audit_rotation_policy(),
            crate::iam_policy::AUDIT_ORGANIZATION_ACTIONS,
            "KeytrimAudit",
        ),
        Phase::Audit => (
            crate::iam_policy::audit_policy(),
            crate::iam_policy::AUDIT_ORGANIZATION_ACTIONS,
            "KeytrimAudit",
        ),
        Phase::Apply if args.rotation => (
            crate::iam_policy::apply_rotation_policy(),
            crate::iam_policy::APPLY_ORGANIZATION_ACTIONS,
            "KeytrimApply",
        ),
        Phase::Apply => (
            crate::iam_policy::apply_policy(),
            crate::iam_policy::APPLY_ORGANIZATION_ACTIONS,
            "KeytrimApply",
        ),
        // `check_usage` saw that the format is CloudFormation.
        Phase::Pipeline => return print_json(&crate::iam_policy::pipeline_template()),
    };
    let role = args.org_role.as_deref().unwrap_or(default_role);
    let phase = if args.phase == Phase::Audit {
        "audit"
    } else {
        "apply"
    };
    let document = match (args.format, args.org) {
        (PolicyFormat::Cloudformation, organization) => {
            crate::iam_policy::role_template(role, phase, policy, organization)
        }
        (PolicyFormat::Json, true) => {
            crate::iam_policy::organization(role, &args.partition, organization_actions, policy)
        }
        (PolicyFormat::Json, false) => policy,
    };
    print_json(&document)
}

/// A JSON document on stdout, pretty, with a trailing newline.
fn print_json(document: &serde_json::Value) -> Result<ExitStatus> {
    let mut text = serde_json::to_string_pretty(document).expect("policy documents serialise");
    text.push('\n');
    output::stdout(&text)?;
    Ok(ExitStatus::Ok)
}
