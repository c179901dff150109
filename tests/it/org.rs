//! Whole Organizations against a local multi-account IAM: `--org-role` audits every
//! active account into its own plan, failures stay in their account, the account
//! filters and organizational units, `--profile` given twice, and `apply --org-role`
//! across accounts.

use crate::support;

use crate::support::proxy::{FaultProxy, Faults};
use crate::support::{ACCOUNT_ID, LocalIam};

const ROLE: &str = "KeytrimAudit";

/// An organization with two members; each of the three accounts has one user to
/// deactivate. Returns the server, the members' ids and each account's old key id.
fn organization() -> (LocalIam, [String; 2], [String; 3]) {
    let mut iam = LocalIam::start();
    let first = iam.create_member_account("member-a");
    let second = iam.create_member_account("member-b");
    let (management_old, _) = iam.seed_small_account("mgmt");
    iam.use_account(&first);
    let (first_old, _) = iam.seed_small_account("a");
    iam.use_account(&second);
    let (second_old, _) = iam.seed_small_account("b");
    iam.use_account(ACCOUNT_ID);
    (
        iam,
        [first, second],
        [management_old.id, first_old.id, second_old.id],
    )
}

fn plan_text(iam: &LocalIam, account: &str) -> String {
    std::fs::read_to_string(iam.dir().join(format!("plans/{account}.yaml")))
        .unwrap_or_else(|_| panic!("no plan for {account}"))
}

#[test]
fn org_role_audits_every_account_into_its_own_plan() {
    let (iam, [first, second], _) = organization();
    let assert = iam
        .keytrim()
        .args(["audit", "--org-role", ROLE])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("keytrim audit of 3 organization accounts (role KeytrimAudit)"),
        "{stderr}"
    );
    for (account, user) in [
        (ACCOUNT_ID, "mgmt"),
        (first.as_str(), "a"),
        (second.as_str(), "b"),
    ] {
        let plan = keytrim::plan::load::parse(&plan_text(&iam, account)).unwrap();
        assert_eq!(plan.account_id, account);
        let names: Vec<&str> = plan.users.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(names, [format!("{user}-deactivate")], "{account}");
        assert_eq!(plan.summary.users_scanned, 2, "{account}");
        assert!(
            stderr.contains(&format!("account {account}: not compliant (deactivate 1")),
            "{stderr}"
        );
    }
}

#[test]
fn account_filters_narrow_the_organization() {
    let (iam, [first, second], _) = organization();
    iam.keytrim()
        .args(["audit", "--org-role", ROLE, "--accounts", &first])
        .assert()
        .code(3);
    assert!(iam.dir().join(format!("plans/{first}.yaml")).exists());
    assert!(!iam.dir().join(format!("plans/{second}.yaml")).exists());
    assert!(!iam.dir().join(format!("plans/{ACCOUNT_ID}.yaml")).exists());

    iam.keytrim()
        .args([
            "audit",
            "--org-role",
            ROLE,
            "--out-dir",
            "others",
            "--exclude-accounts",
            &format!("{first},{ACCOUNT_ID}"),
        ])
        .assert()
        .code(3);
    let written: Vec<String> = std::fs::read_dir(iam.dir().join("others"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, [format!("{second}.yaml")]);
}

#[test]
fn a_failing_account_is_reported_and_the_others_still_run() {
    let (iam, [first, second], _) = organization();
    // AWS answers AccessDenied when the member's role does not trust the caller.
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            deny_containing: vec![format!("arn:aws:iam::{second}:role/{ROLE}")],
            ..Faults::default()
        },
    );
    let assert = iam
        .keytrim_via(&proxy.endpoint)
        .args(["audit", "--org-role", ROLE])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "{second} (member-b): FAILED: sts:AssumeRole failed: AccessDenied"
        )),
        "{stderr}"
    );
    assert!(iam.dir().join(format!("plans/{first}.yaml")).exists());
    assert!(iam.dir().join(format!("plans/{ACCOUNT_ID}.yaml")).exists());
    assert!(!iam.dir().join(format!("plans/{second}.yaml")).exists());
}

