//! The rotation hand-off carried out (docs/rotation.md): `apply` of a plan that
//! rotates a user bound both ways makes a new key, stages it in the secret, probes it
//! and promotes it, leaving the old key Active; the next audit and apply switch the old
//! key off once the application has moved; rollback moves the secret back; the audit
//! says when a rotation stalled. moto checks no signature unless told to, so that a
//! secret holding the user's key id with a wrong secret would pass the possession
//! proof: these tests turn its authentication on while keytrim runs. `resume` holds
//! the interrupted and forged rotations.

use crate::support::{LocalIam, SeededKey, journals};
use keytrim::rule::Decision;

pub(crate) const PLAN: &str = "plans/123456789012.yaml";
const APP_ARN: &str = "arn:aws:iam::123456789012:user/app";

/// A server of this test's own: its authentication is switched on and off.
pub(crate) fn server() -> LocalIam {
    LocalIam::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "inf")])
}

/// A secret value holding `key`, with a field of the application's own.
pub(crate) fn value_of(key: &SeededKey) -> String {
    format!(
        r#"{{"AccessKeyId":"{}","SecretAccessKey":"{}","Endpoint":"smtp.example.com"}}"#,
        key.id, key.secret
    )
}

/// `app`, one 200-day key used 2 days ago, bound both ways to `app/key`; the key and
/// the secret's ARN.
pub(crate) fn seed(iam: &LocalIam) -> (SeededKey, String) {
    iam.create_user("app");
    let key = iam.create_key("app", 200);
    iam.use_key(&key, 2);
    let secret = iam.create_secret("app/key", &value_of(&key), &[("keytrim:rotates", APP_ARN)]);
    iam.tag_user(
        "app",
        "keytrim:rotate-to",
        &format!("secretsmanager:{secret}"),
    );
    (key, secret)
}

/// `keytrim` signing with `key`.
pub(crate) fn keytrim_as(iam: &LocalIam, key: &SeededKey) -> assert_cmd::Command {
    let mut command = iam.keytrim();
    command
        .env("AWS_ACCESS_KEY_ID", &key.id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret);
    command
}

/// `keytrim apply --yes PLAN` signed by an administrator, with moto's authentication
/// on while it runs: its exit code and standard error.
pub(crate) fn apply_with_auth(iam: &LocalIam) -> (Option<i32>, String) {
    let admin = iam.turn_auth_on();
    let apply = keytrim_as(iam, &admin)
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    iam.turn_auth_off();
    (
        apply.status.code(),
        String::from_utf8_lossy(&apply.stderr).into_owned(),
    )
}

/// Every journal's text, joined.
pub(crate) fn journal_text(iam: &LocalIam) -> String {
    journals(iam.dir())
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

#[test]
fn a_bound_user_ends_with_a_working_new_key_in_awscurrent_and_its_old_key_active() {
    let iam = server();
    let (old, secret) = seed(&iam);
    let (previous_version, original) = iam.current_secret(&secret);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    assert_eq!(
        plan.users[0].decision,
        Decision::Rotate,
        "{}",
        plan.users[0].reason
    );
    assert!(plan.users[0].rotate_to.is_some());

    let admin = iam.turn_auth_on();
    let apply = keytrim_as(&iam, &admin)
        .args(["-vvv", "apply", "--yes", PLAN])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&apply.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&apply.stderr).into_owned();
    iam.turn_auth_off();
    assert_eq!(apply.status.code(), Some(0), "{stderr}");

    // Two keys, both Active: the old one stays until the application stops using it.
    let keys = iam.key_statuses("app");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().all(|(_, status)| status == "Active"),
        "{keys:?}"
    );
    let new_id = keys.iter().find(|(id, _)| *id != old.id).unwrap().0.clone();
    assert!(
        stderr.contains(&format!("handed off: new key {new_id}")),
        "{stderr}"
    );

    // AWSCURRENT holds the new key and the application's own field; AWSPREVIOUS the old.
    let (current_version, current) = iam.current_secret(&secret);
    assert_ne!(current_version, previous_version);
    let value: serde_json::Value = serde_json::from_str(&current).unwrap();
    assert_eq!(value["AccessKeyId"], new_id.as_str());
    assert_eq!(value["Endpoint"], "smtp.example.com");
    let new_secret = value["SecretAccessKey"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old.secret);
    let (previous_now, previous_value) = iam.secret_at(&secret, "AWSPREVIOUS").unwrap();
    assert_eq!((previous_now, previous_value), (previous_version, original));

    // The new key works, as the user.
    iam.turn_auth_on_again();
    let works = iam.caller_arn_of(&new_id, &new_secret);
    iam.turn_auth_off();
    assert_eq!(works.as_deref(), Ok(APP_ARN));

    // The new secret access key is written nowhere keytrim writes.
    let plan_text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    let journal = journal_text(&iam);
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("the journal", &journal),
        ("the plan", &plan_text),
    ] {
        assert!(!text.contains(&new_secret), "the new secret is in {what}");
        assert!(!text.contains(&old.secret), "the old secret is in {what}");
    }
    for step in [
        "\"step\":\"begin\"",
        "\"step\":\"prove\"",
        "\"step\":\"create_access_key\"",
        "\"step\":\"put_secret_value\"",
        "\"step\":\"probe\"",
        "\"step\":\"promote\"",
    ] {
        assert!(journal.contains(step), "{step} missing: {journal}");
    }

    // The application moves: the new key is used, the old one idles past the in-use
    // window. The next audit and apply switch the old key off and keep the new one.
    let new = SeededKey {
        id: new_id.clone(),
        secret: new_secret,
    };
    iam.use_key(&new, 0);
    iam.use_key(&old, 10);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    let app = &plan.users[0];
    assert_eq!(app.decision, Decision::Deactivate, "{}", app.reason);
    assert_eq!(app.keep.as_deref(), Some(new_id.as_str()));
    assert_eq!(app.deactivate, vec![old.id.clone()]);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    assert_eq!(iam.key_status("app", &old.id), "Inactive");
    assert_eq!(iam.key_status("app", &new_id), "Active");
}

