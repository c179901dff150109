//! The per-user prompt of `keytrim apply`, answered in a real pseudo-terminal (rexpect):
//! y, n, a, q, ? and Enter alone.

use crate::support;

use crate::support::{EveryDecision, LocalIam, seed_every_decision};
use rexpect::session::{PtySession, spawn_command};

const PLAN: &str = "plans/123456789012.yaml";

/// Seed, audit without the in-use guard (alice and hank are to deactivate), and start
/// an interactive apply.
fn interactive_apply() -> (LocalIam, EveryDecision, PtySession) {
    interactive_apply_after(|_, _| {})
}

/// As `interactive_apply`, with `before_audit` changing the seeded account first.
fn interactive_apply_after(
    before_audit: impl FnOnce(&LocalIam, &EveryDecision),
) -> (LocalIam, EveryDecision, PtySession) {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    before_audit(&iam, &keys);
    iam.keytrim()
        .args(["audit", "--no-in-use-guard", "--require-fresh-key"])
        .assert()
        .code(3);
    let mut command = iam.keytrim_std();
    command.args(["apply", PLAN]);
    let session = spawn_command(command, Some(30_000)).expect("keytrim in a pseudo-terminal");
    (iam, keys, session)
}

fn exit_code(session: &mut PtySession) -> i32 {
    match session.process().wait().expect("keytrim exits") {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("keytrim did not exit normally: {other:?}"),
    }
}

#[test]
fn y_then_n_changes_only_the_first_user() {
    let (iam, keys, mut p) = interactive_apply();
    p.exp_string("User alice").unwrap();
    p.exp_string(&format!("deactivate {}", keys.alice_old.id))
        .unwrap();
    p.exp_string("Deactivate these keys of alice? [y,n,a,q,?]")
        .unwrap();
    p.send_line("y").unwrap();
    p.exp_string("User hank").unwrap();
    p.exp_string("Deactivate these keys of hank? [y,n,a,q,?]")
        .unwrap();
    p.send_line("n").unwrap();
    p.exp_string("skipped: declined").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(
        exit_code(&mut p),
        4,
        "a declined user makes the run partial"
    );
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Inactive");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
}

#[test]
fn a_accepts_this_user_and_all_the_rest() {
    let (iam, keys, mut p) = interactive_apply();
    p.exp_string("Deactivate these keys of alice? [y,n,a,q,?]")
        .unwrap();
    p.send_line("a").unwrap();
    p.exp_string("deactivated+verified 2").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Inactive");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Inactive");
}

#[test]
fn q_skips_this_user_and_all_the_rest() {
    let (iam, keys, mut p) = interactive_apply();
    p.exp_string("Deactivate these keys of alice? [y,n,a,q,?]")
        .unwrap();
    p.send_line("q").unwrap();
    p.exp_string("deactivated+verified 0").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 4);
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
}

#[test]
fn question_mark_explains_and_enter_alone_means_no() {
    let (iam, keys, mut p) = interactive_apply();
    p.exp_string("Deactivate these keys of alice? [y,n,a,q,?]")
        .unwrap();
    p.send_line("?").unwrap();
    p.exp_string("a - yes to this user and all the remaining users")
        .unwrap();
    p.exp_string("Deactivate these keys of alice? [y,n,a,q,?]")
        .unwrap();
    p.send_line("").unwrap();
    p.exp_string("Deactivate these keys of hank? [y,n,a,q,?]")
        .unwrap();
    p.send_line("y").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 4);
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Inactive");
}

