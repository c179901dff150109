//! An interrupted or forged rotation hand-off, taken up by the next apply
//! (docs/rotation.md, "Crashes"): apply killed at each step and run again leaves no
//! active key that no secret holds; a journal beside the plan that keytrim did not
//! write gets no used key switched off. moto's authentication is on while keytrim runs,
//! as in `hand_off`.

use crate::hand_off::{PLAN, apply_with_auth, keytrim_as, seed, server, value_of};
use crate::support::{LocalIam, SeededKey, journals};

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

/// A child process killed when dropped: a failed assertion never leaves an apply
/// waiting on a held request behind it.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
        let mut child = KilledOnDrop(
            iam.keytrim_std()
                .env("AWS_ENDPOINT_URL", &proxy.endpoint)
                .env("AWS_ACCESS_KEY_ID", &admin.id)
                .env("AWS_SECRET_ACCESS_KEY", &admin.secret)
                .args(["apply", "--yes", PLAN])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !proxy.tally().faults.contains_key("held") {
            assert!(
                child.0.try_wait().unwrap().is_none(),
                "{at}: apply ended first"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "{at}: not held within 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();
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

/// A journal beside the plan that keytrim did not write: an apply run line, then
/// `lines`.
fn plant_journal(iam: &LocalIam, lines: Vec<keytrim::journal::Entry>) {
    use keytrim::journal::{Entry, Event, Mode, RunInfo};
    let mut run = Entry::new(Event::Run, "123456789012", "");
    run.user_name = None;
    run.run = Some(RunInfo {
        mode: Mode::Apply,
        source: PLAN.into(),
        tool: "not keytrim".into(),
        caller_arn: "arn:aws:iam::123456789012:user/admin".into(),
        source_sha256: None,
    });
    let text: String = std::iter::once(run)
        .chain(lines)
        .map(|line| serde_json::to_string(&line).unwrap() + "\n")
        .collect();
    let path = iam
        .dir()
        .join("plans/123456789012.20000101T000000.000Z.journal.jsonl");
    std::fs::write(&path, text).unwrap();
    // As keytrim writes its journals, whatever the umask: only the owner-and-private
    // check's own test is about the mode.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// A journal is a file: one placed beside the plan that names another user's secret,
/// and the user's own key as the "new key", gets nothing done. The user and the
/// journal's secret do not name each other, so the resume is left to a person and no
/// key is switched off.
#[test]
fn a_hostile_journal_beside_the_plan_switches_no_key_off() {
    use keytrim::journal::{Rotation, RotationLine, RotationStep};
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
    let rotation = Rotation {
        step: RotationStep::Begin,
        secret_arn: other_secret.clone(),
        token: "0b7c5e0e-6f4b-4e8a-9d1e-2f3a4b5c6d7e".into(),
        previous_version: other_version,
        old_access_key_id: other_key.id.clone(),
    };
    plant_journal(
        &iam,
        vec![
            RotationLine::Intent.entry("123456789012", "app", &rotation, None),
            RotationLine::Done.entry(
                "123456789012",
                "app",
                &rotation.at(RotationStep::CreateAccessKey),
                Some(&app_key.id),
            ),
        ],
    );
    let (code, stderr) = apply_with_auth(&iam);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no longer name each other"), "{stderr}");
    assert_eq!(iam.key_status("app", &app_key.id), "Active");
    assert_eq!(iam.key_status("other", &other_key.id), "Active");
}

/// A journal forged for a user truly bound to its secret (after a real hand-off, the
/// old key still used): it names the old key as a "new key" made when a rotation began.
/// Before ending a key, apply reads from AWS whether it may: the secret's AWSPREVIOUS
/// hands it out and it has been used, so it is left Active for a person.
#[test]
fn a_journal_forged_for_a_bound_user_switches_no_used_key_off() {
    use keytrim::journal::{Rotation, RotationLine, RotationStep};
    let iam = server();
    let (old, secret) = seed(&iam);
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let (code, stderr) = apply_with_auth(&iam);
    assert_eq!(code, Some(0), "{stderr}");
    iam.use_key(&old, 0);
    let (version, value) = iam.current_secret(&secret);
    let value: serde_json::Value = serde_json::from_str(&value).unwrap();
    let new_id = value["AccessKeyId"].as_str().unwrap().to_string();
    iam.keytrim().args(["audit", "--rotation"]).assert().code(3);
    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    let old_created = plan.users[0]
        .keys
        .iter()
        .find(|key| key.access_key_id == old.id)
        .unwrap()
        .created;
    let rotation = Rotation {
        step: RotationStep::Begin,
        secret_arn: secret.clone(),
        token: "0b7c5e0e-6f4b-4e8a-9d1e-2f3a4b5c6d7e".into(),
        previous_version: version,
        old_access_key_id: new_id,
    };
    let mut begin = RotationLine::Intent.entry("123456789012", "app", &rotation, None);
    begin.ts = old_created;
    let mut created = RotationLine::Done.entry(
        "123456789012",
        "app",
        &rotation.at(RotationStep::CreateAccessKey),
        Some(&old.id),
    );
    created.ts = old_created;
    plant_journal(&iam, vec![begin, created]);
    let (code, stderr) = apply_with_auth(&iam);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is left Active"), "{stderr}");
    assert_eq!(iam.key_status("app", &old.id), "Active");
}