/// A secret that does not name the user back is never rotated into, even when the
/// plan says to: apply reads the binding again.
#[test]
fn a_secret_without_the_matching_tag_is_not_rotated_into() {
    let iam = server();
    let (old, secret) = seed(&iam);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    // Someone takes the secret's tag off after the review.
    iam.block_on(
        iam.secrets()
            .untag_resource()
            .secret_id(&secret)
            .tag_keys("keytrim:rotates")
            .send(),
    )
    .unwrap();
    let (code, stderr) = apply_with_auth(&iam);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("the binding no longer holds"), "{stderr}");
    assert_eq!(
        iam.key_statuses("app"),
        vec![(old.id.clone(), "Active".to_string())]
    );
    let (_, value) = iam.current_secret(&secret);
    assert_eq!(value, value_of(&old));
}

/// Secrets Manager refuses PutSecretValue: the new key, which no version ever held, is
/// deleted; the old key and the secret are as they were.
#[test]
fn a_refused_put_secret_value_leaves_the_old_key_and_deletes_the_new() {
    let iam = server();
    let (old, secret) = seed(&iam);
    let (_, original) = iam.current_secret(&secret);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let admin = iam.turn_auth_on();
    let proxy = crate::support::proxy::FaultProxy::start(
        &iam.endpoint,
        crate::support::proxy::Faults {
            // Only PutSecretValue's body holds a secret string.
            deny_containing: vec!["\"SecretString\"".to_string()],
            ..Default::default()
        },
    );
    let apply = keytrim_as(&iam, &admin)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("RUST_LOG", "trace")
        .args(["-vvv", "apply", "--yes", PLAN])
        .output()
        .unwrap();
    iam.turn_auth_off();
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert_eq!(apply.status.code(), Some(1), "{stderr}");
    // The new secret access key, as the refused request carried it, is nowhere keytrim
    // writes on this error path either.
    let (_, _, body) = proxy
        .tally()
        .arrivals
        .into_iter()
        .find(|(_, action, _)| action == "PutSecretValue")
        .expect("PutSecretValue was sent");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let staged: serde_json::Value =
        serde_json::from_str(body["SecretString"].as_str().unwrap()).unwrap();
    let new_secret = staged["SecretAccessKey"].as_str().unwrap();
    assert_ne!(new_secret, old.secret);
    let stdout = String::from_utf8_lossy(&apply.stdout);
    for (what, text) in [
        ("stdout", stdout.as_ref()),
        ("stderr", &stderr),
        ("the journal", &journal_text(&iam)),
    ] {
        assert!(!text.contains(new_secret), "the new secret is in {what}");
    }
    assert!(
        stderr.contains("deleted (no version of the secret ever held it)"),
        "{stderr}"
    );
    assert_eq!(
        iam.key_statuses("app"),
        vec![(old.id.clone(), "Active".to_string())]
    );
    assert_eq!(iam.current_secret(&secret).1, original);
    assert_eq!(proxy.tally().faults.get("access_denied"), Some(&1));
    assert!(journal_text(&iam).contains("\"step\":\"delete_access_key\""));
}

