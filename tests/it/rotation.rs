//! The rotation hand-off's audit (docs/rotation.md, slice 2): `audit --rotation` reads
//! the tags of users whose one active key is over the maximum age, reads the secret a
//! user's `keytrim:rotate-to` tag names, and plans `rotate` into it only when the secret
//! names the user back; every other binding is a finding in the plan. The secret access
//! key is written nowhere. A dry run of the plan says what apply would do; apply
//! itself is tested in `hand_off`.

use crate::support::{LocalIam, SeededKey, journals};
use keytrim::rule::Decision;

const PLAN: &str = "plans/123456789012.yaml";
const USER_ARN_PREFIX: &str = "arn:aws:iam::123456789012:user/";

/// A secret value holding `key`, with a field of the application's own.
fn secret_value(key: &SeededKey) -> String {
    format!(
        r#"{{"AccessKeyId":"{}","SecretAccessKey":"{}","Endpoint":"smtp.example.com"}}"#,
        key.id, key.secret
    )
}

/// The account of the tests:
/// - billing: one 200-day key in use (2 days ago), bound both ways to its secret;
/// - payroll: one 200-day key, its tag naming a secret that does not name it back;
/// - lost: one 200-day key, its tag naming a secret that does not exist;
/// - elsewhere: one 200-day key, its tag naming a secret in another region;
/// - fresh: one 30-day key, tagged: not due, so neither its tags nor its secret are read;
/// - plain: one 200-day key and no tag: compliant, as without --rotation;
/// - dated: one 200-day key, no rotate-to tag and a malformed `keytrim:exempt-until`:
///   compliant; a tag it does not need is not read, so it cannot stop the audit.
struct Account {
    billing_key: SeededKey,
    billing_secret: String,
    payroll_secret: String,
}

fn seed(iam: &LocalIam) -> Account {
    for name in [
        "billing",
        "payroll",
        "lost",
        "elsewhere",
        "fresh",
        "plain",
        "dated",
    ] {
        iam.create_user(name);
    }
    let billing_key = iam.create_key("billing", 200);
    iam.use_key(&billing_key, 2);
    let billing_secret = iam.create_secret(
        "app/billing",
        &secret_value(&billing_key),
        &[("keytrim:rotates", &format!("{USER_ARN_PREFIX}billing"))],
    );
    iam.tag_user(
        "billing",
        "keytrim:rotate-to",
        &format!("secretsmanager:{billing_secret}"),
    );
    let payroll_key = iam.create_key("payroll", 200);
    let payroll_secret = iam.create_secret(
        "app/payroll",
        &secret_value(&payroll_key),
        &[("team", "payroll")],
    );
    iam.tag_user(
        "payroll",
        "keytrim:rotate-to",
        &format!("secretsmanager:{payroll_secret}"),
    );
    iam.create_key("lost", 200);
    iam.tag_user(
        "lost",
        "keytrim:rotate-to",
        "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:app/gone-Ab12Cd",
    );
    iam.create_key("elsewhere", 200);
    iam.tag_user(
        "elsewhere",
        "keytrim:rotate-to",
        "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/far-Ab12Cd",
    );
    let fresh_key = iam.create_key("fresh", 30);
    let fresh_secret = iam.create_secret(
        "app/fresh",
        &secret_value(&fresh_key),
        &[("keytrim:rotates", &format!("{USER_ARN_PREFIX}fresh"))],
    );
    iam.tag_user(
        "fresh",
        "keytrim:rotate-to",
        &format!("secretsmanager:{fresh_secret}"),
    );
    iam.create_key("plain", 200);
    iam.create_key("dated", 200);
    iam.tag_user("dated", "keytrim:exempt-until", "soon");
    Account {
        billing_key,
        billing_secret,
        payroll_secret,
    }
}

fn reason_of<'p>(plan: &'p keytrim::plan::Plan, name: &str) -> &'p keytrim::plan::PlanUser {
    plan.users
        .iter()
        .find(|user| user.user_name == name)
        .unwrap_or_else(|| panic!("{name} is not in the plan"))
}

