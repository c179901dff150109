//! The per-user prompt of `keytrim apply`, answered in a real pseudo-terminal (rexpect):
//! y, n, a, q, ? and Enter alone.

mod support;

use rexpect::session::{PtySession, spawn_command};
use support::{EveryDecision, LocalIam, seed_every_decision};

const PLAN: &str = "plans/123456789012.yaml";

/// Seed, audit without the in-use guard (alice and hank are to deactivate), and start
/// an interactive apply.
fn interactive_apply() -> (LocalIam, EveryDecision, PtySession) {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.keytrim()
        .args(["audit", "--no-in-use-guard"])
        .assert()
        .code(3);
    let mut command = iam.keytrim_std();
    command.args(["apply", PLAN]);
    let session = spawn_command(command, Some(30_000)).expect("keytrim in a pseudo-terminal");
    (iam, keys, session)
}

fn status(iam: &LocalIam, user: &str, key_id: &str) -> String {
    iam.key_statuses(user)
        .into_iter()
        .find(|(id, _)| id == key_id)
        .map(|(_, status)| status)
        .expect("key exists")
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
    assert_eq!(status(&iam, "alice", &keys.alice_old.id), "Inactive");
    assert_eq!(status(&iam, "hank", &keys.hank_old.id), "Active");
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
    assert_eq!(status(&iam, "alice", &keys.alice_old.id), "Inactive");
    assert_eq!(status(&iam, "hank", &keys.hank_old.id), "Inactive");
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
    assert_eq!(status(&iam, "alice", &keys.alice_old.id), "Active");
    assert_eq!(status(&iam, "hank", &keys.hank_old.id), "Active");
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
    assert_eq!(status(&iam, "alice", &keys.alice_old.id), "Active");
    assert_eq!(status(&iam, "hank", &keys.hank_old.id), "Inactive");
}
