//! `keytrim iam-policy`: the policies are valid JSON with only the actions each phase
//! needs, and the templates that deploy keytrim's roles (`--format cloudformation`) are
//! valid CloudFormation according to AWS's own linter (cfn-lint), no trust policy names
//! a wildcard principal, and the apply pipeline role trusts only one branch (or
//! environment) of one repository.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::keytrim_isolated;

const INSTALL: &str = "cfn-lint not found: run scripts/test.sh (it installs cfn-lint==1.58.0 into .tools/cfn-venv), or point KEYTRIM_CFN_LINT at cfn-lint";

fn cfn_lint() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYTRIM_CFN_LINT") {
        return PathBuf::from(path);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/cfn-venv/bin/cfn-lint");
    assert!(local.exists(), "{INSTALL}");
    local
}

/// Every template keytrim prints, by its arguments.
const TEMPLATES: &[&[&str]] = &[
    &["audit", "--format", "cloudformation"],
    &["apply", "--format", "cloudformation"],
    &["audit", "--org", "--format", "cloudformation"],
    &[
        "apply",
        "--org",
        "--org-role",
        "SecurityKeytrim",
        "--format",
        "cloudformation",
    ],
    &["pipeline", "--format", "cloudformation"],
    &["audit", "--rotation", "--format", "cloudformation"],
    &["audit", "--rotation", "--org", "--format", "cloudformation"],
    &["apply", "--rotation", "--format", "cloudformation"],
    &["apply", "--rotation", "--org", "--format", "cloudformation"],
];

fn template(args: &[&str]) -> (tempfile::TempDir, PathBuf, Value) {
    let dir = tempfile::tempdir().unwrap();
    let output = keytrim_isolated(dir.path())
        .arg("iam-policy")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
    let path = dir.path().join("template.json");
    std::fs::write(&path, &output.stdout).unwrap();
    let document = serde_json::from_slice(&output.stdout).unwrap();
    (dir, path, document)
}