#[test]
fn a_user_bound_both_ways_is_planned_to_rotate_into_its_secret_and_every_other_binding_is_a_finding()
 {
    let iam = LocalIam::start();
    let account = seed(&iam);
    let (current_version, _) = iam.current_secret(&account.billing_secret);
    iam.start_recording();
    let audit = iam
        .keytrim()
        .args(["-vvv", "audit", "--rotation"])
        .env("RUST_LOG", "trace")
        .assert()
        .code(3);
    let plan_text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    assert!(plan.policy.rotation);

    let billing = reason_of(&plan, "billing");
    assert_eq!(billing.decision, Decision::Rotate, "{}", billing.reason);
    let rotate_to = billing.rotate_to.as_ref().expect("billing is handed off");
    assert_eq!(rotate_to.secret_arn, account.billing_secret);
    assert_eq!(rotate_to.current_version, current_version);
    assert_eq!(billing.keep, None);
    assert!(billing.deactivate.is_empty());
    assert!(
        billing.reason.contains("bound both ways"),
        "{}",
        billing.reason
    );

    for (name, finding) in [
        ("payroll", "the secret does not carry keytrim:rotates"),
        ("lost", "keytrim could not read the secret it names"),
        (
            "elsewhere",
            "names a secret in eu-west-1, and keytrim runs in us-east-1",
        ),
    ] {
        let user = reason_of(&plan, name);
        assert_eq!(user.decision, Decision::Rotate, "{name}: {}", user.reason);
        assert_eq!(user.rotate_to, None, "{name}");
        assert!(user.reason.contains(finding), "{name}: {}", user.reason);
    }
    for name in ["fresh", "plain", "dated"] {
        assert!(
            plan.users.iter().all(|user| user.user_name != name),
            "{name} is compliant"
        );
    }
    assert_eq!(plan.summary.rotate, 4);

    // Tags are read for the users whose one key is over the maximum age, and a secret
    // for each that asks; a secret its description refuses is never read.
    let tagged: Vec<String> = iam
        .recorded_calls()
        .iter()
        .filter(|call| crate::support::param(call, "Action") == Some("ListUserTags"))
        .filter_map(|call| crate::support::param(call, "UserName").map(str::to_string))
        .collect();
    let mut tagged_sorted = tagged.clone();
    tagged_sorted.sort();
    assert_eq!(
        tagged_sorted,
        ["billing", "dated", "elsewhere", "lost", "payroll", "plain"],
        "{tagged:?}"
    );
    let secret_calls: Vec<(String, String)> = iam
        .recorded_json_calls()
        .into_iter()
        .map(|(operation, fields)| {
            (
                operation,
                fields["SecretId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let reads_of = |operation: &str, secret: &str| {
        secret_calls
            .iter()
            .filter(|(op, id)| op == operation && id == secret)
            .count()
    };
    assert_eq!(
        reads_of("GetSecretValue", &account.billing_secret),
        1,
        "{secret_calls:?}"
    );
    assert_eq!(
        reads_of("DescribeSecret", &account.payroll_secret),
        1,
        "{secret_calls:?}"
    );
    assert_eq!(
        reads_of("GetSecretValue", &account.payroll_secret),
        0,
        "{secret_calls:?}"
    );
    assert!(
        secret_calls
            .iter()
            .all(|(_, id)| !id.contains("fresh") && !id.contains("eu-west-1")),
        "{secret_calls:?}"
    );
    assert!(
        iam.recorded_actions()
            .iter()
            .all(|action| !crate::support::is_write(action))
            && secret_calls
                .iter()
                .all(|(op, _)| op == "DescribeSecret" || op == "GetSecretValue"),
        "the audit only reads"
    );

    // The secret access key is written nowhere: not the plan, not the output, not a
    // log line at the most verbose level.
    let output = audit.get_output();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GetSecretValue"),
        "trace logging was on while the secret was read: {stderr}"
    );
    assert!(
        stderr.contains("rotation hand-off: 1 bound to a secret both ways, to rotate into it (apply creates each new key and hands it off; the old key stays Active until it is idle); 3 asking for the hand-off without a binding keytrim accepts (each user's reason says why)"),
        "{stderr}"
    );
    for (what, text) in [
        ("plan", plan_text.as_str()),
        ("stdout", &String::from_utf8_lossy(&output.stdout)),
        ("stderr", &String::from_utf8_lossy(&output.stderr)),
    ] {
        assert!(
            !text.contains(&account.billing_key.secret),
            "the secret is in the {what}"
        );
    }
}

#[test]
fn without_rotation_the_audit_reads_no_tag_of_a_one_key_user_and_no_secret() {
    let iam = LocalIam::start();
    seed(&iam);
    iam.start_recording();
    iam.keytrim().arg("audit").assert().code(0);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    assert!(!plan.policy.rotation);
    assert!(plan.users.is_empty(), "{:?}", plan.users);
    assert!(
        !iam.recorded_actions()
            .iter()
            .any(|action| action == "ListUserTags"),
        "{:?}",
        iam.recorded_actions()
    );
    assert_eq!(iam.recorded_json_calls(), Vec::new());
}

/// Under --rotation the credential report sends the users it shows with an active key
/// over the maximum age (near it, for a report hours old) to the live reads, and the
/// hand-off is planned as from the live source; a user whose keys are young is not
/// looked at.
#[test]
fn the_credential_report_finds_the_same_hand_off() {
    let iam = LocalIam::start();
    let account = seed(&iam);
    iam.start_recording();
    iam.keytrim()
        .args(["audit", "--rotation", "--source", "credential-report"])
        .assert()
        .code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    let handed_off: Vec<(&str, &str)> = plan
        .users
        .iter()
        .filter_map(|user| {
            let to = user.rotate_to.as_ref()?;
            Some((user.user_name.as_str(), to.secret_arn.as_str()))
        })
        .collect();
    assert_eq!(handed_off, [("billing", account.billing_secret.as_str())]);
    assert_eq!(plan.summary.rotate, 4);
    let listed: Vec<String> = iam
        .recorded_calls()
        .iter()
        .filter(|call| crate::support::param(call, "Action") == Some("ListAccessKeys"))
        .filter_map(|call| crate::support::param(call, "UserName").map(str::to_string))
        .collect();
    assert!(listed.contains(&"billing".to_string()), "{listed:?}");
    assert!(!listed.contains(&"fresh".to_string()), "{listed:?}");
}

/// nora has two active keys: an older one idle for 20 days, which her bound secret
/// hands out, and a fresh one nothing uses yet. quinn's tag names a secret that does
/// not exist. Without --rotation the rule plans both older keys off, and apply, which
/// reads the tags live, leaves both users alone; with it, the audit holds both, naming
/// the secret and the key it hands out, or that keytrim cannot tell.
#[test]
fn the_key_a_bound_secret_hands_out_is_held_not_planned_off() {
    let iam = LocalIam::start();
    iam.create_user("nora");
    let old = iam.create_key("nora", 200);
    iam.use_key(&old, 20);
    let new = iam.create_key("nora", 10);
    let secret = iam.create_secret(
        "app/nora",
        &secret_value(&old),
        &[("keytrim:rotates", &format!("{USER_ARN_PREFIX}nora"))],
    );
    iam.tag_user(
        "nora",
        "keytrim:rotate-to",
        &format!("secretsmanager:{secret}"),
    );
    iam.create_user("quinn");
    let quinn_old = iam.create_key("quinn", 200);
    iam.use_key(&quinn_old, 20);
    iam.create_key("quinn", 10);
    iam.tag_user(
        "quinn",
        "keytrim:rotate-to",
        "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:app/gone-Ab12Cd",
    );

    iam.keytrim().arg("audit").assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    for name in ["nora", "quinn"] {
        assert_eq!(
            reason_of(&plan, name).decision,
            Decision::Deactivate,
            "{name}"
        );
    }
    let applied = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&applied.get_output().stderr).into_owned();
    assert_eq!(
        stderr
            .matches("the plan does not say which key that secret hands out")
            .count(),
        2,
        "{stderr}"
    );
    assert_eq!(iam.key_status("nora", &old.id), "Active");
    assert_eq!(iam.key_status("quinn", &quinn_old.id), "Active");

    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    let nora = reason_of(&plan, "nora");
    assert_eq!(nora.decision, Decision::Hold, "{}", nora.reason);
    assert_eq!(nora.keep.as_deref(), Some(new.id.as_str()));
    assert_eq!(nora.deactivate, std::slice::from_ref(&old.id));
    let held = nora.secret_hands_out.as_ref().expect("the secret's key");
    assert_eq!(
        (held.secret_arn.as_deref(), held.access_key_id.as_deref()),
        (Some(secret.as_str()), Some(old.id.as_str()))
    );
    assert!(nora.reason.contains("hands out"), "{}", nora.reason);
    let quinn = reason_of(&plan, "quinn");
    assert_eq!(quinn.decision, Decision::Hold, "{}", quinn.reason);
    assert_eq!(
        quinn
            .secret_hands_out
            .as_ref()
            .map(|held| held.access_key_id.clone()),
        Some(None)
    );
    assert!(
        quinn
            .reason
            .contains("keytrim cannot tell which key secret"),
        "{}",
        quinn.reason
    );

    // apply leaves the holds alone. Then the owner points nora's secret at her new
    // key and a reviewer makes her hold a deactivation: apply goes ahead, unless her
    // tag names another secret than the audit saw.
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    assert_eq!(iam.key_status("nora", &old.id), "Active");
    iam.put_secret_value(&secret, &secret_value(&new));
    let text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    let approved = text.replacen(
        "- user_name: nora\n  user_arn: arn:aws:iam::123456789012:user/nora\n  decision: hold",
        "- user_name: nora\n  user_arn: arn:aws:iam::123456789012:user/nora\n  decision: deactivate",
        1,
    );
    // quinn's secret cannot be read (it does not exist): the hold asks a person to
    // confirm no application reads a key from it, and the reviewer did.
    let approved = approved.replacen(
        "- user_name: quinn\n  user_arn: arn:aws:iam::123456789012:user/quinn\n  decision: hold",
        "- user_name: quinn\n  user_arn: arn:aws:iam::123456789012:user/quinn\n  decision: deactivate",
        1,
    );
    assert_ne!(approved, text, "the hold was edited");
    std::fs::write(iam.dir().join("approved.yaml"), approved).unwrap();
    let elsewhere = secret.replace("app/nora", "app/other");
    iam.tag_user(
        "nora",
        "keytrim:rotate-to",
        &format!("secretsmanager:{elsewhere}"),
    );
    let refused = iam
        .keytrim()
        .args(["apply", "--yes", "approved.yaml"])
        .assert()
        .code(4);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains("names another secret than at the audit"),
        "{stderr}"
    );
    assert_eq!(iam.key_status("nora", &old.id), "Active");
    iam.tag_user(
        "nora",
        "keytrim:rotate-to",
        &format!("secretsmanager:{secret}"),
    );
    // Both approved: nora's secret hands out her new key, and quinn's, which the audit
    // could not read either, is the reviewer's word.
    iam.keytrim()
        .args(["apply", "--yes", "approved.yaml"])
        .assert()
        .code(0);
    assert_eq!(iam.key_status("nora", &old.id), "Inactive");
    assert_eq!(iam.key_status("nora", &new.id), "Active");
    assert_eq!(iam.key_status("quinn", &quinn_old.id), "Inactive");
}

