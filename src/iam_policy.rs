//! The least-privilege IAM policy documents each phase needs, and the CloudFormation
//! templates that deploy them: a phase's role (in one account, or in every member
//! account through a StackSet), and the pipeline's roles for GitHub's OIDC provider.

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

/// Organizations actions `keytrim apply --org-role` calls from the management account:
/// none, since a plan (or a journal) names its account.
pub(crate) const APPLY_ORGANIZATION_ACTIONS: &[&str] = &[];

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
pub(crate) fn audit_policy() -> Value {
    document("KeytrimAuditReadOnly", AUDIT_ACTIONS)
}

/// Secrets Manager actions `keytrim audit --rotation` calls, on the secrets a user's
/// `keytrim:rotate-to` tag names: their description, and AWSCURRENT's value (only its
/// access key id is kept).
pub(crate) const AUDIT_ROTATION_ACTIONS: &[&str] = &[
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
];

/// A statement allowing `actions` only on resources that carry the tag `tag`.
fn on_tagged(sid: &str, actions: &[&str], tag: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": "*",
        "Condition": { "Null": { format!("aws:ResourceTag/{tag}"): "false" } }
    })
}

/// A statement allowing the KMS `actions` only through Secrets Manager, in any region
/// and partition.
fn through_secrets_manager(sid: &str, actions: &[&str]) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": "*",
        "Condition": { "StringLike": { "kms:ViaService": [
            "secretsmanager.*.amazonaws.com",
            "secretsmanager.*.amazonaws.com.cn"
        ] } }
    })
}

/// `policy` with `statements` added.
fn with_statements(mut policy: Value, statements: impl IntoIterator<Item = Value>) -> Value {
    policy["Statement"]
        .as_array_mut()
        .expect("a policy has statements")
        .extend(statements);
    policy
}

/// The policy for `keytrim audit --rotation`: the audit's, and the secrets' reads
/// limited to secrets that carry the `keytrim:rotates` tag, and their KMS key's
/// decryption only through Secrets Manager. A role with it can read the access keys
/// held in those secrets; docs/rotation.md says so.
pub(crate) fn audit_rotation_policy() -> Value {
    with_statements(
        audit_policy(),
        [
            on_tagged(
                "KeytrimReadBoundSecrets",
                AUDIT_ROTATION_ACTIONS,
                "keytrim:rotates",
            ),
            through_secrets_manager("KeytrimDecryptBoundSecrets", &["kms:Decrypt"]),
        ],
    )
}

/// The policy for `keytrim apply` and `keytrim rollback`.
pub(crate) fn apply_policy() -> Value {
    document("KeytrimApply", APPLY_ACTIONS)
}

/// IAM actions the rotation hand-off adds to apply, on users tagged
/// `keytrim:rotate-to` only: the new key, and the clean-up's deletion of a key no
/// version of the secret ever held.
pub(crate) const APPLY_ROTATION_USER_ACTIONS: &[&str] =
    &["iam:CreateAccessKey", "iam:DeleteAccessKey"];

/// Secrets Manager actions the rotation hand-off calls, on secrets tagged
/// `keytrim:rotates` only: the reads the audit makes, the staging and promotion, and
/// the labels read back.
pub(crate) const APPLY_ROTATION_SECRET_ACTIONS: &[&str] = &[
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
];