#[test]
fn profile_twice_writes_one_plan_per_profile_account() {
    let (mut iam, [first, _], _) = organization();
    // An admin user with a key in the first member account, for a second profile.
    iam.use_account(&first);
    iam.create_user("admin");
    let admin = iam.create_key("admin", 1);
    iam.use_account(ACCOUNT_ID);
    std::fs::write(
        iam.dir().join("empty-aws-credentials"),
        format!(
            "[management]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n[member]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            admin.id, admin.secret
        ),
    )
    .unwrap();
    let assert = iam
        .keytrim()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--profile", "management", "--profile", "member", "audit"])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("keytrim audit of 2 profiles"), "{stderr}");
    let management = keytrim::plan::load::parse(&plan_text(&iam, ACCOUNT_ID)).unwrap();
    let member = keytrim::plan::load::parse(&plan_text(&iam, &first)).unwrap();
    assert_eq!(management.users[0].user_name, "mgmt-deactivate");
    assert_eq!(member.users[0].user_name, "a-deactivate");

    // A filter that leaves none of the profiles' accounts is an error, not a silent
    // success, and writes nothing; an id that is not 12 digits is a usage error.
    let profiles = ["--profile", "management", "--profile", "member", "audit"];
    let output = iam
        .keytrim()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(profiles)
        .args(["--accounts", "999999999999", "--out-dir", "none"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "keytrim: error: no account is left by --accounts and --exclude-accounts: nothing was audited\n"
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(!iam.dir().join("none").exists());
    let output = iam
        .keytrim()
        .args(profiles)
        .args(["--accounts", "12345"])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 2);
    assert!(
        stderr.contains(
            "invalid value '12345' for '--accounts <ID,...>': not a 12-digit AWS account id"
        ),
        "{stderr}"
    );
}

#[test]
fn apply_with_org_role_changes_each_plan_in_its_own_account() {
    let (mut iam, [first, second], [management_old, first_old, second_old]) = organization();
    iam.keytrim()
        .args(["audit", "--org-role", ROLE])
        .assert()
        .code(3);
    let plans = [ACCOUNT_ID, first.as_str(), second.as_str()].map(|a| format!("plans/{a}.yaml"));

    // Without the role, a member's plan is refused by the account guard.
    iam.keytrim()
        .args(["apply", "--yes", &plans[1]])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!(
            "is for account {first}, but the credentials are for account {ACCOUNT_ID}"
        )));

    let assert = iam
        .keytrim()
        .args(["apply", "--yes", "--org-role", ROLE])
        .args(&plans)
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.matches("deactivated+verified 1").count(),
        3,
        "{stderr}"
    );
    // The plans ran side by side; their summaries come in the order they were given.
    let places: Vec<usize> = plans
        .iter()
        .map(|plan| {
            stderr
                .find(&format!("apply {plan} (account"))
                .unwrap_or_else(|| panic!("no summary of {plan}: {stderr}"))
        })
        .collect();
    assert!(places.is_sorted(), "summaries out of order: {stderr}");
    assert_eq!(
        iam.key_status("mgmt-deactivate", &management_old),
        "Inactive"
    );
    iam.use_account(&first);
    assert_eq!(iam.key_status("a-deactivate", &first_old), "Inactive");
    iam.use_account(&second);
    assert_eq!(iam.key_status("b-deactivate", &second_old), "Inactive");

    // One rollback of every plan's journal, side by side, each with its own journal.
    let applied = support::journals(iam.dir());
    assert_eq!(applied.len(), 3, "one journal per plan: {applied:?}");
    iam.keytrim()
        .args([
            "rollback",
            "--yes",
            "--org-role",
            ROLE,
            "--journal",
            "one.jsonl",
        ])
        .args(&applied)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--journal names one file"));
    let assert = iam
        .keytrim()
        .args(["rollback", "--yes", "--org-role", ROLE])
        .args(&applied)
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.matches("reactivated+verified 1").count(),
        3,
        "{stderr}"
    );
    let rollbacks: Vec<_> = support::journals(iam.dir())
        .into_iter()
        .filter(|path| path.to_string_lossy().contains(".rollback-"))
        .collect();
    assert_eq!(
        rollbacks.len(),
        3,
        "one rollback journal each: {rollbacks:?}"
    );
    assert_eq!(iam.key_status("b-deactivate", &second_old), "Active");
    iam.use_account(&first);
    assert_eq!(iam.key_status("a-deactivate", &first_old), "Active");
    iam.use_account(ACCOUNT_ID);
    assert_eq!(iam.key_status("mgmt-deactivate", &management_old), "Active");
}

