//! The least-privilege IAM policy documents each phase needs.

use serde_json::{Value, json};

/// Actions `keytrim audit` calls. All are read-only, but for the credential report's
/// generation, which writes nothing to users or keys.
pub(crate) const AUDIT_ACTIONS: &[&str] = &[
    "iam:GenerateCredentialReport",
    "iam:GetAccessKeyLastUsed",
    "iam:GetCredentialReport",
    "iam:ListAccessKeys",
    "iam:ListUserTags",
    "iam:ListUsers",
];

/// Organizations actions `keytrim audit --org-role` calls from the management account:
/// the accounts, and with `--ou` the units and the accounts in each.
pub(crate) const AUDIT_ORGANIZATION_ACTIONS: &[&str] = &[
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListChildren",
];

/// Organizations actions `keytrim apply --org-role` is granted from the management
/// account.
pub(crate) const APPLY_ORGANIZATION_ACTIONS: &[&str] = &["organizations:ListAccounts"];

/// Actions `keytrim apply` and `keytrim rollback` call: the drift check reads keys,
/// their last use and the user's tags (an exemption added since the audit), then the
/// one write.
pub(crate) const APPLY_ACTIONS: &[&str] = &[
    "iam:GetAccessKeyLastUsed",
    "iam:ListAccessKeys",
    "iam:ListUserTags",
    "iam:UpdateAccessKey",
];

fn document(sid: &str, actions: &[&str]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": "*"
            },
            {
                "Sid": "KeytrimWhoAmI",
                "Effect": "Allow",
                "Action": ["sts:GetCallerIdentity"],
                "Resource": "*"
            }
        ]
    })
}

/// The policy for `keytrim audit`.
pub(crate) fn audit() -> Value {
    document("KeytrimAuditReadOnly", AUDIT_ACTIONS)
}

/// The policy for `keytrim apply` and `keytrim rollback`.
pub(crate) fn apply() -> Value {
    document("KeytrimApply", APPLY_ACTIONS)
}

/// For an Organization: what the management account's caller needs, and the role each
/// member account needs (its trust policy names the management account).
/// `organization_actions` are the Organizations calls the phase makes from there; the
/// role ARNs are in `partition`.
pub(crate) fn organization(
    role_name: &str,
    partition: &str,
    organization_actions: &[&str],
    phase_policy: Value,
) -> Value {
    json!({
        "management_account_policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "KeytrimListAccounts",
                    "Effect": "Allow",
                    "Action": organization_actions,
                    "Resource": "*"
                },
                {
                    "Sid": "KeytrimAssumeMemberRole",
                    "Effect": "Allow",
                    "Action": ["sts:AssumeRole"],
                    "Resource": format!("arn:{partition}:iam::*:role/{role_name}")
                }
            ]
        },
        "member_role_name": role_name,
        "member_role_trust_policy": {
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "KeytrimFromManagementAccount",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:{partition}:iam::MANAGEMENT_ACCOUNT_ID:root") },
                "Action": "sts:AssumeRole",
                "Condition": { "StringLike": { "sts:RoleSessionName": "keytrim-*" } }
            }]
        },
        "member_role_permissions_policy": phase_policy
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_apply_may_update_keys() {
        assert!(!audit().to_string().contains("UpdateAccessKey"));
        assert!(apply().to_string().contains("iam:UpdateAccessKey"));
        for policy in [audit(), apply()] {
            let text = policy.to_string();
            assert!(
                !text.contains("Delete") && !text.contains("Create") && !text.contains("\"*\"]")
            );
        }
    }
}