#[test]
fn every_template_passes_cfn_lint() {
    for args in TEMPLATES {
        let (_dir, path, _) = template(args);
        let output = Command::new(cfn_lint())
            .arg(&path)
            .output()
            .unwrap_or_else(|err| panic!("{INSTALL}: {err}"));
        assert!(
            output.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The trust policies of a template's roles.
fn trusts(document: &Value) -> Vec<&Value> {
    document["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|resource| resource["Type"] == "AWS::IAM::Role")
        .map(|role| &role["Properties"]["AssumeRolePolicyDocument"])
        .collect()
}

#[test]
fn no_trust_policy_names_a_wildcard_principal() {
    for args in TEMPLATES {
        let (_dir, _, document) = template(args);
        let trusts = trusts(&document);
        assert!(!trusts.is_empty(), "{args:?}");
        for trust in trusts {
            for statement in trust["Statement"].as_array().unwrap() {
                let principal = statement["Principal"].to_string();
                assert!(
                    !principal.contains('*') && statement.get("NotPrincipal").is_none(),
                    "{args:?}: {principal}"
                );
                assert_eq!(statement["Effect"], "Allow");
            }
        }
    }
    // The check itself finds one.
    let wildcard: Value = serde_json::json!({"Principal": {"AWS": "*"}});
    assert!(wildcard["Principal"].to_string().contains('*'));
}

#[test]
fn the_apply_pipeline_role_trusts_one_branch_or_environment_of_one_repository() {
    let (_dir, _, document) = template(&["pipeline", "--format", "cloudformation"]);
    let resources = &document["Resources"];
    let apply = &resources["ApplyPipelineRole"]["Properties"];
    assert_eq!(apply["RoleName"], "KeytrimApplyPipeline");
    let condition = &apply["AssumeRolePolicyDocument"]["Statement"][0]["Condition"];
    assert_eq!(
        condition["StringEquals"]["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    let subject = condition["StringEquals"]["token.actions.githubusercontent.com:sub"].to_string();
    assert!(
        subject.contains("repo:${GitHubRepository}:ref:refs/heads/${ApplyBranch}")
            && subject.contains("repo:${GitHubRepository}:environment:${ApplyEnvironment}")
            && !subject.contains('*'),
        "{subject}"
    );
    assert!(condition.get("StringLike").is_none(), "{condition}");
    let audit = &resources["AuditPipelineRole"]["Properties"];
    assert_eq!(audit["RoleName"], "KeytrimAuditPipeline");
    let audit_condition = &audit["AssumeRolePolicyDocument"]["Statement"][0]["Condition"];
    assert_eq!(
        audit_condition["StringLike"]["token.actions.githubusercontent.com:sub"]["Fn::Sub"],
        "repo:${GitHubRepository}:*"
    );
    assert_eq!(
        audit_condition["StringEquals"]["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    // In an Organization, each may assume its member role (named by a parameter, so
    // `--org-role NAME` works), in the Organization's own accounts only; apply lists
    // no accounts (a plan names its account).
    for (role, parameter) in [
        (audit, "AuditMemberRoleName"),
        (apply, "ApplyMemberRoleName"),
    ] {
        let statements = &role["Policies"][1]["Fn::If"][1]["PolicyDocument"]["Statement"];
        let assume = statements
            .as_array()
            .unwrap()
            .iter()
            .find(|statement| statement["Action"][0] == "sts:AssumeRole")
            .unwrap();
        assert_eq!(
            assume["Condition"]["StringEquals"]["aws:ResourceOrgID"],
            "${aws:PrincipalOrgID}"
        );
        assert!(
            assume["Resource"]["Fn::Sub"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":role/${{{parameter}}}")),
            "{assume}"
        );
    }
    assert!(!apply.to_string().contains("organizations:"));
    // Only the apply role may change keys.
    assert!(!audit.to_string().contains("UpdateAccessKey"));
    assert!(apply.to_string().contains("iam:UpdateAccessKey"));
}

/// The member role for a StackSet trusts one principal, for keytrim's own sessions.
#[test]
fn the_member_role_trusts_one_principal_for_keytrims_sessions() {
    let (_dir, _, document) = template(&["audit", "--org", "--format", "cloudformation"]);
    let role = &document["Resources"]["Role"]["Properties"];
    assert_eq!(role["RoleName"], "KeytrimAudit");
    let statement = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(statement["Principal"]["AWS"]["Ref"], "TrustedPrincipalArn");
    assert_eq!(
        statement["Condition"]["StringLike"]["sts:RoleSessionName"],
        "keytrim-*"
    );
    let output = keytrim_isolated(tempfile::tempdir().unwrap().path())
        .args(["iam-policy", "pipeline"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn iam_policies_are_valid_json_with_only_the_needed_actions() {
    let dir = tempfile::tempdir().unwrap();
    let policy = |phase: &str| -> serde_json::Value {
        let output = keytrim_isolated(dir.path())
            .args(["iam-policy", phase])
            .output()
            .unwrap();
        assert!(output.status.success());
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let audit = policy("audit");
    assert_eq!(audit["Version"], "2012-10-17");
    let actions = audit["Statement"][0]["Action"].as_array().unwrap();
    assert!(actions.contains(&"iam:ListAccessKeys".into()));
    assert!(!audit.to_string().contains("UpdateAccessKey"));
    assert!(!audit.to_string().contains("secretsmanager"));
    let apply = policy("apply");
    assert!(
        apply["Statement"][0]["Action"]
            .as_array()
            .unwrap()
            .contains(&"iam:UpdateAccessKey".into())
    );
}

/// `audit --rotation` reads the secrets users name: only secrets that carry the
/// keytrim:rotates tag, decrypted only through Secrets Manager, and nothing written.
#[test]
fn the_rotation_audit_reads_only_secrets_tagged_for_keytrim() {
    let dir = tempfile::tempdir().unwrap();
    let output = keytrim_isolated(dir.path())
        .args(["iam-policy", "audit", "--rotation"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let policy: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let secrets = statements
        .iter()
        .find(|s| s["Sid"] == "KeytrimReadBoundSecrets")
        .unwrap();
    assert_eq!(
        secrets["Action"],
        serde_json::json!([
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue"
        ])
    );
    assert_eq!(
        secrets["Condition"]["Null"]["aws:ResourceTag/keytrim:rotates"],
        "false"
    );
    let kms = statements
        .iter()
        .find(|s| s["Sid"] == "KeytrimDecryptBoundSecrets")
        .unwrap();
    assert_eq!(kms["Action"], serde_json::json!(["kms:Decrypt"]));
    assert_eq!(
        kms["Condition"]["StringLike"]["kms:ViaService"],
        serde_json::json!([
            "secretsmanager.*.amazonaws.com",
            "secretsmanager.*.amazonaws.com.cn"
        ])
    );
    let text = policy.to_string();
    for write in [
        "PutSecretValue",
        "UpdateSecretVersionStage",
        "CreateAccessKey",
        "UpdateAccessKey",
    ] {
        assert!(!text.contains(write), "{write}");
    }
    // The pipeline's roles take no --rotation.
    let refused = keytrim_isolated(dir.path())
        .args([
            "iam-policy",
            "pipeline",
            "--rotation",
            "--format",
            "cloudformation",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}

/// `apply --rotation` adds the hand-off's writes: keys only of users tagged
/// keytrim:rotate-to, secrets only tagged keytrim:rotates, KMS only through Secrets
/// Manager.
#[test]
fn the_rotation_apply_writes_only_to_tagged_users_and_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = keytrim_isolated(dir.path())
        .args(["iam-policy", "apply", "--rotation"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let policy: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).unwrap().clone();
    let users = sid("KeytrimNewKeyForBoundUsers");
    assert_eq!(
        users["Action"],
        serde_json::json!(["iam:CreateAccessKey", "iam:DeleteAccessKey"])
    );
    assert_eq!(
        users["Condition"]["Null"]["aws:ResourceTag/keytrim:rotate-to"],
        "false"
    );
    let secrets = sid("KeytrimRotateBoundSecrets");
    for action in [
        "PutSecretValue",
        "UpdateSecretVersionStage",
        "ListSecretVersionIds",
    ] {
        assert!(secrets["Action"].to_string().contains(action), "{action}");
    }
    assert_eq!(
        secrets["Condition"]["Null"]["aws:ResourceTag/keytrim:rotates"],
        "false"
    );
    let kms = sid("KeytrimUseKeysOfBoundSecrets");
    assert_eq!(
        kms["Action"],
        serde_json::json!(["kms:Decrypt", "kms:GenerateDataKey"])
    );
    assert!(kms["Condition"]["StringLike"]["kms:ViaService"].is_array());
}
