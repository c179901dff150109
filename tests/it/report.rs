//! `keytrim report`: the evidence of an apply as one HTML file, checked as an auditor
//! would see it, in a real headless Chromium (Debian's package): the page is printed
//! to PDF and its text read back with pdftotext, a screenshot is taken, and the DOM is
//! read after the page has loaded. A hostile string stays inert text.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::proxy::{FaultProxy, Faults};
use crate::support::{LocalIam, new_journal, only_journal, seed_every_decision};

const PLAN: &str = "plans/123456789012.yaml";
const INSTALL: &str = "run scripts/test.sh (it installs Debian's chromium and poppler-utils), or point KEYTRIM_CHROMIUM and KEYTRIM_PDFTOTEXT at them";

fn tool(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(path.exists(), "{} not found: {INSTALL}", path.display());
    path
}

/// Run a headless Chromium on the report with `args`: it reaches nothing but the file,
/// with its own profile and home in `scratch`.
fn chromium(report: &Path, scratch: &Path, args: &[String]) -> std::process::Output {
    Command::new(tool("KEYTRIM_CHROMIUM", "/usr/bin/chromium"))
        .env("HOME", scratch)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .args(args)
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap_or_else(|err| panic!("chromium: {err}: {INSTALL}"))
}

/// The page as Chromium prints it to PDF, as text with every run of white space one
/// space (lines wrap where the page does).
fn printed_text(report: &Path, scratch: &Path) -> String {
    let pdf = scratch.join("report.pdf");
    let output = chromium(
        report,
        scratch,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
    assert!(pdf.exists(), "no PDF: {output:?}");
    let text = Command::new(tool("KEYTRIM_PDFTOTEXT", "/usr/bin/pdftotext"))
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap_or_else(|err| panic!("pdftotext: {err}: {INSTALL}"));
    assert!(text.status.success(), "{text:?}");
    String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The DOM once the page has loaded (scripts, if any could run, have run).
fn loaded_dom(report: &Path, scratch: &Path) -> String {
    let output = chromium(report, scratch, &["--dump-dom".into()]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A screenshot of the page: a PNG of the size asked for, with something drawn on it.
fn screenshot(report: &Path, scratch: &Path) {
    let png = scratch.join("report.png");
    let output = chromium(
        report,
        scratch,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,1600".into(),
        ],
    );
    let bytes =
        std::fs::read(&png).unwrap_or_else(|err| panic!("no screenshot ({err}): {output:?}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 1600));
    // A blank page of that size is about 9 KB as PNG; this report's first screen is
    // about 250 KB. Far above blank means something was drawn.
    assert!(
        bytes.len() > 60_000,
        "the screenshot looks blank: {} bytes",
        bytes.len()
    );
}

fn sha256_of(path: &Path) -> String {
    keytrim::digest::sha256_hex(&std::fs::read(path).unwrap())
}

/// The document holds nothing that runs, fetches or links: no such element, and no
/// `src`, `href` or `on...` attribute. Text is escaped in the DOM, so every `<` starts
/// a real tag.
fn assert_inert(dom: &str) {
    let lower = dom.to_ascii_lowercase();
    for tag in lower
        .split('<')
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or(""))
    {
        let name = tag.split_whitespace().next().unwrap_or("");
        assert!(
            ![
                "script", "img", "iframe", "a", "link", "object", "embed", "form", "base"
            ]
            .contains(&name),
            "the document holds a <{name}> element: {dom}"
        );
        for attribute in tag
            .split_whitespace()
            .skip(1)
            .filter_map(|token| token.split_once('='))
        {
            let attribute = attribute.0;
            assert!(
                attribute != "src" && attribute != "href" && !attribute.starts_with("on"),
                "the document holds a `{attribute}` attribute: {dom}"
            );
        }
    }
}

/// The whole cycle against a local IAM: audit, apply, rollback, then one report from
/// the plan and both journals. The printed page names every user of the plan with its
/// decision and outcome, the commit that approved it, and each file's SHA-256.
#[test]
fn an_apply_and_its_rollback_make_one_evidence_report() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let applied = only_journal(iam.dir());
    iam.keytrim()
        .args(["rollback", "--yes"])
        .arg(&applied)
        .assert()
        .code(0);
    let rolled_back =
        new_journal(iam.dir(), std::slice::from_ref(&applied)).expect("rollback journal");

    let output = iam
        .keytrim()
        .args(["report", PLAN])
        .arg(&rolled_back)
        .arg(&applied)
        .args([
            "--commit",
            "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "-o",
            "evidence/report.html",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = iam.dir().join("evidence/report.html");

    let scratch = tempfile::tempdir().unwrap();
    let text = printed_text(&report, scratch.path());
    for expected in [
        "account 123456789012",
        "9fceb02d0ae598e95dc970b74767f19372d61af8",
        &sha256_of(&iam.dir().join(PLAN)),
        &sha256_of(&applied),
        &sha256_of(&rolled_back),
        "alice: deactivate",
        "hank: hold",
        "rita: hold",
        "Rotation due: the kept key",
        "still not compliant with CIS 1.13",
        "erin: exempt",
        "break-glass account",
        // alice's old key was deactivated by the apply and re-activated by the rollback.
        &format!("apply 1: deactivated {}", keys.alice_old.id),
        &format!("rollback 1: re-activated {}", keys.alice_old.id),
        "Outcome: rolled back (see the keys)",
        &format!(
            "{}: re-activated by rollback 1, verified",
            keys.alice_old.id
        ),
        "Outcome: no change planned",
        "Key ages",
    ] {
        assert!(
            text.contains(expected),
            "the printed page lacks `{expected}`: {text}"
        );
    }
    // Users the plan does not list (compliant ones) are not shown as users.
    assert!(!text.contains("carol:"), "{text}");

    let dom = loaded_dom(&report, scratch.path());
    assert_inert(&dom);
    assert!(dom.contains("Content-Security-Policy"), "{dom}");
    // One dot per key of the plan's users: alice, hank, rita and erin have two each.
    assert_eq!(dom.matches("<circle").count(), 8, "{dom}");
    screenshot(&report, scratch.path());
}

/// A reviewer (or anyone with write access to the plan) puts markup, a script and a
/// right-to-left override in a reason, and a journal line carries markup in its error.
/// The page shows them as the text they are: nothing runs, loads or reorders.
#[test]
fn a_hostile_reason_stays_inert_text() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    let hostile = "</p><script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"><a href=\"https://evil.example/\">click</a> \u{202e}gnp.exe";
    let text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    let mut plan: keytrim::plan::Plan = serde_yaml::from_str(&text).unwrap();
    for user in &mut plan.users {
        user.reason = hostile.to_string();
    }
    std::fs::write(
        iam.dir().join("plans/edited.yaml"),
        serde_yaml::to_string(&plan).unwrap(),
    )
    .unwrap();
    // The edited plan is the one applied (a journal names the plan it replayed).
    iam.keytrim()
        .args(["apply", "--yes", "plans/edited.yaml"])
        .assert()
        .code(4);
    let journal = only_journal(iam.dir());
    let mut lines = std::fs::read_to_string(&journal).unwrap();
    lines.push_str(&format!(
        "{{\"ts\":\"{}\",\"event\":\"skipped\",\"account_id\":\"123456789012\",\"user_name\":\"alice\",\"reason\":\"<script>document.title='pwned'</script>\"}}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    ));
    std::fs::write(&journal, lines).unwrap();

    let output = iam
        .keytrim()
        .args(["report", "plans/edited.yaml"])
        .arg(&journal)
        .args(["-o", "report.html"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = iam.dir().join("report.html");

    let scratch = tempfile::tempdir().unwrap();
    let dom = loaded_dom(&report, scratch.path());
    assert_inert(&dom);
    assert!(
        dom.contains("<title>keytrim evidence: account 123456789012"),
        "{dom}"
    );
    let printed = printed_text(&report, scratch.path());
    assert!(
        printed.contains(
            "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
        ),
        "{printed}"
    );
    // The override shows as an escape, not as reordered text.
    assert!(printed.contains("\\u{202e}gnp.exe"), "{printed}");
    assert!(!printed.contains('\u{202e}'), "{printed}");
}

/// A journal of another account cannot be evidence of this plan: a one-line error
/// naming the journal, exit 1, and no report written.
#[test]
fn a_journal_of_another_account_is_refused() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let journal = only_journal(iam.dir());
    let other = iam.dir().join("other.journal.jsonl");
    std::fs::write(
        &other,
        std::fs::read_to_string(&journal)
            .unwrap()
            .replace("123456789012", "210987654321"),
    )
    .unwrap();
    let output = iam
        .keytrim()
        .args(["report", PLAN, "other.journal.jsonl", "-o", "report.html"])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("other.journal.jsonl"), "{stderr}");
    assert!(
        stderr.contains("account 210987654321, but the plan is of account 123456789012"),
        "{stderr}"
    );
    assert!(!iam.dir().join("report.html").exists());
}

/// A journal whose run line lost its `source_sha256` (deleted by hand, so another
/// plan's apply would not be refused by it) is refused too: every keytrim release
/// writes it. One line naming the journal, exit 1, no report written.
#[test]
fn a_journal_without_the_sha256_of_what_it_replayed_is_refused() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let journal = only_journal(iam.dir());
    let text = std::fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut run: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert!(run["run"]["source_sha256"].is_string(), "{run}");
    run["run"].as_object_mut().unwrap().remove("source_sha256");
    lines[0] = run.to_string();
    std::fs::write(
        iam.dir().join("forged.journal.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    let output = iam
        .keytrim()
        .args(["report", PLAN, "forged.journal.jsonl", "-o", "report.html"])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("forged.journal.jsonl")
            && stderr.contains("does not record the SHA-256 of the file it replayed"),
        "{stderr}"
    );
    assert!(!iam.dir().join("report.html").exists());
}

/// alice's old key is switched back on by hand after the apply; the rollback then
/// finds it already Active and changes nothing. The report must not say keytrim rolled
/// it back: the outcome names someone else, and no user counts as re-activated.
#[test]
fn a_key_switched_on_by_hand_before_the_rollback_is_not_reported_as_rolled_back() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let apply = only_journal(iam.dir());
    iam.set_status("alice", &keys.alice_old.id, true);
    let before = crate::support::journals(iam.dir());
    iam.keytrim()
        .args(["rollback", "--yes"])
        .arg(&apply)
        .assert()
        .code(0);
    let rollback = new_journal(iam.dir(), &before).expect("a rollback journal");
    assert!(
        std::fs::read_to_string(&rollback)
            .unwrap()
            .contains("already Active")
    );
    iam.keytrim()
        .args(["report", PLAN])
        .arg(&apply)
        .arg(&rollback)
        .args(["-o", "report.html"])
        .assert()
        .code(0);
    let html = std::fs::read_to_string(iam.dir().join("report.html")).unwrap();
    assert!(!html.contains("Outcome: rolled back"), "{html}");
    assert!(
        html.contains("Outcome: active again, switched on by someone else"),
        "{html}"
    );
    assert!(html.contains(r#"id="count-reactivated">0<"#), "{html}");
    assert!(html.contains(r#"id="count-found-active">1<"#), "{html}");
}

/// The outcome line of one user's section in the loaded page.
fn outcome_line(dom: &str, user: &str) -> String {
    let section = dom
        .split("<article class=\"user\">")
        .find(|section| section.contains(&format!("<h3><code>{user}</code>:")))
        .unwrap_or_else(|| panic!("no section for {user}: {dom}"));
    let start = section.find("Outcome: ").expect("an outcome line");
    section[start..section[start..].find("</p>").unwrap() + start].to_string()
}

/// One number of the outcome counts.
fn count(dom: &str, name: &str) -> u32 {
    let marker = format!("id=\"count-{name}\">");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no count {name}"))
        + marker.len();
    dom[start..start + dom[start..].find('<').unwrap()]
        .parse()
        .unwrap()
}

/// One apply in which each user ends differently, as people and policies beside
/// keytrim make it: alice's key is deactivated; a policy denies the change of bob's;
/// someone switched carl's off in the console already; dave's key to deactivate is
/// used after the audit (drift); hank is held. Each user's section says what
/// happened to that user, and the counts add up.
#[test]
fn every_ending_of_an_apply_shows_in_its_users_outcome() {
    let iam = LocalIam::start();
    let mut old = std::collections::BTreeMap::new();
    for user in ["alice", "bob", "carl", "dave"] {
        iam.create_user(user);
        let key = iam.create_key(user, 200);
        iam.use_key(&key, 30);
        iam.create_key(user, 10);
        old.insert(user, key);
    }
    iam.create_user("hank");
    let hank_old = iam.create_key("hank", 150);
    iam.use_key(&hank_old, 2);
    iam.create_key("hank", 5);
    iam.keytrim().arg("audit").assert().code(3);

    iam.set_status("carl", &old["carl"].id, false);
    iam.use_key(&old["dave"], 0);
    let proxy = FaultProxy::start(
        &iam.endpoint,
        Faults {
            deny_containing: vec!["Action=UpdateAccessKey&UserName=bob".to_string()],
            ..Faults::default()
        },
    );
    let output = iam
        .keytrim_via(&proxy.endpoint)
        .args(["apply", "--yes", PLAN])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let journal = only_journal(iam.dir());
    iam.keytrim()
        .args(["report", PLAN])
        .arg(&journal)
        .args(["-o", "report.html"])
        .assert()
        .code(0);

    let scratch = tempfile::tempdir().unwrap();
    let dom = loaded_dom(&iam.dir().join("report.html"), scratch.path());
    assert_eq!(
        outcome_line(&dom, "alice"),
        "Outcome: deactivated, verified"
    );
    assert!(
        outcome_line(&dom, "bob").starts_with("Outcome: a change failed: IAM refused it"),
        "{dom}"
    );
    assert_eq!(
        outcome_line(&dom, "carl"),
        "Outcome: already in the intended state, verified"
    );
    assert!(
        outcome_line(&dom, "dave").starts_with("Outcome: left alone, drifted: "),
        "{dom}"
    );
    assert_eq!(outcome_line(&dom, "hank"), "Outcome: no change planned");
    // bob's key line names the key and the refusal.
    assert!(
        dom.contains(&format!(
            "{}</span>: apply 1: IAM refused to make it Inactive, unchanged: ",
            old["bob"].id
        )),
        "{dom}"
    );
    for (name, expected) in [
        ("deactivated", 1),
        ("unverified", 0),
        ("already-done", 1),
        ("reactivated", 0),
        ("left-alone", 1),
        ("failed-or-unknown", 1),
        ("not-applied", 0),
    ] {
        assert_eq!(count(&dom, name), expected, "{name}");
    }
}

/// A journal that does not read, and a report that would overwrite an input, are each
/// one line on stderr with their exit code, and nothing is written.
#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    std::fs::write(
        iam.dir().join("broken.journal.jsonl"),
        "{\"not\": \"a journal\"}\n",
    )
    .unwrap();
    for (args, code, expected) in [
        (
            vec!["report", PLAN, "broken.journal.jsonl", "-o", "report.html"],
            1,
            "broken.journal.jsonl",
        ),
        (
            vec!["report", PLAN, "missing.journal.jsonl", "-o", "report.html"],
            1,
            "missing.journal.jsonl: no such file",
        ),
        (
            vec!["report", PLAN, "-o", PLAN],
            2,
            "is one of the report's inputs",
        ),
    ] {
        let before = std::fs::read(iam.dir().join(PLAN)).unwrap();
        let output = iam.keytrim().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(errors[0].contains(expected), "{args:?}: {stderr}");
        assert!(!iam.dir().join("report.html").exists());
        assert_eq!(std::fs::read(iam.dir().join(PLAN)).unwrap(), before);
    }
}

/// A journal of another plan of the same account (here one whose reasons a reviewer
/// edited) names that plan by its SHA-256: it is refused as evidence of this one,
/// even though it started after this plan was written.
#[test]
fn a_journal_of_another_plan_of_the_account_is_refused() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    let text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    let mut plan: keytrim::plan::Plan = serde_yaml::from_str(&text).unwrap();
    plan.users[0].reason.insert_str(0, "(reviewed) ");
    std::fs::write(
        iam.dir().join("plans/other.yaml"),
        serde_yaml::to_string(&plan).unwrap(),
    )
    .unwrap();
    iam.keytrim()
        .args(["apply", "--yes", "plans/other.yaml"])
        .assert()
        .code(4);
    let journal = only_journal(iam.dir());
    let output = iam
        .keytrim()
        .args(["report", PLAN])
        .arg(&journal)
        .args(["-o", "report.html"])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert!(
        stderr.contains("its apply replayed a plan with SHA-256 "),
        "{stderr}"
    );
    assert!(!iam.dir().join("report.html").exists());
}
