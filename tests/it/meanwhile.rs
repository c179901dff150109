//! Others act beside keytrim: a person in the console, an expiring session, an owner
//! who re-enables a key. Every promise (no user without an active key, a true journal,
//! a rollback that undoes only keytrim's own changes) must hold while they do. IAM's
//! side is played by the fault proxy (a change of its own just before keytrim's call,
//! a refused retry) and by moto's clock (a use after the apply).

use std::time::Duration;

use crate::support::proxy::{FaultProxy, Faults, SideChange};
use crate::support::{LocalIam, SeededKey, journals, new_journal, only_journal};
use keytrim::facts::KeyStatus;
use keytrim::journal::{Entry, Event};

const PLAN: &str = "plans/123456789012.yaml";

/// erin: an old key (200 days) to deactivate and a new one (10 days) to keep.
fn erin(iam: &LocalIam) -> (SeededKey, SeededKey) {
    iam.create_user("erin");
    let old = iam.create_key("erin", 200);
    let new = iam.create_key("erin", 10);
    iam.keytrim().arg("audit").assert().code(3);
    (old, new)
}

/// `keytrim apply --yes` of the audit's plan, through the proxy.
fn apply_through(iam: &LocalIam, proxy: &FaultProxy) -> std::process::Output {
    iam.keytrim_via(&proxy.endpoint)
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap()
}

/// erin's lockout was averted: one LOCKOUT AVERTED line naming her, `why` and the key
/// given back; that key Active again, the kept key as someone else left it (Inactive);
/// the journal's intent and done of the change, then of its undoing, then `drifted`.
fn assert_lockout_averted(
    iam: &LocalIam,
    stderr: &str,
    old: &SeededKey,
    new: &SeededKey,
    why: &str,
) {
    let loud: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("LOCKOUT AVERTED:"))
        .collect();
    assert_eq!(loud.len(), 1, "{stderr}");
    assert!(
        loud[0].contains("erin")
            && loud[0].contains(why)
            && loud[0].contains(&format!("re-activated {}", old.id)),
        "{stderr}"
    );
    assert_eq!(iam.key_status("erin", &old.id), "Active");
    assert_eq!(iam.key_status("erin", &new.id), "Inactive");
    let lines: Vec<(Event, Option<KeyStatus>)> = read(&only_journal(iam.dir()))
        .iter()
        .map(|e| (e.event, e.to))
        .collect();
    assert_eq!(
        lines,
        [
            (Event::Run, None),
            (Event::Intent, Some(KeyStatus::Inactive)),
            (Event::Done, Some(KeyStatus::Inactive)),
            (Event::Intent, Some(KeyStatus::Active)),
            (Event::Done, Some(KeyStatus::Active)),
            (Event::Drifted, None),
        ]
    );
}

fn read(path: &std::path::Path) -> Vec<Entry> {
    keytrim::journal::read(path).expect("a readable journal")
}

/// Someone switches off erin's kept key in the console between keytrim's drift check
/// and its UpdateAccessKey. keytrim's change would leave erin with no active key, so
/// it re-activates the key it just switched off, journals that, names erin in one loud
/// line and exits 1, at once rather than after the verification's timeout.
#[test]
fn a_kept_key_switched_off_mid_run_never_leaves_the_user_without_an_active_key() {
    let iam = LocalIam::start();
    let (old, new) = erin(&iam);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            side_change: Some(SideChange {
                user_name: "erin".into(),
                access_key_id: new.id.clone(),
                status: "Inactive",
            }),
            ..Faults::default()
        },
    );
    let output = apply_through(&iam, &proxy);
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert_eq!(proxy.tally().faults.get("side_change"), Some(&1));
    assert_lockout_averted(&iam, &stderr, &old, &new, "re-activated");
    let journal = only_journal(iam.dir());

    // Rolling that apply back changes nothing: keytrim already undid its change, and
    // the key someone else switched off is theirs to decide.
    iam.keytrim()
        .args(["rollback", "--yes"])
        .arg(&journal)
        .assert()
        .code(0);
    assert_eq!(iam.key_status("erin", &old.id), "Active");
    assert_eq!(iam.key_status("erin", &new.id), "Inactive");
}