/// The policy for `keytrim apply` of a plan with the rotation hand-off: apply's, plus
/// the new key on tagged users, the tagged secrets' reads and writes, and their KMS
/// key's use only through Secrets Manager. A role with it can read and replace the
/// access keys those secrets hold; docs/rotation-guide.md says so.
pub(crate) fn apply_rotation_policy() -> Value {
    with_statements(
        apply_policy(),
        [
            on_tagged(
                "KeytrimNewKeyForBoundUsers",
                APPLY_ROTATION_USER_ACTIONS,
                "keytrim:rotate-to",
            ),
            on_tagged(
                "KeytrimRotateBoundSecrets",
                APPLY_ROTATION_SECRET_ACTIONS,
                "keytrim:rotates",
            ),
            through_secrets_manager(
                "KeytrimUseKeysOfBoundSecrets",
                &["kms:Decrypt", "kms:GenerateDataKey"],
            ),
        ],
    )
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
    let mut management = vec![json!({
        "Sid": "KeytrimAssumeMemberRole",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": format!("arn:{partition}:iam::*:role/{role_name}"),
        "Condition": { "StringEquals": { "aws:ResourceOrgID": "${aws:PrincipalOrgID}" } }
    })];
    if !organization_actions.is_empty() {
        management.insert(
            0,
            json!({
                "Sid": "KeytrimListAccounts",
                "Effect": "Allow",
                "Action": organization_actions,
                "Resource": "*"
            }),
        );
    }
    json!({
        "management_account_policy": {
            "Version": "2012-10-17",
            "Statement": management
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

/// The session names keytrim gives the member roles it assumes (`keytrim-audit`,
/// `keytrim-apply`, `keytrim-rollback`). The caller chooses its session name, so this
/// keeps CloudTrail's record plain rather than limiting who assumes the role.
const KEYTRIM_SESSIONS: &str = "keytrim-*";

/// A CloudFormation template of the role one phase needs in one account: trusted by one
/// named principal (a role or user ARN, never a wildcard), with the phase's policy.
/// With `organization`, the role is the member role `keytrim ... --org-role` assumes,
/// for a service-managed StackSet: it trusts only keytrim's own session names.
pub(crate) fn role_template(
    role_name: &str,
    phase: &str,
    phase_policy: Value,
    organization: bool,
) -> Value {
    let mut trust = json!({
        "Effect": "Allow",
        "Principal": { "AWS": { "Ref": "TrustedPrincipalArn" } },
        "Action": "sts:AssumeRole"
    });
    let description = if organization {
        trust["Condition"] = json!({ "StringLike": { "sts:RoleSessionName": KEYTRIM_SESSIONS } });
        format!(
            "keytrim {phase} member role {role_name}, assumed by `keytrim {phase} --org-role {role_name}` from the principal in TrustedPrincipalArn. Deploy it to every member account with a service-managed StackSet (automatic deployment to the OUs)."
        )
    } else {
        format!(
            "keytrim {phase} role {role_name}, assumed by the principal in TrustedPrincipalArn."
        )
    };
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description,
        "Parameters": {
            "TrustedPrincipalArn": {
                "Type": "String",
                "Description": "The one role or user that may assume this role (with --org: the pipeline role in the management account, e.g. KeytrimAuditPipeline's ARN).",
                "AllowedPattern": "^arn:aws(-[a-z0-9]+)*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$"
            }
        },
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": role_name,
                    "Description": format!("keytrim {phase}: least privilege, from `keytrim iam-policy {phase}`"),
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [trust]
                    },
                    "Policies": [{ "PolicyName": format!("keytrim-{phase}"), "PolicyDocument": phase_policy }]
                }
            }
        },
        "Outputs": {
            "RoleArn": { "Value": { "Fn::GetAtt": ["Role", "Arn"] } }
        }
    })
}

/// The trust of a pipeline role: GitHub's OIDC provider, for tokens meant for STS
/// whose subject matches `subject` (a CloudFormation expression) by `operator`
/// (`StringEquals` for one branch, `StringLike` for a pattern).
fn github_trust(subject: Value, operator: &str) -> Value {
    let mut condition = json!({
        "StringEquals": { "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" }
    });
    // Under one operator the two keys must share its object, or one would replace the
    // other (and the audience would go unchecked).
    condition[operator]["token.actions.githubusercontent.com:sub"] = subject;
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {
                // The provider's own ARN when the template creates it, so that the
                // roles are created after it.
                "Federated": {
                    "Fn::If": [
                        "CreateProvider",
                        { "Ref": "GitHubOidcProvider" },
                        { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:oidc-provider/token.actions.githubusercontent.com" }
                    ]
                }
            },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition
        }]
    })
}

/// With the Organization condition: the management account's reads of the accounts,
/// and the assumption of the member role in each.
fn organization_policy(name: &str, actions: &[&str], member_role_parameter: &str) -> Value {
    let mut statements = Vec::new();
    if !actions.is_empty() {
        statements.push(json!({ "Effect": "Allow", "Action": actions, "Resource": "*" }));
    }
    statements.push(json!({
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": { "Fn::Sub": format!("arn:${{AWS::Partition}}:iam::*:role/${{{member_role_parameter}}}") },
        // Only the member role of this Organization's accounts: a role of that name
        // elsewhere is not keytrim's.
        "Condition": {
            "StringEquals": { "aws:ResourceOrgID": "${aws:PrincipalOrgID}" }
        }
    }));
    json!({
        "Fn::If": ["WithOrganization", {
            "PolicyName": name,
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": statements
            }
        }, { "Ref": "AWS::NoValue" }]
    })
}