/// A member account's apply journal is rolled back through the same role, with the
/// same account guard.
/// The Organization audited with the role, and `member`'s plan applied through it; the
/// apply's journal.
fn audited_and_applied_in(iam: &LocalIam, member: &str) -> std::path::PathBuf {
    iam.keytrim()
        .args(["audit", "--org-role", ROLE])
        .assert()
        .code(3);
    iam.keytrim()
        .args(["apply", "--yes", "--org-role", ROLE])
        .arg(format!("plans/{member}.yaml"))
        .assert()
        .code(0);
    support::journals(iam.dir())
        .into_iter()
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(member)
        })
        .expect("the member's journal")
}

#[test]
fn rollback_with_org_role_restores_a_member_account() {
    let (mut iam, [first, _], [_, first_old, _]) = organization();
    let journal = audited_and_applied_in(&iam, &first);

    // Without the role, the caller's own account is not the journal's: refused.
    iam.keytrim()
        .args(["rollback", "--yes"])
        .arg(&journal)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!(
            "is for account {first}, but the credentials are for account {ACCOUNT_ID}"
        )));

    let assert = iam
        .keytrim()
        .args(["rollback", "--yes", "--org-role", ROLE])
        .arg(&journal)
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("reactivated+verified 1"), "{stderr}");
    iam.use_account(&first);
    assert_eq!(iam.key_status("a-deactivate", &first_old), "Active");
}

#[test]
fn iam_policy_for_an_organization() {
    let dir = tempfile::tempdir().unwrap();
    let output = support::keytrim_isolated(dir.path())
        .args(["iam-policy", "audit", "--org", "--org-role", ROLE])
        .output()
        .unwrap();
    assert!(output.status.success());
    let policy: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let management = policy["management_account_policy"].to_string();
    for action in [
        "organizations:ListAccounts",
        "organizations:ListAccountsForParent",
        "organizations:ListChildren",
    ] {
        assert!(management.contains(action), "{action}: {management}");
    }
    assert!(management.contains("arn:aws:iam::*:role/KeytrimAudit"));
    assert_eq!(
        policy["member_role_trust_policy"]["Statement"][0]["Action"],
        "sts:AssumeRole"
    );
    assert!(
        policy["member_role_permissions_policy"]
            .to_string()
            .contains("iam:ListAccessKeys")
    );
}

/// The plans `audit` wrote, by account id.
fn planned_accounts(iam: &LocalIam) -> Vec<String> {
    let mut accounts: Vec<String> = std::fs::read_dir(iam.dir().join("plans"))
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter_map(|name| name.strip_suffix(".yaml").map(String::from))
                .collect()
        })
        .unwrap_or_default();
    accounts.sort();
    accounts
}

/// `--ou` narrows an Organization audit to the accounts in an OU and the OUs nested in
/// it, and combines with the account filters. The tree: root > prod > prod-eu, and
/// root > dev; the management account stays at the root.
#[test]
fn ou_narrows_the_organization_to_units_and_their_nested_units() {
    let (iam, [first, second], _) = organization();
    let third = iam.create_member_account("member-c");
    let root = iam.organization_root();
    let prod = iam.create_unit(&root, "prod");
    let prod_eu = iam.create_unit(&prod, "prod-eu");
    let dev = iam.create_unit(&root, "dev");
    iam.move_to_unit(&first, &prod);
    iam.move_to_unit(&second, &prod_eu);
    iam.move_to_unit(&third, &dev);
    let sorted = |mut ids: Vec<&String>| {
        ids.sort();
        ids.into_iter().cloned().collect::<Vec<_>>()
    };

    iam.keytrim()
        .args(["audit", "--org-role", ROLE, "--ou", &prod])
        .assert()
        .code(3);
    assert_eq!(planned_accounts(&iam), sorted(vec![&first, &second]));

    std::fs::remove_dir_all(iam.dir().join("plans")).unwrap();
    iam.keytrim()
        .args(["audit", "--org-role", ROLE, "--ou", &prod, "--ou", &dev])
        .args(["--exclude-accounts", &first])
        .assert()
        .code(3);
    assert_eq!(planned_accounts(&iam), sorted(vec![&second, &third]));

    std::fs::remove_dir_all(iam.dir().join("plans")).unwrap();
    let output = iam
        .keytrim()
        .args(["audit", "--org-role", ROLE, "--ou", &prod_eu])
        .args(["--accounts", &first])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "no account is left by --ou, --accounts and --exclude-accounts: nothing was audited"
        ),
        "an audit of nothing is refused: {stderr}"
    );
    assert_eq!(planned_accounts(&iam), Vec::<String>::new());
}

