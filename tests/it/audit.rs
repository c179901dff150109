//! `keytrim audit` against a real local IAM (moto under libfaketime): every decision,
//! the options that change them, both sources, and that an audit never writes
//! (exemptions in `exemptions`).

use crate::support::{ACCOUNT_ID, LocalIam, is_write, seed_every_decision};
use keytrim::plan::{Plan, PlanUser};
use keytrim::rule::Decision;

/// Where `keytrim audit` writes the local account's plan by default.
const PLAN: &str = "plans/123456789012.yaml";

fn parse_plan(text: &str) -> Plan {
    keytrim::plan::load::parse(text).unwrap_or_else(|err| panic!("invalid plan: {err}\n{text}"))
}

pub(crate) fn user<'a>(plan: &'a Plan, name: &str) -> &'a PlanUser {
    plan.users
        .iter()
        .find(|u| u.user_name == name)
        .unwrap_or_else(|| panic!("{name} is not in the plan"))
}

/// Run `keytrim audit -o - ARGS`, expecting `code`; return the plan it printed.
pub(crate) fn audit_to_stdout(iam: &LocalIam, args: &[&str], code: i32) -> Plan {
    let output = iam
        .keytrim()
        .args(["audit", "-o", "-"])
        .args(args)
        .output()
        .expect("keytrim runs");
    assert_eq!(
        output.status.code(),
        Some(code),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_plan(&String::from_utf8(output.stdout).expect("UTF-8 plan"))
}

#[test]
fn audit_writes_a_plan_with_every_decision_and_makes_no_write() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.start_recording();

    let assert = iam.keytrim().arg("audit").assert().code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("7 users scanned; compliant 3, deactivate 1, hold 2, rotate 0, exempt 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n1 kept key is over 90 days: rotate it (CIS 1.14)\n"),
        "{stderr}"
    );
    let path = format!("plans/{ACCOUNT_ID}.yaml");
    assert!(
        stderr.contains(&format!("plan written to {path}")),
        "{stderr}"
    );

    let text = std::fs::read_to_string(iam.dir().join(&path)).expect("plan file written");
    assert!(text.starts_with("# keytrim remediation plan for AWS account 123456789012"));
    let plan = parse_plan(&text);
    assert_eq!(plan.account_id, ACCOUNT_ID);
    assert_eq!(plan.caller_arn, "arn:aws:sts::123456789012:user/moto");
    let names: Vec<&str> = plan.users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "erin", "hank", "rita"],
        "sorted, compliant users left out"
    );

    let alice = user(&plan, "alice");
    assert_eq!(alice.decision, Decision::Deactivate);
    assert_eq!(alice.keep.as_deref(), Some(keys.alice_new.id.as_str()));
    assert_eq!(alice.deactivate, vec![keys.alice_old.id.clone()]);
    let old = &alice.keys[0];
    assert_eq!(
        old.access_key_id, keys.alice_old.id,
        "keys sorted by creation"
    );
    assert_eq!(old.age_days, 200);
    assert!(old.last_used.is_some());
    assert_eq!(old.last_used_service.as_deref(), Some("iam"));

    let hank = user(&plan, "hank");
    assert_eq!(hank.decision, Decision::Hold);
    assert_eq!(hank.keep.as_deref(), Some(keys.hank_new.id.as_str()));
    assert_eq!(hank.deactivate, vec![keys.hank_old.id.clone()]);
    assert!(hank.reason.contains("used 2 day(s) ago"), "{}", hank.reason);

    // rita has no key under 90 days; her older key was used 30 days ago (a monthly
    // job): she keeps the key in use, the other is held, and the kept key is marked.
    let rita = user(&plan, "rita");
    assert_eq!(rita.decision, Decision::Hold);
    assert_eq!(rita.keep.as_deref(), Some(keys.rita_old.id.as_str()));
    assert_eq!(rita.deactivate, vec![keys.rita_older.id.clone()]);
    assert!(rita.rotation_due);
    assert!(
        rita.reason
            .contains("was last used 30 day(s) ago, within the 45-day unused threshold"),
        "{}",
        rita.reason
    );
    assert_eq!(rita.keys[0].access_key_id, keys.rita_older.id);
    assert_eq!(rita.keys[1].access_key_id, keys.rita_old.id);
    assert_eq!(plan.summary.rotation_due, 1);

    let erin = user(&plan, "erin");
    assert_eq!(erin.decision, Decision::Exempt);
    assert!(
        erin.reason.ends_with("break-glass account"),
        "{}",
        erin.reason
    );
    assert_eq!(erin.keys.len(), 2);
    assert!(erin.keys.iter().any(|k| k.access_key_id == keys.erin_a.id));
    assert!(erin.keys.iter().any(|k| k.access_key_id == keys.erin_b.id));

    assert_eq!(plan.summary.users_scanned, 7);
    assert_eq!(plan.summary.compliant, 3);

    let actions = iam.recorded_actions();
    assert!(
        actions.contains(&"ListAccessKeys".to_string()),
        "{actions:?}"
    );
    let writes: Vec<&String> = actions.iter().filter(|a| is_write(a)).collect();
    assert!(writes.is_empty(), "audit wrote to IAM: {writes:?}");
    // Last use and tags are read only for the four users with two active keys.
    let count = |name: &str| actions.iter().filter(|a| *a == name).count();
    assert_eq!(count("ListAccessKeys"), 7);
    assert_eq!(count("GetAccessKeyLastUsed"), 8);
    assert_eq!(count("ListUserTags"), 4);
    // Both keys of alice and hank still Active.
    assert!(iam.key_statuses("alice").iter().all(|(_, s)| s == "Active"));
}