/// The pipeline template's parameters: the repository, where apply may run from,
/// whether to create GitHub's OIDC provider, and whether this is an Organization's
/// management account.
fn pipeline_parameters() -> Value {
    json!({
        "GitHubRepository": {
            "Type": "String",
            "Description": "owner/name of the repository whose workflows run keytrim.",
            "AllowedPattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
        },
        "ApplyBranch": {
            "Type": "String",
            "Default": "main",
            "Description": "The only branch whose workflows may apply.",
            "AllowedPattern": "^[A-Za-z0-9_./-]+$"
        },
        "ApplyEnvironment": {
            "Type": "String",
            "Default": "",
            "Description": "A GitHub environment to apply from instead of the branch (empty: the branch).",
            "AllowedPattern": "^[A-Za-z0-9_.-]*$"
        },
        "CreateOidcProvider": {
            "Type": "String",
            "Default": "true",
            "AllowedValues": ["true", "false"],
            "Description": "false when the account has GitHub's OIDC provider already."
        },
        "AuditMemberRoleName": {
            "Type": "String",
            "Default": "KeytrimAudit",
            "Description": "With Organization: the member role `keytrim audit --org-role` assumes in each account.",
            "AllowedPattern": "^[A-Za-z0-9+=,.@_-]{1,64}$"
        },
        "ApplyMemberRoleName": {
            "Type": "String",
            "Default": "KeytrimApply",
            "Description": "With Organization: the member role `keytrim apply --org-role` assumes in each account.",
            "AllowedPattern": "^[A-Za-z0-9+=,.@_-]{1,64}$"
        },
        "Organization": {
            "Type": "String",
            "Default": "false",
            "AllowedValues": ["true", "false"],
            "Description": "true in an Organization's management account: the roles may list the accounts and assume KeytrimAudit and KeytrimApply in each."
        }
    })
}