/// Someone switches off erin's kept key just before keytrim's UpdateAccessKey of her
/// other key, and IAM's listings lag 12 s behind both changes. Whatever the
/// verification's timeout, erin ends with a working key, the journal says so, and the
/// run exits 1 with the LOCKOUT AVERTED line:
/// - within `--verify-timeout 5`, no listing shows either change: a deactivation
///   never seen is undone, since a lagging listing cannot show the kept key's state;
/// - within the default 30 s, the listings catch up and show the kept key off.
#[test]
fn a_kept_key_switched_off_while_listings_lag_never_leaves_the_user_without_an_active_key() {
    let lag = Duration::from_secs(12);
    for (timeout, why) in [
        ("5", "was not seen Inactive within 5 s"),
        ("30", "someone else switched it off"),
    ] {
        let iam = LocalIam::start();
        let (old, new) = erin(&iam);
        let proxy = FaultProxy::start(
            &iam.endpoint,
            Faults {
                side_change: Some(SideChange {
                    user_name: "erin".into(),
                    access_key_id: new.id.clone(),
                    status: "Inactive",
                }),
                listing_lag: lag,
                ..Faults::default()
            },
        );
        let output = iam
            .keytrim_via(&proxy.endpoint)
            .args(["apply", "--yes", "--verify-timeout", timeout, PLAN])
            .output()
            .unwrap();
        let stderr = crate::support::stderr_with_code(&output, 1);
        let tally = proxy.tally();
        assert_eq!(tally.faults.get("side_change"), Some(&1), "{tally:?}");
        assert!(tally.faults.get("lagged_status") > Some(&0), "{tally:?}");
        assert_lockout_averted(&iam, &stderr, &old, &new, why);
    }
}

/// IAM's listings lag 3 s and nobody else acts: the verification waits until two
/// listings in a row show the change, and the user is verified.
#[test]
fn a_change_that_listings_show_late_is_verified() {
    let iam = LocalIam::start();
    let (old, new) = erin(&iam);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            listing_lag: Duration::from_secs(3),
            ..Faults::default()
        },
    );
    let output = apply_through(&iam, &proxy);
    crate::support::stderr_with_code(&output, 0);
    assert!(proxy.tally().faults.get("lagged_status") > Some(&0));
    assert_eq!(iam.key_status("erin", &old.id), "Inactive");
    assert_eq!(iam.key_status("erin", &new.id), "Active");
    let events: Vec<Event> = read(&only_journal(iam.dir()))
        .iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [Event::Run, Event::Intent, Event::Done, Event::Verified]
    );
}

/// IAM applies the UpdateAccessKey, the answer is lost, and the SDK's retry is refused
/// because the session expired meanwhile. The final error is an answer from IAM, but
/// not proof that nothing changed: keytrim reads the key back, journals `done`, and
/// rollback restores the key.
#[test]
fn a_refused_retry_after_a_lost_answer_is_journaled_as_what_iam_shows() {
    let iam = LocalIam::start();
    let (old, new) = erin(&iam);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            lost_update_response: 1.0,
            refuse_repeated_update: Some("ExpiredToken"),
            ..Faults::default()
        },
    );
    let before = journals(iam.dir());
    let output = apply_through(&iam, &proxy);
    crate::support::stderr_with_code(&output, 0);
    let tally = proxy.tally();
    assert_eq!(tally.faults.get("lost_response"), Some(&1), "{tally:?}");
    assert_eq!(tally.faults.get("refused_retry"), Some(&1), "{tally:?}");
    assert_eq!(iam.key_status("erin", &old.id), "Inactive");
    assert_eq!(iam.key_status("erin", &new.id), "Active");

    let journal = new_journal(iam.dir(), &before).expect("a journal");
    let entries = read(&journal);
    let outcomes: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.event, Event::Done | Event::Failed | Event::Unknown))
        .collect();
    assert_eq!(outcomes.len(), 1, "{entries:?}");
    assert_eq!(outcomes[0].event, Event::Done);
    let reason = outcomes[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("ExpiredToken") && reason.contains("shows it Inactive"),
        "{reason}"
    );

    iam.keytrim()
        .args(["rollback", "--yes"])
        .arg(&journal)
        .assert()
        .code(0);
    assert_eq!(iam.key_status("erin", &old.id), "Active");
}