#[test]
fn an_ou_that_is_not_in_the_organization_is_an_error_naming_it() {
    let (iam, _, _) = organization();
    let missing = "ou-zzzz-zzzzzzzz";
    let output = iam
        .keytrim()
        .args(["audit", "--org-role", ROLE, "--ou", missing])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert!(stderr.contains(missing), "{stderr}");
    assert!(!iam.dir().join("plans").exists(), "no plan after bad input");

    let output = iam
        .keytrim()
        .args(["audit", "--org-role", ROLE, "--ou", "prod"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a malformed id is a usage error"
    );
    let output = iam
        .keytrim()
        .args(["audit", "--ou", "ou-ab12-cdef3456"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "--ou needs --org-role");
}

/// The role ARNs are in the partition asked for, and each phase has its own default
/// role name (the apply role may change keys; the audit role must not).
#[test]
fn iam_policy_names_the_partition_and_each_phases_role() {
    let dir = tempfile::tempdir().unwrap();
    let policy = |args: &[&str]| -> serde_json::Value {
        let output = support::keytrim_isolated(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let apply = policy(&["iam-policy", "apply", "--org", "--partition", "aws-us-gov"]);
    assert_eq!(apply["member_role_name"], "KeytrimApply");
    // Apply lists no accounts (a plan names its own): assuming the member role, in
    // the Organization's accounts only, is all the management account needs.
    let statements = &apply["management_account_policy"]["Statement"];
    assert_eq!(statements.as_array().unwrap().len(), 1, "{statements}");
    assert_eq!(
        statements[0]["Resource"],
        "arn:aws-us-gov:iam::*:role/KeytrimApply"
    );
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["aws:ResourceOrgID"],
        "${aws:PrincipalOrgID}"
    );
    assert_eq!(
        apply["member_role_trust_policy"]["Statement"][0]["Principal"]["AWS"],
        "arn:aws-us-gov:iam::MANAGEMENT_ACCOUNT_ID:root"
    );
    let audit = policy(&["iam-policy", "audit", "--org"]);
    assert_eq!(audit["member_role_name"], "KeytrimAudit");
    assert_eq!(
        audit["management_account_policy"]["Statement"][1]["Resource"],
        "arn:aws:iam::*:role/KeytrimAudit"
    );
    let refused = support::keytrim_isolated(dir.path())
        .args(["iam-policy", "audit", "--org", "--partition", "mars"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}

/// Rollback reaches a member through the role in the partition the apply ran in (its
/// journal's caller), as apply does with the plan's, not in the partition of whoever
/// runs the rollback: both go through one function now.
#[test]
fn rollback_assumes_the_role_in_the_journals_partition() {
    let (iam, [first, _], _) = organization();
    let journal = audited_and_applied_in(&iam, &first);
    // The apply ran in another partition (as its run line's caller says).
    let text = std::fs::read_to_string(&journal).unwrap();
    let moved = text.replacen(
        "\"caller_arn\":\"arn:aws:",
        "\"caller_arn\":\"arn:aws-us-gov:",
        1,
    );
    assert_ne!(moved, text);
    std::fs::write(&journal, moved).unwrap();

    iam.start_recording();
    let _ = iam
        .keytrim()
        .args(["rollback", "--yes", "--dry-run", "--org-role", ROLE])
        .arg(&journal)
        .output()
        .unwrap();
    let roles: Vec<String> = iam
        .recorded_calls()
        .into_iter()
        .filter(|call| call.iter().any(|(k, v)| k == "Action" && v == "AssumeRole"))
        .filter_map(|call| {
            call.into_iter()
                .find(|(k, _)| k == "RoleArn")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(
        roles,
        [format!(
            "arn%3Aaws-us-gov%3Aiam%3A%3A{first}%3Arole%2F{ROLE}"
        )],
        "the role is reached in the journal's partition"
    );
}