/// Progress for audit and apply goes to a terminal's stderr, and nowhere with -q.
#[test]
fn progress_shows_in_a_terminal_and_not_with_quiet() {
    let iam = LocalIam::start();
    for index in 0..40 {
        let user = format!("user{index:02}");
        iam.create_user(&user);
        iam.create_key(&user, 5);
    }
    // 20 ms per call and one user at a time: long enough for the bar to be drawn.
    let proxy = support::proxy::FaultProxy::start(
        &iam.endpoint,
        support::proxy::Faults {
            latency: std::time::Duration::from_millis(20),
            ..Default::default()
        },
    );
    let run = |quiet: bool| -> String {
        let mut command = iam.keytrim_std();
        command
            .env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("TERM", "xterm-256color")
            .args(["audit", "-o", "-", "--concurrency", "1"]);
        if quiet {
            command.arg("-q");
        }
        let mut session = spawn_command(command, Some(60_000)).unwrap();
        session.exp_eof().unwrap()
    };
    let shown = run(false);
    assert!(
        shown.contains("/40 users"),
        "no progress in a terminal: {shown:?}"
    );
    assert!(!run(true).contains("/40 users"), "progress despite -q");
}

/// The prompt names each key's description, so the person answering knows which
/// application a key belongs to.
#[test]
fn the_prompt_shows_each_keys_description() {
    let (iam, keys, mut p) = interactive_apply_after(|iam, keys| {
        iam.tag_user("alice", &keys.alice_old.id, "nightly backup job");
    });
    p.exp_string(&format!("deactivate {}", keys.alice_old.id))
        .unwrap();
    p.exp_string("description \"nightly backup job\"").unwrap();
    p.exp_string("Deactivate these keys of alice? [y,n,a,q,?]")
        .unwrap();
    p.send_line("q").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
}

/// An Organization of two accounts, audited, and an interactive apply of both plans:
/// the management account's (user `mgmt-deactivate`) first, then the member's
/// (`a-deactivate`).
fn two_plans() -> (LocalIam, String, [support::SeededKey; 2], PtySession) {
    let mut iam = LocalIam::start();
    let member = iam.create_member_account("member");
    let (management_old, _) = iam.seed_small_account("mgmt");
    iam.use_account(&member);
    let (member_old, _) = iam.seed_small_account("a");
    iam.use_account(support::ACCOUNT_ID);
    iam.keytrim()
        .args(["audit", "--org-role", "KeytrimAudit"])
        .assert()
        .code(3);
    let mut command = iam.keytrim_std();
    command.args(["apply", "--org-role", "KeytrimApply", PLAN]);
    command.arg(format!("plans/{member}.yaml"));
    let session = spawn_command(command, Some(60_000)).expect("keytrim in a pseudo-terminal");
    (iam, member, [management_old, member_old], session)
}

/// Answer yes at the first plan's prompt and wait at the second plan's.
fn yes_to_the_first_plan_then_at_the_second(p: &mut PtySession) {
    p.exp_string("Deactivate these keys of mgmt-deactivate? [y,n,a,q,?]")
        .unwrap();
    p.send_line("y").unwrap();
    p.exp_string("Deactivate these keys of a-deactivate? [y,n,a,q,?]")
        .unwrap();
}

/// Two plans: both are asked about before either is carried out, one prompt at a time,
/// plan after plan; then both are carried out and each is journaled in its account.
#[test]
fn every_plan_is_asked_about_before_any_is_changed() {
    let (mut iam, member, [management_old, member_old], mut p) = two_plans();
    yes_to_the_first_plan_then_at_the_second(&mut p);
    // The first plan's yes is not acted on until the last plan has been asked about.
    assert_eq!(
        iam.key_status("mgmt-deactivate", &management_old.id),
        "Active"
    );
    p.send_line("y").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(
        iam.key_status("mgmt-deactivate", &management_old.id),
        "Inactive"
    );
    iam.use_account(&member);
    assert_eq!(iam.key_status("a-deactivate", &member_old.id), "Inactive");
}

