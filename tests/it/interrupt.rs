//! Ctrl-C during `keytrim apply --yes`: exit 130, a journal that is valid JSON Lines and
//! true (every recorded change is in IAM, every change in IAM is recorded), and a
//! second apply that finishes the job.

use crate::support;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{LocalIam, SeededKey};
use keytrim::journal::Event;

const PLAN: &str = "plans/123456789012.yaml";
const USERS: usize = 30;

fn journal_path(iam: &LocalIam) -> Option<std::path::PathBuf> {
    support::new_journal(iam.dir(), &[])
}

#[test]
fn sigint_stops_new_changes_and_leaves_a_true_journal() {
    let iam = LocalIam::start();
    let mut old_keys: Vec<(String, SeededKey)> = Vec::new();
    for index in 0..USERS {
        let user = format!("user{index:03}");
        iam.create_user(&user);
        old_keys.push((user.clone(), iam.create_key(&user, 200)));
        iam.create_key(&user, 10);
    }
    iam.keytrim().arg("audit").assert().code(3);

    let mut child = iam.keytrim_std();
    let mut child = child
        .args(["apply", "--yes", "--concurrency", "1", PLAN])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keytrim apply starts");

    // Wait until the journal records a finished change, then press Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = journal_path(&iam)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .is_some_and(|text| text.contains(r#""event":"done""#));
        if done {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply ended before it could be interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "no change was journaled within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");

    let path = journal_path(&iam).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for (number, line) in text.lines().enumerate() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|err| panic!("journal line {} is not JSON: {err}", number + 1));
    }
    let entries = keytrim::journal::read(&path).unwrap();
    let keys_with = |event: Event| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e.event == event)
            .filter_map(|e| e.access_key_id.clone())
            .collect()
    };
    let done = keys_with(Event::Done);
    assert!(!done.is_empty());
    assert!(done.len() < USERS, "the interrupt stopped the run early");
    assert!(
        entries
            .iter()
            .any(|e| e.event == Event::Skipped && e.reason.as_deref() == Some("interrupted")),
        "users after the interrupt are journaled as skipped"
    );
    crate::support::assert_journals_tell_the_truth(
        &iam,
        std::slice::from_ref(&path),
        old_keys.iter().map(|(user, key)| (user.as_str(), key)),
    );

    // Running the plan again finishes the job.
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(0);
    for (user, key) in &old_keys {
        assert_eq!(iam.key_status(user, &key.id), "Inactive", "{user}");
    }
}

/// `users` users with an old and a new active key, audited; the old keys.
fn audited_pairs(iam: &LocalIam, users: usize) -> Vec<(String, SeededKey)> {
    let mut old_keys = Vec::new();
    for index in 0..users {
        let user = format!("user{index:03}");
        iam.create_user(&user);
        old_keys.push((user.clone(), iam.create_key(&user, 200)));
        iam.create_key(&user, 10);
    }
    iam.keytrim().arg("audit").assert().code(3);
    old_keys
}

/// `keytrim apply --yes PLAN` through `proxy`, returned once a user's first
/// drift-check read (ListUserTags) is on the wire.
fn apply_through(
    iam: &LocalIam,
    proxy: &crate::support::proxy::FaultProxy,
    extra: &[&str],
) -> std::process::Child {
    let mut child = iam.keytrim_std();
    let mut child = child
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .args(["apply", "--yes"])
        .args(extra)
        .arg(PLAN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keytrim apply starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.tally().received.contains_key("ListUserTags") {
        assert!(child.try_wait().unwrap().is_none(), "apply ended first");
        assert!(Instant::now() < deadline, "no call within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn interrupt(child: &std::process::Child) {
    let signalled = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
}

/// Every call takes half a second on the wire. Ctrl-C comes while users are part way
/// through their drift checks (their ListUserTags on the wire). From then on users in
/// progress start no new drift-check read (ListUserTags, ListAccessKeys before a change,
/// GetAccessKeyLastUsed) and no deactivation: only the read-backs of a change already
/// sent may follow, and here none was. A call that began just as the signal came is
/// allowed 200 ms.
#[test]
fn after_ctrl_c_users_in_progress_start_no_new_reads() {
    let iam = LocalIam::start();
    let old_keys = audited_pairs(&iam, 8);
    let proxy = crate::support::proxy::FaultProxy::start(
        &iam.endpoint,
        crate::support::proxy::Faults {
            latency: Duration::from_millis(500),
            ..Default::default()
        },
    );
    let mut child = apply_through(&iam, &proxy, &["--concurrency", "2"]);
    interrupt(&child);
    let signalled = Instant::now();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let late: Vec<(Duration, String)> = proxy
        .tally()
        .arrivals
        .into_iter()
        .filter(|(at, _, _)| *at > signalled + Duration::from_millis(200))
        .filter(|(_, action, form)| {
            matches!(
                action.as_str(),
                "ListUserTags" | "ListAccessKeys" | "GetAccessKeyLastUsed"
            ) || (action == "UpdateAccessKey" && form.contains("Status=Inactive"))
        })
        .map(|(at, action, _)| (at - signalled, action))
        .collect();
    assert!(
        late.is_empty(),
        "calls started after Ctrl-C: {late:?}\n{stderr}"
    );
    crate::support::assert_journals_tell_the_truth(
        &iam,
        &[journal_path(&iam).unwrap()],
        old_keys.iter().map(|(user, key)| (user.as_str(), key)),
    );
}

/// Every call takes 20 s on the wire. A second Ctrl-C, once the first is taken,
/// ends the run at once with 130, without waiting for the calls in flight; the
/// journal stays valid JSON Lines.
#[test]
fn a_second_ctrl_c_ends_the_run_at_once() {
    let iam = LocalIam::start();
    audited_pairs(&iam, 2);
    let proxy = crate::support::proxy::FaultProxy::start(
        &iam.endpoint,
        crate::support::proxy::Faults {
            latency: Duration::from_secs(20),
            ..Default::default()
        },
    );
    // The first Ctrl-C once a user's first call is on the wire (the listener is set
    // by then); the second once keytrim has said it took the first.
    let mut child = apply_through(&iam, &proxy, &[]);
    interrupt(&child);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("Ctrl-C again to stop at once") {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(
            read > 0,
            "keytrim ended before taking the first Ctrl-C: {said}"
        );
        said.push_str(&line);
    }
    interrupt(&child);
    let second = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{said}");
    // The calls in flight take 20 s; the run ended long before.
    assert!(
        second.elapsed() < Duration::from_secs(10),
        "ended {:?} after the second Ctrl-C",
        second.elapsed()
    );
    let text = std::fs::read_to_string(journal_path(&iam).unwrap()).unwrap();
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}