#[test]
fn a_compliant_account_exits_zero_and_lists_no_user() {
    let iam = LocalIam::start();
    iam.create_user("solo");
    iam.create_key("solo", 30);
    let plan = audit_to_stdout(&iam, &[], 0);
    assert!(plan.users.is_empty());
    assert_eq!(plan.summary.users_scanned, 1);
    assert_eq!(plan.summary.compliant, 1);
}

#[test]
fn plans_are_byte_identical_but_for_generated_at() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    let run = || {
        let output = iam.keytrim().args(["audit", "-o", "-"]).output().unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with("generated_at:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let first = run();
    assert!(first.contains("decision: hold"));
    assert_eq!(first, run());
}

#[test]
fn out_writes_where_asked_and_stdout_leaves_no_file() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim()
        .args(["audit", "--out", "reviews/acct.yaml"])
        .assert()
        .code(3);
    let plan = parse_plan(&std::fs::read_to_string(iam.dir().join("reviews/acct.yaml")).unwrap());
    assert_eq!(plan.users.len(), 4);

    audit_to_stdout(&iam, &[], 3);
    assert!(!iam.dir().join("plans").exists(), "-o - wrote a file");
}

#[test]
fn user_restricts_the_audit() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.start_recording();
    let plan = audit_to_stdout(&iam, &["--user", "alice", "--user", "carol"], 3);
    let names: Vec<&str> = plan.users.iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(names, ["alice"]);
    assert_eq!(plan.summary.users_scanned, 2);
    assert_eq!(plan.summary.compliant, 1);
    let listed = iam
        .recorded_actions()
        .iter()
        .filter(|a| *a == "ListAccessKeys")
        .count();
    assert_eq!(listed, 2, "only the named users' keys are listed");

    iam.keytrim()
        .args(["audit", "--user", "mallory"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "IAM user `mallory` (from --user) does not exist in account 123456789012",
        ));
}

#[test]
fn max_key_age_decides_which_keys_are_fresh() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    // With a year allowed, rita's newer key can be kept.
    let plan = audit_to_stdout(&iam, &["--max-key-age", "365"], 3);
    let rita = user(&plan, "rita");
    assert_eq!(rita.decision, Decision::Deactivate);
    assert_eq!(rita.keep.as_deref(), Some(keys.rita_old.id.as_str()));
    assert_eq!(rita.deactivate, vec![keys.rita_older.id.clone()]);
    assert_eq!(plan.policy.max_key_age_days, 365);

    // With 7 days, alice's 10-day-old key is too old too: no key is fresh, so she
    // keeps the key in use (used a day ago), marked for rotation, and her other key,
    // used 30 days ago, within the 45 unused days, is held. The older reading
    // (a fresh key required) plans a rotation and nothing else.
    let plan = audit_to_stdout(&iam, &["--max-key-age", "7"], 3);
    let alice = user(&plan, "alice");
    assert_eq!(alice.decision, Decision::Hold);
    assert_eq!(alice.keep.as_deref(), Some(keys.alice_new.id.as_str()));
    assert!(alice.rotation_due);
    assert_eq!(user(&plan, "hank").decision, Decision::Hold);
    let plan = audit_to_stdout(&iam, &["--max-key-age", "7", "--require-fresh-key"], 3);
    assert_eq!(user(&plan, "alice").decision, Decision::Rotate);
    assert!(!user(&plan, "alice").rotation_due);
    assert_eq!(user(&plan, "hank").decision, Decision::Hold);
}