/// Ctrl-C at the second plan's prompt ends keytrim before any change in either plan,
/// even the first plan's user already answered yes: every plan is asked about before
/// any is carried out.
#[test]
fn ctrl_c_at_a_prompt_changes_nothing_in_any_plan() {
    let (mut iam, member, [management_old, member_old], mut p) = two_plans();
    yes_to_the_first_plan_then_at_the_second(&mut p);
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
    // At a prompt Ctrl-C ends keytrim as the signal does (or, read as an answer, 130).
    match p.process().wait().expect("keytrim exits") {
        rexpect::process::WaitStatus::Signaled(_, rexpect::process::Signal::SIGINT, _)
        | rexpect::process::WaitStatus::Exited(_, 130) => {}
        other => panic!("keytrim did not stop at Ctrl-C: {other:?}"),
    }
    let journals = support::journals(iam.dir());
    assert_eq!(journals.len(), 2, "one journal per plan: {journals:?}");
    for journal in journals {
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(
            !text.contains(r#""event":"intent""#),
            "{}: {text}",
            journal.display()
        );
    }
    assert_eq!(
        iam.key_status("mgmt-deactivate", &management_old.id),
        "Active"
    );
    iam.use_account(&member);
    assert_eq!(iam.key_status("a-deactivate", &member_old.id), "Active");
}

/// The every-decision account audited (alice and hank to deactivate) and applied with
/// `--yes` while IAM refuses every UpdateAccessKey of `refused_user`; the apply's
/// journal.
fn applied_with_calls_refused_for(
    refused_user: &str,
) -> (LocalIam, EveryDecision, std::path::PathBuf) {
    use crate::support::proxy::{FaultProxy, Faults};
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.keytrim()
        .args(["audit", "--no-in-use-guard", "--require-fresh-key"])
        .assert()
        .code(3);
    let refusing = FaultProxy::start(
        &iam.endpoint,
        Faults {
            deny_containing: vec![format!("Action=UpdateAccessKey&UserName={refused_user}")],
            ..Faults::default()
        },
    );
    iam.keytrim_via(&refusing.endpoint)
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(1);
    let journal = support::only_journal(iam.dir());
    (iam, keys, journal)
}

/// An interactive rollback asks only about keys it would switch on. IAM refused the
/// apply's call for alice's key: rollback reads it (Active: nothing to undo) without
/// asking, and asks about hank's, which the apply switched off.
#[test]
fn rollback_asks_only_about_keys_it_would_switch_on() {
    let (iam, keys, journal) = applied_with_calls_refused_for("alice");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Inactive");

    let mut command = iam.keytrim_std();
    command.arg("rollback").arg(&journal);
    let mut p = spawn_command(command, Some(30_000)).expect("keytrim in a pseudo-terminal");
    p.exp_string(&format!("reactivate {}", keys.hank_old.id))
        .unwrap();
    let asked = p
        .exp_string("Re-activate these keys of hank? [y,n,a,q,?]")
        .unwrap();
    assert!(!asked.contains("alice"), "{asked}");
    p.send_line("y").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(!rest.contains("of alice?"), "{rest}");
    assert!(rest.contains("nothing to undo"), "{rest}");
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
}

/// `q` at the first rollback prompt declines the rest, but a user whose keys IAM
/// refused to switch off is still read (nothing is asked and nothing written): hank's
/// key, switched off by someone since, is named for a person, not passed over as
/// declined.
#[test]
fn q_at_a_rollback_prompt_still_reads_keys_iam_refused() {
    let (iam, keys, journal) = applied_with_calls_refused_for("hank");
    iam.set_status("hank", &keys.hank_old.id, false);

    let mut command = iam.keytrim_std();
    command.arg("rollback").arg(&journal);
    let mut p = spawn_command(command, Some(30_000)).expect("keytrim in a pseudo-terminal");
    p.exp_string("Re-activate these keys of alice? [y,n,a,q,?]")
        .unwrap();
    p.send_line("q").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(!rest.contains("of hank?"), "{rest}");
    let hank = rest
        .lines()
        .find(|line| line.trim_start().starts_with("hank"))
        .unwrap_or_else(|| panic!("no line for hank: {rest}"));
    assert!(
        hank.contains("drifted")
            && hank.contains(&keys.hank_old.id)
            && hank.contains("IAM refused"),
        "{hank}"
    );
    assert_eq!(exit_code(&mut p), 4);
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Inactive");
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Inactive");
}