/// The SDK logs request and response bodies when told to: no secret is read then, and
/// the audit says why in one line.
#[test]
fn no_secret_is_read_while_the_sdk_would_log_it() {
    let iam = LocalIam::start();
    seed(&iam);
    iam.start_recording();
    let output = iam
        .keytrim()
        .args(["audit", "--rotation"])
        .env("LOG_SENSITIVE_BODIES", "true")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains("LOG_SENSITIVE_BODIES is set, so the AWS SDK would log the answer of secretsmanager:GetSecretValue"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        iam.recorded_json_calls()
            .iter()
            .all(|(operation, _)| operation != "GetSecretValue"),
        "{:?}",
        iam.recorded_json_calls()
    );
    assert!(!iam.dir().join(PLAN).exists(), "no plan is written");
}

/// A dry run of a plan with a hand-off says what apply would do, and writes nothing:
/// no journal, no call that writes, every key as it was.
#[test]
fn a_dry_run_says_it_would_hand_a_new_key_off_and_writes_nothing() {
    let iam = LocalIam::start();
    let account = seed(&iam);
    iam.create_user("alice");
    let alice_old = iam.create_key("alice", 200);
    iam.create_key("alice", 10);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let before = journals(iam.dir());
    iam.start_recording();
    let output = iam
        .keytrim()
        .args(["apply", "--yes", "--dry-run", PLAN])
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "dry run: would create a new key and hand it off to {} (AWSPENDING, then AWSCURRENT)",
            account.billing_secret
        )),
        "{stderr}"
    );
    assert_eq!(journals(iam.dir()), before, "no journal is started");
    assert_eq!(iam.recorded_writes(), Vec::<String>::new());
    assert_eq!(iam.key_status("alice", &alice_old.id), "Active");
    assert_eq!(iam.key_status("billing", &account.billing_key.id), "Active");
}