#[test]
fn in_use_window_and_guard_decide_holds() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    // hank's old key was used 2 days ago: a 1-day window does not hold it.
    let plan = audit_to_stdout(&iam, &["--in-use-window", "1"], 3);
    assert_eq!(user(&plan, "hank").decision, Decision::Deactivate);

    // alice's old key was used 30 days ago: a 60-day window holds it.
    let plan = audit_to_stdout(&iam, &["--in-use-window", "60"], 3);
    let alice = user(&plan, "alice");
    assert_eq!(alice.decision, Decision::Hold);
    assert_eq!(alice.deactivate, vec![keys.alice_old.id.clone()]);

    let plan = audit_to_stdout(&iam, &["--no-in-use-guard"], 3);
    let hank = user(&plan, "hank");
    assert_eq!(hank.decision, Decision::Deactivate);
    assert_eq!(hank.deactivate, vec![keys.hank_old.id.clone()]);
    assert!(!plan.policy.in_use_guard);
}

#[test]
fn the_credential_report_gives_the_same_decisions_as_live() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    let live = audit_to_stdout(&iam, &["--source", "live"], 3);
    iam.start_recording();
    let report = audit_to_stdout(&iam, &["--source", "credential-report"], 3);
    assert_eq!(live.users, report.users);
    assert_eq!(live.summary, report.summary);
    assert_eq!(report.source, keytrim::plan::Source::CredentialReport);

    let actions = iam.recorded_actions();
    assert!(actions.contains(&"GenerateCredentialReport".to_string()));
    assert!(actions.contains(&"GetCredentialReport".to_string()));
    assert!(!actions.contains(&"ListUsers".to_string()), "{actions:?}");
    let listed = actions.iter().filter(|a| *a == "ListAccessKeys").count();
    assert_eq!(listed, 4, "only the report's candidates are listed live");
    assert!(!actions.iter().any(|a| is_write(a)), "{actions:?}");
}

#[test]
fn the_endpoint_url_flag_reaches_the_local_iam() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim()
        .env_remove("AWS_ENDPOINT_URL")
        .args(["--endpoint-url", &iam.endpoint, "audit", "-o", "-"])
        .assert()
        .code(3)
        .stdout(predicates::str::contains("decision: deactivate"));
}