/// `keytrim rollback --yes JOURNAL` signed by `key`, with moto's authentication on
/// while it runs: its exit code and standard error.
fn rollback_as(
    iam: &LocalIam,
    key: &SeededKey,
    journal: &std::path::Path,
) -> (Option<i32>, String) {
    iam.turn_auth_on_again();
    let rollback = keytrim_as(iam, key)
        .args(["rollback", "--yes"])
        .arg(journal)
        .output()
        .unwrap();
    iam.turn_auth_off();
    (
        rollback.status.code(),
        String::from_utf8_lossy(&rollback.stderr).into_owned(),
    )
}

/// Rollback of a hand-off moves AWSCURRENT back to the old key and leaves the new key
/// Active; the next audit holds the user rather than switch off the key its secret
/// hands out again.
#[test]
fn rollback_moves_awscurrent_back_and_leaves_the_new_key_active() {
    let iam = server();
    let (old, secret) = seed(&iam);
    let (previous_version, original) = iam.current_secret(&secret);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let admin = iam.turn_auth_on();
    keytrim_as(&iam, &admin)
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    let applied = journals(iam.dir());
    assert_eq!(applied.len(), 1);
    // The old key switched off since: moving AWSCURRENT back would hand out a key
    // that does not work, so the user is left alone.
    iam.turn_auth_off();
    let (_, handed_off) = iam.current_secret(&secret);
    iam.set_status("app", &old.id, false);
    let (code, stderr) = rollback_as(&iam, &admin, &applied[0]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("is no longer Active"), "{stderr}");
    assert_eq!(iam.current_secret(&secret).1, handed_off);
    iam.set_status("app", &old.id, true);

    let (code, stderr) = rollback_as(&iam, &admin, &applied[0]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("moved back to the old key"), "{stderr}");
    assert_eq!(iam.current_secret(&secret), (previous_version, original));
    // AWSPENDING is off the rotation's version: the secret can take another rotation.
    assert_eq!(iam.secret_at(&secret, "AWSPENDING"), None);
    let keys = iam.key_statuses("app");
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().all(|(_, status)| status == "Active"),
        "{keys:?}"
    );
    assert!(journal_text(&iam).contains("\"step\":\"restore\""));

    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    let app = &plan.users[0];
    assert_eq!(app.decision, Decision::Hold, "{}", app.reason);
    let hands_out = app.secret_hands_out.as_ref().unwrap();
    assert_eq!(hands_out.access_key_id.as_deref(), Some(old.id.as_str()));
}

/// The application still uses the old key more than a week after the hand-off: the
/// next audit, and the report of its plan, say the rotation stalled and name caching.
#[test]
fn a_rotation_still_using_the_old_key_a_week_later_is_reported_stalled() {
    let iam = server();
    let (old, _) = seed(&iam);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let (code, stderr) = apply_with_auth(&iam);
    assert_eq!(code, Some(0), "{stderr}");
    // A use of the old key eight days after the new one was made (the local IAM's
    // clock moved ahead for it).
    iam.use_key_hours_from_now(&old, 8 * 24 + 1);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    let app = &plan.users[0];
    assert!(app.reason.contains("rotation stalled"), "{}", app.reason);
    assert!(app.reason.contains(&old.id), "{}", app.reason);
    assert_eq!(iam.key_status("app", &old.id), "Active");
    let report = iam.keytrim().args(["report", PLAN]).output().unwrap();
    let html = String::from_utf8_lossy(&report.stdout);
    assert_eq!(
        report.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(html.contains("rotation stalled"));
}

/// A rollback moves the secret back to the old key; a plan audited before the
/// rollback, which switches the old key off, is applied anyway: apply reads which key
/// the secret hands out now, and leaves the user alone.
#[test]
fn a_plan_from_before_a_rollback_does_not_switch_off_the_key_the_secret_hands_out() {
    let iam = server();
    let (old, _) = seed(&iam);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let (code, stderr) = apply_with_auth(&iam);
    assert_eq!(code, Some(0), "{stderr}");
    let applied = journals(iam.dir());
    // The application moved; the plan written now switches the old key off.
    iam.use_key(&old, 10);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    assert_eq!(plan.users[0].deactivate, vec![old.id.clone()]);
    let admin = iam.turn_auth_on();
    iam.turn_auth_off();
    let (code, stderr) = rollback_as(&iam, &admin, &applied[0]);
    assert_eq!(code, Some(0), "{stderr}");
    let apply = iam
        .keytrim()
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert_eq!(apply.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("which the plan switches off"), "{stderr}");
    assert_eq!(iam.key_status("app", &old.id), "Active");
}