/// IAM's answers are data: an error message that hides text (a right-to-left override)
/// or drives the terminal (the C1 control CSI, which XML allows in a message) reaches
/// the terminal written out, in the log line about the unclear call as everywhere
/// else; and the log line itself carries no colour code, raw or written out.
#[test]
fn an_error_message_from_iam_reaches_the_terminal_written_out() {
    let iam = LocalIam::start();
    let (old, _) = erin(&iam);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            lost_update_response: 1.0,
            refuse_repeated_update: Some("ExpiredToken"),
            refusal_message: Some("expired\u{202e}deniedni\u{9b}2J"),
            ..Faults::default()
        },
    );
    // Without NO_COLOR (which every other test sets): a log line's own colour codes
    // must not show as written-out text either.
    let output = iam
        .keytrim_via(&proxy.endpoint)
        .env_remove("NO_COLOR")
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 0);
    assert_eq!(proxy.tally().faults.get("refused_retry"), Some(&1));
    assert_eq!(iam.key_status("erin", &old.id), "Inactive");
    assert!(
        !stderr.contains("\\u{1b}"),
        "colour codes shown as text:\n{stderr}"
    );
    assert!(
        stderr.contains("UpdateAccessKey failed")
            && stderr.contains("expired\\u{202e}deniedni\\u{9b}2J"),
        "the log line about the unclear call shows the message written out:\n{stderr}"
    );
    assert!(
        !stderr.contains('\u{202e}') && !stderr.contains('\u{9b}'),
        "a hidden control reached the terminal:\n{stderr:?}"
    );
}

/// IAM applies the UpdateAccessKey, the answer is lost, the SDK's retry is refused
/// with ExpiredToken, and IAM's listings lag 12 s, so reading the key back still shows
/// it Active. An error after an attempt whose answer was lost proves nothing: the key
/// is `unknown`, never `failed`, until listings taken after the lag settle it (`done`,
/// then `verified`). Rollback restores it.
#[test]
fn a_refused_retry_after_a_lost_answer_read_back_through_lag_is_never_failed() {
    let iam = LocalIam::start();
    let (old, new) = erin(&iam);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            lost_update_response: 1.0,
            refuse_repeated_update: Some("ExpiredToken"),
            listing_lag: Duration::from_secs(12),
            ..Faults::default()
        },
    );
    let before = journals(iam.dir());
    let output = apply_through(&iam, &proxy);
    crate::support::stderr_with_code(&output, 0);
    let tally = proxy.tally();
    assert!(tally.faults.get("refused_retry") >= Some(&1), "{tally:?}");
    assert!(tally.faults.get("lagged_status") > Some(&0), "{tally:?}");
    assert_eq!(iam.key_status("erin", &old.id), "Inactive");
    assert_eq!(iam.key_status("erin", &new.id), "Active");

    let journal = new_journal(iam.dir(), &before).expect("a journal");
    let events: Vec<Event> = read(&journal).iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        [
            Event::Run,
            Event::Intent,
            Event::Unknown,
            Event::Done,
            Event::Verified
        ]
    );
    iam.keytrim()
        .args(["rollback", "--yes"])
        .arg(&journal)
        .assert()
        .code(0);
    assert_eq!(iam.key_status("erin", &old.id), "Active");
}

