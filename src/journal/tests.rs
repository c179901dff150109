//! Tests of the journal: lines written and read back, never overwritten, cut lines,
//! names and shapes refused, failed writes remembered, default names.

use super::*;

#[test]
fn records_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.journal.jsonl");
    let journal = Journal::create(&path, "123456789012", run_info()).unwrap();
    let intent = Entry::new(Event::Intent, "123456789012", "alice").key(
        "AKIAEXAMPLE000000001",
        KeyStatus::Active,
        KeyStatus::Inactive,
    );
    journal.record(&intent).unwrap();
    let entries = read(&path).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].run.as_ref().unwrap().mode, Mode::Apply);
    assert_eq!(entries[1], intent);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains(r#""from":"Active","to":"Inactive""#)
    );
}

#[test]
fn an_existing_journal_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.journal.jsonl");
    std::fs::write(&path, "keep me\n").unwrap();
    assert!(Journal::create(&path, "123456789012", run_info()).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me\n");
}

#[test]
fn a_cut_last_line_is_ignored_but_a_bad_middle_line_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.journal.jsonl");
    Journal::create(&path, "123456789012", run_info()).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(r#"{"ts":"2026-11-29T12:00:00Z","event":"int"#);
    std::fs::write(&path, &text).unwrap();
    assert_eq!(read(&path).unwrap().len(), 1);
    text.push_str("\n{}\n");
    std::fs::write(&path, &text).unwrap();
    assert!(read(&path).unwrap_err().to_string().contains("line 2"));
}

#[test]
fn a_line_naming_something_iam_could_not_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.journal.jsonl");
    Journal::create(&path, "123456789012", run_info()).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        r#"{"ts":"2026-11-29T12:00:00Z","event":"intent","account_id":"123456789012","user_name":"alice\u001b[8m","access_key_id":"AKIAEXAMPLE000000001","from":"Active","to":"Inactive"}"#,
    );
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    let err = read(&path).unwrap_err().to_string();
    assert!(err.contains("line 2: `alice"), "{err}");
    assert!(err.contains("is not an IAM user name"), "{err}");
}

/// Every reader takes a line by its kind, so a line whose fields do not fit its
/// event is refused, not read as another kind: a refusal without `from` would
/// otherwise read as a user's failure, and its key as changed.
#[test]
fn a_line_whose_fields_do_not_fit_its_event_is_refused() {
    let line = |json: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal.jsonl");
        Journal::create(&path, "123456789012", run_info()).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(json);
        text.push('\n');
        std::fs::write(&path, &text).unwrap();
        read(&path).map(|_| ()).map_err(|err| err.to_string())
    };
    let head = r#"{"ts":"2026-11-29T12:00:00Z","account_id":"123456789012","user_name":"alice""#;
    for (rest, problem) in [
        (
            r#","event":"failed","access_key_id":"AKIAEXAMPLE000000001","to":"Inactive"}"#,
            "names the key and its change",
        ),
        (
            r#","event":"done","from":"Active","to":"Inactive"}"#,
            "names the key and its change",
        ),
        (r#","event":"run"}"#, "a `run` line says what run it is"),
        (
            r#","event":"verified","access_key_id":"AKIAEXAMPLE000000001","from":"Active","to":"Inactive"}"#,
            "about a user, not one key",
        ),
    ] {
        let err = line(&format!("{head}{rest}")).unwrap_err();
        assert!(err.contains("line 2") && err.contains(problem), "{err}");
    }
    let fits = format!(
        r#"{head},"event":"failed","access_key_id":"AKIAEXAMPLE000000001","from":"Active","to":"Inactive","error":"AccessDenied"}}"#
    );
    assert_eq!(line(&fits), Ok(()));
}

/// A failed write is remembered, so the run can stop starting changes. /dev/full
/// fails every write, as a full disk does. (That a fragment is cut off again is
/// tested for real, under a file-size limit, in tests/it/faults.rs.)
#[test]
fn a_failed_write_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.journal.jsonl");
    let journal = Journal::create(&path, "123456789012", run_info()).unwrap();
    assert_eq!(journal.failure(), None);
    journal.fill_disk();
    let intent = Entry::new(Event::Intent, "123456789012", "alice");
    assert!(journal.record(&intent).is_err());
    assert!(journal.failure().is_some_and(|f| f.contains("No space")));
}

#[test]
fn default_names_are_numbered_when_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.20261129T120000.000Z.journal.jsonl");
    let first = Journal::create_numbered(&path, "123456789012", run_info()).unwrap();
    let second = Journal::create_numbered(&path, "123456789012", run_info()).unwrap();
    let third = Journal::create_numbered(&path, "123456789012", run_info()).unwrap();
    assert_eq!(first.path(), path);
    assert_eq!(
        second.path(),
        dir.path().join("p.20261129T120000.000Z_02.journal.jsonl")
    );
    // Names sort in the order the runs started, a later millisecond last.
    let later = dir.path().join("p.20261129T120000.001Z.journal.jsonl");
    let mut names = vec![
        later.clone(),
        third.path().to_path_buf(),
        second.path().to_path_buf(),
        path.clone(),
    ];
    names.sort();
    assert_eq!(
        names,
        vec![
            path.clone(),
            second.path().to_path_buf(),
            third.path().to_path_buf(),
            later
        ]
    );
}

#[test]
fn default_path_sits_beside_the_plan() {
    let at = DateTime::parse_from_rfc3339("2026-11-29T12:34:56.07Z")
        .unwrap()
        .to_utc();
    assert_eq!(
        default_path(Path::new("plans/123456789012.yaml"), at),
        PathBuf::from("plans/123456789012.20261129T123456.070Z.journal.jsonl")
    );
}
