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
