//! The rotation hand-off carried out (docs/rotation.md, slice 3): `apply` of a plan
//! that rotates a user bound both ways makes a new key, stages it in the secret,
//! probes it and promotes it, leaving the old key Active; the next audit and apply
//! switch the old key off once the application has moved. moto checks no signature
//! unless told to, and then sts:GetCallerIdentity would not answer the key's user:
//! these tests turn its authentication on while keytrim runs, so that the possession
//! proof and the probe prove something.

use crate::support::{LocalIam, SeededKey, journals};
use keytrim::rule::Decision;

const PLAN: &str = "plans/123456789012.yaml";
const APP_ARN: &str = "arn:aws:iam::123456789012:user/app";

/// A server of this test's own: its authentication is switched on and off.
fn server() -> LocalIam {
    LocalIam::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "inf")])
}

/// A secret value holding `key`, with a field of the application's own.
fn value_of(key: &SeededKey) -> String {
    format!(
        r#"{{"AccessKeyId":"{}","SecretAccessKey":"{}","Endpoint":"smtp.example.com"}}"#,
        key.id, key.secret
    )
}

/// `app`, one 200-day key used 2 days ago, bound both ways to `app/key`; the key and
/// the secret's ARN.
fn seed(iam: &LocalIam) -> (SeededKey, String) {
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
fn keytrim_as(iam: &LocalIam, key: &SeededKey) -> assert_cmd::Command {
    let mut command = iam.keytrim();
    command
        .env("AWS_ACCESS_KEY_ID", &key.id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret);
    command
}

/// `keytrim apply --yes PLAN` signed by an administrator, with moto's authentication
/// on while it runs: its exit code and standard error.
fn apply_with_auth(iam: &LocalIam) -> (Option<i32>, String) {
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
fn journal_text(iam: &LocalIam) -> String {
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

/// Where apply is killed: the request the proxy never answers (the `nth` of its
/// action), sent on first (the change made, its answer lost) or not. GetCallerIdentity
/// #1 is keytrim's own caller check; #2 the possession proof; #3 the probe's first.
const KILL_POINTS: [(&str, usize, bool); 8] = [
    ("GetCallerIdentity", 2, false),
    ("CreateAccessKey", 1, false),
    ("CreateAccessKey", 1, true),
    ("PutSecretValue", 1, false),
    ("PutSecretValue", 1, true),
    ("GetCallerIdentity", 3, false),
    ("UpdateSecretVersionStage", 1, false),
    ("UpdateSecretVersionStage", 1, true),
];

/// The promise after any stop: the old key Active, AWSCURRENT naming an active key
/// of the user, and every active key of the user held by a version of the secret.
fn assert_no_key_is_left_that_no_secret_holds(
    iam: &LocalIam,
    old: &SeededKey,
    secret: &str,
    at: &str,
) {
    let active: Vec<String> = iam
        .key_statuses("app")
        .into_iter()
        .filter(|(_, status)| status == "Active")
        .map(|(id, _)| id)
        .collect();
    assert!(active.contains(&old.id), "{at}: the old key is not Active");
    let held: Vec<String> = ["AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"]
        .into_iter()
        .filter_map(|stage| iam.secret_at(secret, stage))
        .map(|(_, value)| {
            let value: serde_json::Value = serde_json::from_str(&value).unwrap();
            value["AccessKeyId"].as_str().unwrap().to_string()
        })
        .collect();
    let (_, current) = iam.current_secret(secret);
    let current: serde_json::Value = serde_json::from_str(&current).unwrap();
    let current = current["AccessKeyId"].as_str().unwrap();
    assert!(
        active.iter().any(|id| id == current),
        "{at}: AWSCURRENT names {current}, not an active key ({active:?})"
    );
    for id in &active {
        assert!(
            held.contains(id),
            "{at}: {id} is Active and no version holds it"
        );
    }
}

/// A kill at each step, then apply again: the next apply takes the rotation up from
/// its journal, and no key is left Active that no secret holds.
#[test]
fn a_kill_at_any_step_then_apply_again_leaves_no_key_no_secret_holds() {
    for (action, nth, after_forwarding) in KILL_POINTS {
        let at = format!(
            "{action} #{nth}{}",
            if after_forwarding { " (sent)" } else { "" }
        );
        let iam = server();
        let (old, secret) = seed(&iam);
        iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
        let admin = iam.turn_auth_on();
        let proxy = crate::support::proxy::FaultProxy::start(
            &iam.endpoint,
            crate::support::proxy::Faults {
                hold: Some(crate::support::proxy::Hold {
                    action,
                    nth,
                    after_forwarding,
                }),
                ..Default::default()
            },
        );
        let mut child = iam
            .keytrim_std()
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_ACCESS_KEY_ID", &admin.id)
            .env("AWS_SECRET_ACCESS_KEY", &admin.secret)
            .args(["apply", "--yes", PLAN])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !proxy.tally().faults.contains_key("held") {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{at}: apply ended first"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "{at}: not held within 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let again = keytrim_as(&iam, &admin)
            .args(["apply", "--yes", PLAN])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
        iam.turn_auth_off();
        assert!(
            matches!(again.status.code(), Some(0 | 1 | 4)),
            "{at}: {stderr}"
        );
        assert_no_key_is_left_that_no_secret_holds(&iam, &old, &secret, &at);
        // Killed before CreateAccessKey went out: no key was made, but IAM's listing
        // may lag, so the next apply names the user and looks again later.
        if (action, after_forwarding) == ("CreateAccessKey", false) {
            assert!(stderr.contains("IAM's listings can lag"), "{at}: {stderr}");
            continue;
        }
        assert!(!stderr.contains("OUTCOME UNKNOWN"), "{at}: {stderr}");
        // Nothing is left to take up: a third apply finds the rotation over.
        let journals_before = journals(iam.dir()).len();
        iam.turn_auth_on_again();
        let third = keytrim_as(&iam, &admin)
            .args(["apply", "--yes", "--dry-run", PLAN])
            .output()
            .unwrap();
        iam.turn_auth_off();
        let third = String::from_utf8_lossy(&third.stderr).into_owned();
        assert!(!third.contains("unfinished"), "{at}: {third}");
        assert_eq!(journals(iam.dir()).len(), journals_before);
    }
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

/// A journal is a file: one placed beside the plan that names another user's secret,
/// and the user's own key as the "new key", gets nothing done. The user and the
/// journal's secret do not name each other, so the resume is left to a person and no
/// key is switched off.
#[test]
fn a_hostile_journal_beside_the_plan_switches_no_key_off() {
    use keytrim::journal::{Entry, Event, Mode, Rotation, RotationLine, RotationStep, RunInfo};
    let iam = server();
    let (app_key, _) = seed(&iam);
    iam.create_user("other");
    let other_key = iam.create_key("other", 200);
    let other_secret = iam.create_secret(
        "other/key",
        &value_of(&other_key),
        &[("keytrim:rotates", "arn:aws:iam::123456789012:user/other")],
    );
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let (other_version, _) = iam.current_secret(&other_secret);
    let mut run = Entry::new(Event::Run, "123456789012", "");
    run.user_name = None;
    run.run = Some(RunInfo {
        mode: Mode::Apply,
        source: PLAN.into(),
        tool: "not keytrim".into(),
        caller_arn: "arn:aws:iam::123456789012:user/admin".into(),
        source_sha256: None,
    });
    let rotation = Rotation {
        step: RotationStep::Begin,
        secret_arn: other_secret.clone(),
        token: "0b7c5e0e-6f4b-4e8a-9d1e-2f3a4b5c6d7e".into(),
        previous_version: other_version,
        old_access_key_id: other_key.id.clone(),
    };
    let lines = [
        run,
        RotationLine::Intent.entry("123456789012", "app", &rotation, None),
        RotationLine::Done.entry(
            "123456789012",
            "app",
            &rotation.at(RotationStep::CreateAccessKey),
            Some(&app_key.id),
        ),
    ];
    let text: String = lines
        .iter()
        .map(|line| serde_json::to_string(line).unwrap() + "\n")
        .collect();
    std::fs::write(
        iam.dir()
            .join("plans/123456789012.20000101T000000.000Z.journal.jsonl"),
        text,
    )
    .unwrap();
    let (code, stderr) = apply_with_auth(&iam);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no longer name each other"), "{stderr}");
    assert_eq!(iam.key_status("app", &app_key.id), "Active");
    assert_eq!(iam.key_status("other", &other_key.id), "Active");
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