/// Two audits of one account with changes in between: `keytrim diff` names the users
/// that became non-compliant, were fixed, or changed decision, and exits 3; the same
/// plan twice exits 0; plans of two accounts are refused.
#[test]
fn diff_shows_what_changed_between_two_audits() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.keytrim()
        .args(["audit", "-o", "old.yaml"])
        .assert()
        .code(3);
    // alice: her old key deactivated by hand (fixed). bob: a second active key (new).
    // rita: exempted by tag (hold -> exempt).
    iam.set_status("alice", &keys.alice_old.id, false);
    iam.create_user("bob");
    iam.create_key("bob", 200);
    iam.create_key("bob", 10);
    let tag = aws_sdk_iam::types::Tag::builder()
        .key("keytrim:exempt")
        .value("vendor-managed")
        .build()
        .unwrap();
    iam.block_on(iam.iam().tag_user().user_name("rita").tags(tag).send())
        .expect("TagUser");
    iam.keytrim()
        .args(["audit", "-o", "new.yaml"])
        .assert()
        .code(3);

    let output = iam
        .keytrim()
        .args(["diff", "old.yaml", "new.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("newly non-compliant (1):\n  bob      compliant -> deactivate"),
        "{text}"
    );
    assert!(
        text.contains("fixed (1):\n  alice    deactivate -> compliant\n"),
        "{text}"
    );
    assert!(
        text.contains("changed decision (1):\n  rita     hold -> exempt  exempt by tag keytrim:exempt: vendor-managed"),
        "{text}"
    );
    assert!(!text.contains("hank"), "{text}");

    let markdown = iam
        .keytrim()
        .args(["diff", "old.yaml", "new.yaml", "--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(markdown.status.code(), Some(3));
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(markdown.contains("### fixed (1)"), "{markdown}");
    assert!(
        markdown.contains(
            "| `rita` | hold | exempt | exempt by tag keytrim\\:exempt: vendor-managed |"
        ),
        "{markdown}"
    );

    iam.keytrim()
        .args(["diff", "new.yaml", "new.yaml"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "Nothing changed: no decision, reviewer override, key or policy.",
        ));

    // The same plan, moved to another account: refused, naming both.
    let other = std::fs::read_to_string(iam.dir().join("new.yaml"))
        .unwrap()
        .replace("123456789012", "210987654321");
    std::fs::write(iam.dir().join("other.yaml"), other).unwrap();
    iam.keytrim()
        .args(["diff", "old.yaml", "other.yaml"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "other.yaml: is for account 210987654321, but old.yaml is for account 123456789012: diff compares two plans of one account",
        ));
}

/// Under the older reading (`--require-fresh-key`, recorded in the plan's policy) a
/// `rotate` user has two old active keys, and IAM allows two keys per user. The
/// reason's steps are the ones IAM accepts: creating a key beside the two is refused
/// (LimitExceeded), deleting one first makes room. The default reading plans the same
/// user's idle key off instead.
#[test]
fn the_rotate_advice_works_within_iams_two_key_limit() {
    let iam = LocalIam::start();
    iam.create_user("rita");
    let older = iam.create_key("rita", 120);
    let newer = iam.create_key("rita", 100);
    let plan = audit_to_stdout(&iam, &[], 3);
    assert!(!plan.policy.require_fresh_key);
    let rita = user(&plan, "rita");
    assert_eq!(rita.decision, Decision::Deactivate);
    assert_eq!(rita.keep.as_deref(), Some(newer.id.as_str()));
    assert!(rita.rotation_due);
    let plan = audit_to_stdout(&iam, &["--require-fresh-key"], 3);
    assert!(plan.policy.require_fresh_key);
    let rita = user(&plan, "rita");
    assert_eq!(rita.decision, Decision::Rotate);
    assert!(
        rita.reason.contains(
            "IAM allows two keys per user, so no new key can be created beside them: move the application to one of them, deactivate the other and delete it once nothing fails, then create a new key"
        ),
        "{}",
        rita.reason
    );
    // The error code IAM answers a new key with, or None when it is created.
    let create = || {
        iam.block_on(iam.iam().create_access_key().user_name("rita").send())
            .err()
            .map(|err| {
                aws_sdk_iam::error::ProvideErrorMetadata::code(&err)
                    .unwrap_or("no code")
                    .to_string()
            })
    };
    assert_eq!(create().as_deref(), Some("LimitExceeded"));
    iam.set_status("rita", &older.id, false);
    iam.block_on(
        iam.iam()
            .delete_access_key()
            .user_name("rita")
            .access_key_id(&older.id)
            .send(),
    )
    .expect("DeleteAccessKey");
    assert_eq!(create(), None, "with one key deleted, a new key is created");
}

/// The IAM console keeps a key's description as a user tag named by the access key id.
/// The plan records it (null where there is none) from the tags the audit already
/// reads, and text, Markdown and SARIF show it, escaped.
#[test]
fn key_descriptions_from_console_tags_reach_the_plan_and_every_output() {
    let iam = LocalIam::start();
    iam.create_user("deployer");
    let old = iam.create_key("deployer", 200);
    let new = iam.create_key("deployer", 10);
    iam.tag_user("deployer", &old.id, "ci-deploy from GitHub Actions");
    // U+2028 is a line separator IAM accepts in a tag value (\p{Z}): it must not
    // start a new line on the reviewer's screen.
    iam.tag_user("deployer", &new.id, "laptop\u{2028}cleared");
    iam.start_recording();
    iam.keytrim().args(["audit"]).assert().code(3);
    let reads: std::collections::BTreeSet<String> = iam.recorded_actions().into_iter().collect();
    assert_eq!(
        reads,
        [
            "GetAccessKeyLastUsed",
            "GetCallerIdentity",
            "ListAccessKeys",
            "ListUserTags",
            "ListUsers"
        ]
        .map(String::from)
        .into(),
        "descriptions come from the tags already read: no new call"
    );

    let text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    let plan = parse_plan(&text);
    let deployer = user(&plan, "deployer");
    let described = |id: &str| {
        deployer
            .keys
            .iter()
            .find(|key| key.access_key_id == id)
            .and_then(|key| key.description.clone())
    };
    assert_eq!(
        described(&old.id).as_deref(),
        Some("ci-deploy from GitHub Actions")
    );
    assert_eq!(described(&new.id).as_deref(), Some("laptop\u{2028}cleared"));

    let show = |format: &str| {
        let output = iam
            .keytrim()
            .args(["show", "--format", format, PLAN])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let shown = show("text");
    assert!(
        shown.contains("description \"ci-deploy from GitHub Actions\""),
        "{shown}"
    );
    assert!(shown.contains("laptop\\u{2028}cleared"), "{shown}");
    assert!(!shown.contains('\u{2028}'), "{shown}");
    let markdown = show("markdown");
    assert!(markdown.contains("| description |"), "{markdown}");
    assert!(
        markdown.contains("| ci-deploy from GitHub Actions |"),
        "{markdown}"
    );
    let sarif: serde_json::Value = serde_json::from_str(&show("sarif")).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(
        result["properties"]["keyDescriptions"][&old.id],
        "ci-deploy from GitHub Actions"
    );
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{} \"ci-deploy from GitHub Actions\"", old.id)),
        "{result}"
    );
}

/// A key without a description is recorded as null, so a reviewer sees the field was
/// looked at.
#[test]
fn a_key_without_a_description_is_null_in_the_plan() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().args(["audit"]).assert().code(3);
    let text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    assert!(text.contains("description: null"), "{text}");
    assert!(
        parse_plan(&text)
            .users
            .iter()
            .flat_map(|user| &user.keys)
            .all(|key| key.description.is_none())
    );
}