/// A CloudFormation template of the pipeline's two roles, trusted by GitHub's OIDC
/// provider: `KeytrimAuditPipeline` from any branch of one repository, and
/// `KeytrimApplyPipeline` only from its main branch (or a named environment). With
/// `Organization`, each may also list the accounts and assume the member role.
pub(crate) fn pipeline_template() -> Value {
    let apply_subject = json!({
        "Fn::If": [
            "ApplyFromEnvironment",
            { "Fn::Sub": "repo:${GitHubRepository}:environment:${ApplyEnvironment}" },
            { "Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/${ApplyBranch}" }
        ]
    });
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "keytrim's pipeline roles for GitHub Actions (OIDC): KeytrimAuditPipeline for the scheduled audit from any branch of one repository, KeytrimApplyPipeline for apply on merge, only from its main branch or a named environment.",
        "Parameters": pipeline_parameters(),
        "Conditions": {
            "CreateProvider": { "Fn::Equals": [{ "Ref": "CreateOidcProvider" }, "true"] },
            "WithOrganization": { "Fn::Equals": [{ "Ref": "Organization" }, "true"] },
            "ApplyFromEnvironment": { "Fn::Not": [{ "Fn::Equals": [{ "Ref": "ApplyEnvironment" }, ""] }] }
        },
        "Resources": {
            "GitHubOidcProvider": {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": "CreateProvider",
                "Properties": {
                    "Url": "https://token.actions.githubusercontent.com",
                    "ClientIdList": ["sts.amazonaws.com"]
                }
            },
            "AuditPipelineRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "KeytrimAuditPipeline",
                    "Description": "keytrim audit from GitHub Actions, any branch of one repository",
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": github_trust(json!({ "Fn::Sub": "repo:${GitHubRepository}:*" }), "StringLike"),
                    "Policies": [
                        { "PolicyName": "keytrim-audit", "PolicyDocument": audit_policy() },
                        organization_policy("keytrim-audit-organization", AUDIT_ORGANIZATION_ACTIONS, "AuditMemberRoleName")
                    ]
                }
            },
            "ApplyPipelineRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "KeytrimApplyPipeline",
                    "Description": "keytrim apply from GitHub Actions, only from the main branch or a named environment",
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": github_trust(apply_subject, "StringEquals"),
                    "Policies": [
                        { "PolicyName": "keytrim-apply", "PolicyDocument": apply_policy() },
                        organization_policy("keytrim-apply-organization", APPLY_ORGANIZATION_ACTIONS, "ApplyMemberRoleName")
                    ]
                }
            }
        },
        "Outputs": {
            "AuditRoleArn": { "Value": { "Fn::GetAtt": ["AuditPipelineRole", "Arn"] } },
            "ApplyRoleArn": { "Value": { "Fn::GetAtt": ["ApplyPipelineRole", "Arn"] } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action a policy allows, read from its statements (an `Action` is a string
    /// or a list).
    fn actions(policy: &Value) -> Vec<String> {
        policy["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .flat_map(|statement| match &statement["Action"] {
                Value::String(action) => vec![action.clone()],
                Value::Array(list) => list
                    .iter()
                    .map(|action| action.as_str().expect("an action").to_string())
                    .collect(),
                other => panic!("an Action that is neither a string nor a list: {other}"),
            })
            .collect()
    }

    /// Only apply may update keys; nothing may create or delete anything; every action is
    /// named whole (no wildcard like `iam:*` or `iam:List*`). IAM's list actions take no
    /// resource-level restriction, so `Resource` is `*` and the actions are the bound.
    #[test]
    fn only_apply_may_update_keys_and_no_action_is_a_wildcard() {
        assert!(
            !actions(&audit_policy())
                .iter()
                .any(|a| a == "iam:UpdateAccessKey")
        );
        assert!(
            actions(&apply_policy())
                .iter()
                .any(|a| a == "iam:UpdateAccessKey")
        );
        for policy in [audit_policy(), apply_policy()] {
            for action in actions(&policy) {
                let (service, name) = action.split_once(':').expect("service:Action");
                assert!(!service.is_empty() && !name.is_empty(), "{action}");
                assert!(!action.contains('*') && !action.contains('?'), "{action}");
                assert!(
                    !name.starts_with("Delete") && !name.starts_with("Create"),
                    "{action}"
                );
            }
        }
    }

    /// The rotation hand-off's apply policy creates and deletes keys only of users
    /// tagged keytrim:rotate-to, and touches only secrets tagged keytrim:rotates; no
    /// action is a wildcard.
    #[test]
    fn the_rotation_writes_only_to_tagged_users_and_secrets() {
        let policy = apply_rotation_policy();
        for statement in policy["Statement"].as_array().expect("statements") {
            let listed = actions(&json!({ "Statement": [statement] }));
            let tag = if listed
                .iter()
                .any(|a| a.starts_with("iam:Create") || a.starts_with("iam:Delete"))
            {
                Some("aws:ResourceTag/keytrim:rotate-to")
            } else if listed.iter().any(|a| a.starts_with("secretsmanager:")) {
                Some("aws:ResourceTag/keytrim:rotates")
            } else {
                None
            };
            if let Some(tag) = tag {
                assert_eq!(statement["Condition"]["Null"][tag], "false", "{statement}");
                assert!(
                    listed
                        .iter()
                        .all(|a| !a.starts_with("iam:Update") && !a.starts_with("iam:List")),
                    "{statement}"
                );
            }
            for action in listed {
                assert!(!action.contains('*') && !action.contains('?'), "{action}");
            }
        }
        let all = actions(&policy);
        for needed in APPLY_ROTATION_USER_ACTIONS
            .iter()
            .chain(APPLY_ROTATION_SECRET_ACTIONS)
        {
            assert!(all.iter().any(|a| a == needed), "{needed}");
        }
    }

    /// The check itself sees a wildcard wherever the JSON puts it.
    #[test]
    fn a_wildcard_action_is_seen_in_a_string_or_a_list() {
        let single = json!({"Statement": [{"Action": "iam:*", "Resource": "*"}]});
        let listed = json!({"Statement": [{"Action": ["iam:List*"], "Resource": "*"}]});
        assert_eq!(actions(&single), ["iam:*"]);
        assert_eq!(actions(&listed), ["iam:List*"]);
    }
}