/// After an apply, erin's owner switches her old key on again, uses it, and security
/// switches it off once more. That use, in a later minute than the apply's change, is
/// proof that someone else acted: rollback leaves the key Inactive, journals it as
/// drifted with the reason, names it, and exits 4, while frank's key is restored.
#[test]
fn rollback_leaves_alone_a_key_used_after_the_apply_changed_it() {
    let iam = LocalIam::start();
    iam.create_user("frank");
    let frank_old = iam.create_key("frank", 150);
    iam.create_key("frank", 5);
    let (erin_old, _) = erin(&iam);
    let before = journals(iam.dir());
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    let journal = new_journal(iam.dir(), &before).expect("the apply's journal");

    iam.set_status("erin", &erin_old.id, true);
    iam.use_key_hours_from_now(&erin_old, 2);
    iam.set_status("erin", &erin_old.id, false);

    let before = journals(iam.dir());
    let output = iam
        .keytrim()
        .args(["rollback", "--yes"])
        .arg(&journal)
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 4);
    let erin_line = stderr
        .lines()
        .find(|line| line.trim_start().starts_with("erin"))
        .unwrap_or_else(|| panic!("no line for erin: {stderr}"));
    assert!(
        erin_line.contains("drifted")
            && erin_line.contains(&erin_old.id)
            && erin_line.contains("stays Inactive"),
        "{erin_line}"
    );
    assert_eq!(iam.key_status("erin", &erin_old.id), "Inactive");
    assert_eq!(iam.key_status("frank", &frank_old.id), "Active");

    let rollback_journal = new_journal(iam.dir(), &before).expect("the rollback's journal");
    let drifted: Vec<Entry> = read(&rollback_journal)
        .into_iter()
        .filter(|e| e.event == Event::Drifted)
        .collect();
    assert_eq!(drifted.len(), 1, "{drifted:?}");
    assert_eq!(
        drifted[0].access_key_id.as_deref(),
        Some(erin_old.id.as_str())
    );
    assert!(
        drifted[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("after the apply deactivated it")),
        "{drifted:?}"
    );
}

/// IAM refuses the apply's call for erin's and frank's old keys (`failed`). Later
/// someone switches erin's off. Rollback reads both keys' live state and switches
/// neither on: erin's is someone else's doing, left Inactive for a person with the
/// reason (exit 4); frank's is Active, so there is nothing to undo, and no
/// UpdateAccessKey is sent at all. gina's key, which the apply did switch off, is
/// restored beside them.
#[test]
fn rollback_reads_keys_iam_refused_to_switch_off_and_never_switches_them_on() {
    let iam = LocalIam::start();
    let (erin_old, _) = erin(&iam);
    iam.create_user("frank");
    let frank_old = iam.create_key("frank", 150);
    iam.create_key("frank", 5);
    iam.create_user("gina");
    let gina_old = iam.create_key("gina", 150);
    iam.create_key("gina", 5);
    iam.keytrim().arg("audit").assert().code(3);
    let refusing = FaultProxy::start(
        &iam.endpoint,
        Faults {
            deny_containing: vec![
                "Action=UpdateAccessKey&UserName=erin".to_string(),
                "Action=UpdateAccessKey&UserName=frank".to_string(),
            ],
            ..Faults::default()
        },
    );
    let before = journals(iam.dir());
    let output = apply_through(&iam, &refusing);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let journal = new_journal(iam.dir(), &before).expect("the apply's journal");
    let failed = read(&journal)
        .iter()
        .filter(|e| e.event == Event::Failed)
        .count();
    assert_eq!(failed, 2, "erin's and frank's calls were refused");
    assert_eq!(iam.key_status("gina", &gina_old.id), "Inactive");

    iam.set_status("erin", &erin_old.id, false);
    let watching = FaultProxy::start(&iam.endpoint, Faults::default());
    let before = journals(iam.dir());
    let output = iam
        .keytrim_via(&watching.endpoint)
        .args(["rollback", "--yes"])
        .arg(&journal)
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 4);
    let line_of = |user: &str| {
        stderr
            .lines()
            .find(|line| line.trim_start().starts_with(user))
            .unwrap_or_else(|| panic!("no line for {user}: {stderr}"))
            .to_string()
    };
    let erin_line = line_of("erin");
    assert!(
        erin_line.contains("drifted")
            && erin_line.contains(&erin_old.id)
            && erin_line.contains("IAM refused")
            && erin_line.contains("stays Inactive"),
        "{erin_line}"
    );
    assert!(line_of("frank").contains("nothing to undo"), "{stderr}");
    assert_eq!(iam.key_status("erin", &erin_old.id), "Inactive");
    assert_eq!(iam.key_status("frank", &frank_old.id), "Active");
    assert_eq!(iam.key_status("gina", &gina_old.id), "Active");
    // gina's key alone was switched on: one call.
    assert_eq!(
        watching.tally().received.get("UpdateAccessKey"),
        Some(&1),
        "{:?}",
        watching.tally().received
    );

    let rollback_journal = new_journal(iam.dir(), &before).expect("the rollback's journal");
    let lines = read(&rollback_journal);
    let about = |user: &str| -> Vec<(Event, Option<String>)> {
        lines
            .iter()
            .filter(|e| e.user_name.as_deref() == Some(user))
            .map(|e| (e.event, e.access_key_id.clone()))
            .collect()
    };
    assert_eq!(about("erin"), [(Event::Drifted, Some(erin_old.id.clone()))]);
    assert_eq!(
        about("frank"),
        [(Event::Skipped, Some(frank_old.id.clone()))]
    );
    // No line says a key was found Active (Active -> Active): frank's was never off.
    assert!(
        !lines.iter().any(|e| e.from == Some(KeyStatus::Active)),
        "{lines:?}"
    );
}

/// Policies beside keytrim: an explicit deny protects `breakglass` (its keys cannot be
/// listed), one of bob's keys (its last use cannot be read) and carl's tags. Each is a
/// finding, not a crash: the plan is written for every user, those three are
/// `unreadable` with the error (in text, Markdown and SARIF), the audit exits 1, and
/// apply acts on alice alone.
#[test]
fn users_iam_refuses_to_show_are_findings_and_the_rest_is_planned() {
    let iam = LocalIam::start();
    let mut keys = std::collections::BTreeMap::new();
    for user in ["alice", "breakglass", "bob", "carl"] {
        iam.create_user(user);
        keys.insert(user, (iam.create_key(user, 200), iam.create_key(user, 10)));
    }
    iam.create_user("dan");
    iam.create_key("dan", 5);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            deny_containing: vec![
                "UserName=breakglass".to_string(),
                format!("AccessKeyId={}", keys["bob"].0.id),
                "Action=ListUserTags&UserName=carl".to_string(),
            ],
            ..Faults::default()
        },
    );
    let output = iam
        .keytrim_via(&proxy.endpoint)
        .arg("audit")
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert_eq!(proxy.tally().faults.get("access_denied"), Some(&3));
    for (user, action) in [
        ("breakglass", "iam:ListAccessKeys"),
        ("bob", "iam:GetAccessKeyLastUsed"),
        ("carl", "iam:ListUserTags"),
    ] {
        assert!(
            stderr.contains(&format!(
                "keytrim: error: IAM user `{user}` of account 123456789012 could not be read: {action} failed: AccessDenied"
            )),
            "{user}: {stderr}"
        );
    }
    assert!(stderr.contains("5 users scanned"), "{stderr}");
    assert!(stderr.contains("unreadable 3"), "{stderr}");

    let plan = keytrim::plan::load(&iam.dir().join(PLAN)).unwrap();
    assert_eq!(plan.version, keytrim::plan::model::PLAN_VERSION);
    assert_eq!(plan.summary.unreadable, 3);
    let decision = |name: &str| {
        plan.users
            .iter()
            .find(|user| user.user_name == name)
            .map(|user| (user.decision, user.error.clone()))
            .unwrap()
    };
    assert_eq!(
        decision("alice"),
        (keytrim::rule::Decision::Deactivate, None)
    );
    for user in ["breakglass", "bob", "carl"] {
        let (decision, error) = decision(user);
        assert_eq!(decision, keytrim::rule::Decision::Unreadable, "{user}");
        assert!(error.is_some_and(|e| e.contains("AccessDenied")), "{user}");
    }

    for (format, expected) in [
        ("text", "unreadable breakglass"),
        ("markdown", "### unreadable (3)"),
        (
            "sarif",
            "IAM user breakglass could not be read (decision: unreadable)",
        ),
    ] {
        let shown = iam
            .keytrim()
            .args(["show", "--format", format, PLAN])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&shown.stdout);
        assert!(stdout.contains(expected), "{format}: {stdout}");
    }

    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    assert_eq!(iam.key_status("alice", &keys["alice"].0.id), "Inactive");
    for user in ["breakglass", "bob", "carl"] {
        let (old, new) = &keys[user];
        assert_eq!(iam.key_status(user, &old.id), "Active", "{user}");
        assert_eq!(iam.key_status(user, &new.id), "Active", "{user}");
    }
}
