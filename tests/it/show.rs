//! `keytrim show`: renders a valid plan in each format (snapshots of what users read),
//! and refuses a broken plan with one line naming the file, user and field.

use crate::support;

use std::path::{Path, PathBuf};

use crate::support::keytrim_isolated;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/every-decision.yaml")
}

fn show(format: &str) -> String {
    show_plan(&fixture(), format)
}

/// `keytrim show PLAN --format FORMAT`, which must succeed; its standard output.
fn show_plan(plan: &Path, format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    show_plans(dir.path(), &[plan], format)
}

/// `keytrim show PLAN... --format FORMAT` in `dir`, which must succeed; its standard
/// output.
fn show_plans(dir: &Path, plans: &[&Path], format: &str) -> String {
    let output = keytrim_isolated(dir)
        .arg("show")
        .args(plans)
        .args(["--format", format])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn text_rendering() {
    insta::assert_snapshot!(show("text"));
}

#[test]
fn markdown_rendering() {
    insta::assert_snapshot!(show("markdown"));
}

#[test]
fn json_rendering_is_the_plan() {
    let json = show("json");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["account_id"], "123456789012");
    assert_eq!(value["users"][2]["decision"], "hold");
    insta::assert_snapshot!(json);
}

fn show_hostile(format: &str) -> String {
    show_plan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/hostile-strings.yaml"),
        format,
    )
}

/// A plan edited to hide text: a reason with an HTML comment opener, table pipes, a
/// code span, a link, a line break, ESC[8m (hidden text on a terminal) and a
/// right-to-left override, and an OSC title sequence in `generated_by`. Every string
/// is shown as data.
#[test]
fn hostile_strings_reach_the_terminal_written_out() {
    let text = show_hostile("text");
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && keytrim::safe_text::is_hidden_control(c)),
        "{text:?}"
    );
    assert!(text.contains("\\u{1b}[8mhidden on a terminal"), "{text}");
    // Every invisible character is written out: the Arabic letter mark, a zero-width
    // space, a byte order mark.
    assert!(
        text.contains("\\u{61c}mark\\u{200b}zero\\u{feff}bom")
            && text.contains("ci\\u{200b}deploy"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn hostile_strings_cannot_hide_or_break_the_markdown() {
    let markdown = show_hostile("markdown");
    assert!(!markdown.contains("<!--"), "{markdown}");
    assert!(!markdown.contains('\u{1b}'));
    // Every row of alice's table has its five cells: no pipe from the data splits one.
    let reason_line = markdown
        .lines()
        .find(|line| line.starts_with("**`alice`**"))
        .unwrap();
    assert!(
        reason_line.contains("second line"),
        "the line break was kept: {markdown}"
    );
    assert!(
        reason_line.contains("&lt;!-- everything after this"),
        "{reason_line}"
    );
    assert!(reason_line.contains("\\| x \\|"), "{reason_line}");
    assert!(reason_line.contains("\\`code\\`"), "{reason_line}");
    // No notification, no reference, no link: each is in a code span, where GitHub
    // makes none of them.
    for live in [
        "`@security-team`",
        "`#123`",
        "`https://evil.example/x`",
        "`[link](https://example.invalid)`",
    ] {
        assert!(reason_line.contains(live), "{live}: {reason_line}");
    }
    assert!(
        markdown.contains("ci\\\\u{200b}deploy `@octocat`"),
        "{markdown}"
    );
    assert!(!markdown.contains('\u{200b}') && !markdown.contains('\u{feff}'));
    insta::assert_snapshot!(markdown);
}

#[test]
fn hostile_strings_are_written_out_in_sarif_messages() {
    let sarif: serde_json::Value = serde_json::from_str(&show_hostile("sarif")).unwrap();
    let message = sarif["runs"][0]["results"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(message.contains("\\u{1b}[8mhidden"), "{message}");
    assert!(
        message.contains("\\u{61c}mark\\u{200b}zero\\u{feff}bom"),
        "{message}"
    );
    assert!(
        !message.chars().any(keytrim::safe_text::is_hidden_control),
        "{message}"
    );
}

/// Write `text` as a plan, run `keytrim show` on it, and return its one error line.
fn refuse(text: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), text).unwrap();
    let output = keytrim_isolated(dir.path())
        .args(["show", "bad.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("keytrim: error: bad.yaml: "), "{stderr}");
    stderr.trim_end().to_string()
}

fn good() -> String {
    std::fs::read_to_string(fixture()).unwrap()
}

#[test]
fn an_unknown_field_is_refused() {
    let text = good().replace(
        "  keep: AKIAEXAMPLEHANK00002\n",
        "  keep: AKIAEXAMPLEHANK00002\n  approved_by: bob\n",
    );
    let error = refuse(text.as_bytes());
    assert!(error.contains("unknown field `approved_by`"), "{error}");
    assert!(
        error.contains("user `hank`: users[2]"),
        "names the user: {error}"
    );
}

#[test]
fn a_future_version_is_refused() {
    let error = refuse(good().replace("version: 1\n", "version: 5\n").as_bytes());
    assert!(
        error.ends_with(
            "field `version`: unsupported plan version 5 (this keytrim reads versions 1 to 4)"
        ),
        "{error}"
    );
}

#[test]
fn the_kept_key_listed_to_deactivate_is_refused() {
    let text = good().replace(
        "  deactivate:\n  - AKIAEXAMPLEALICE0001\n",
        "  deactivate:\n  - AKIAEXAMPLEALICE0001\n  - AKIAEXAMPLEALICE0002\n",
    );
    let error = refuse(text.as_bytes());
    assert!(
        error.ends_with("user `alice`: field `deactivate`: AKIAEXAMPLEALICE0002 is the kept key; the kept key is never deactivated"),
        "{error}"
    );
}

#[test]
fn a_hold_turned_into_deactivate_by_a_reviewer_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let text = good().replace("  decision: hold\n", "  decision: deactivate\n");
    std::fs::write(dir.path().join("reviewed.yaml"), text).unwrap();
    keytrim_isolated(dir.path())
        .args(["show", "reviewed.yaml"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("deactivate 2, hold 0"));
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    keytrim_isolated(dir.path())
        .args(["show", "plans/nope.yaml"])
        .assert()
        .code(1)
        .stderr("keytrim: error: plans/nope.yaml: no such file\n");
}

#[test]
fn bytes_that_are_not_utf8_are_refused() {
    let mut bytes = good().into_bytes();
    bytes.splice(0..0, [0xff, 0xfe, 0x00]);
    let error = refuse(&bytes);
    assert!(
        error.ends_with("not UTF-8 text (invalid byte at offset 0)"),
        "{error}"
    );
}

#[test]
fn a_file_over_the_size_cap_is_refused_before_parsing() {
    let mut text = good();
    let padding = "#".repeat(1024) + "\n";
    while text.len() <= 8 * 1024 * 1024 {
        text.push_str(&padding);
    }
    let error = refuse(text.as_bytes());
    assert!(
        error.ends_with("file is larger than the 8 MiB limit for plans"),
        "{error}"
    );
}

#[test]
fn colour_follows_the_color_option_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| -> String {
        let output = keytrim_isolated(dir.path())
            .env_remove("NO_COLOR")
            .arg("show")
            .arg(fixture())
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let escape = "\u{1b}[";
    assert!(run(&["--color", "always"]).contains(escape));
    assert!(!run(&["--color", "never"]).contains(escape));
    assert!(!run(&[]).contains(escape), "a pipe gets no colour");
    // The YAML, JSON and SARIF formats are never coloured.
    assert!(!run(&["--color", "always", "--format", "json"]).contains(escape));
}

#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let shown_in_a_terminal = |no_color: bool| -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(support::keytrim_path());
        command
            .env_clear()
            .envs(support::isolated_env(dir.path()))
            .env_remove("NO_COLOR")
            .arg("show")
            .arg(fixture());
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let mut session = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
        session.exp_eof().unwrap()
    };
    assert!(shown_in_a_terminal(false).contains("\u{1b}["));
    assert!(!shown_in_a_terminal(true).contains("\u{1b}["));
}

/// Replace what stands between `<!-- BEGIN name -->` and `<!-- END name -->`.
fn between_markers(text: &str, name: &str) -> (usize, usize) {
    let begin = format!("<!-- BEGIN {name} -->\n");
    let end = format!("<!-- END {name} -->");
    let start = text.find(&begin).expect("begin marker") + begin.len();
    let stop = text.find(&end).expect("end marker");
    (start, stop)
}

#[test]
fn the_example_in_plans_readme_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/README.md");
    let mut readme = std::fs::read_to_string(&path).unwrap();
    let expected = [
        ("example plan", format!("```yaml\n{}```\n", good())),
        ("example rendering", show("markdown")),
    ];
    let mut stale = Vec::new();
    for (name, content) in &expected {
        let (start, stop) = between_markers(&readme, name);
        if &readme[start..stop] != content {
            stale.push(*name);
            readme.replace_range(start..stop, content);
        }
    }
    if !stale.is_empty() && std::env::var_os("KEYTRIM_UPDATE_README").is_some() {
        std::fs::write(&path, readme).unwrap();
        return;
    }
    assert!(
        stale.is_empty(),
        "plans/README.md is stale ({stale:?}): run `KEYTRIM_UPDATE_README=1 cargo test --test it show::` and commit it"
    );
}

/// CSV as a spreadsheet or a script reads it: Python's csv module, the reader most
/// tools share. Returns the rows.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut python = std::process::Command::new(support::moto_python())
        .args([
            "-c",
            "import csv, io, json, sys; print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.read(), newline='')))))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 beside moto_server (scripts/test.sh installs it)");
    std::io::Write::write_all(python.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let output = python.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Two plans under one header, a row per key of every user (one for a user with no
/// key). A reason with commas, quotes and a line break comes back whole through
/// Python's csv module; hidden characters are written out.
#[test]
fn csv_is_one_header_and_a_row_per_key_of_every_plan() {
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("edited.yaml");
    let reason = "said \"no\", then, after a while,\nsaid yes \u{1b}[8mhidden";
    let text = good().replace(
        "  reason: '2 active keys: keep the newest key under 90 days (AKIAEXAMPLEALICE0002, 10 day(s) old), deactivate AKIAEXAMPLEALICE0001'",
        &format!("  reason: {}", serde_json::to_string(reason).unwrap()),
    );
    assert_ne!(text, good());
    std::fs::write(&edited, text).unwrap();
    let hostile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/hostile-strings.yaml");
    let rows = read_csv(&show_plans(dir.path(), &[&edited, &hostile], "csv"));

    let header = &rows[0];
    assert_eq!(
        header[..4],
        ["account_id", "user_name", "user_arn", "decision"]
    );
    for column in [
        "access_key_id",
        "status",
        "created",
        "age_days",
        "last_used",
    ] {
        assert!(header.contains(&column.to_string()), "{header:?}");
    }
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows.iter().filter(|row| row[0] == "account_id").count(), 1);
    let expected_rows: usize = [&edited, &hostile]
        .iter()
        .map(|path| {
            let plan: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            plan["users"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|user| user["keys"].as_sequence().map_or(0, Vec::len).max(1))
                .sum::<usize>()
        })
        .sum();
    assert_eq!(rows.len() - 1, expected_rows);
    let alice: Vec<&Vec<String>> = rows.iter().filter(|row| row[1] == "alice").collect();
    let first_alice = alice[0];
    assert_eq!(
        first_alice[col("reason")],
        "said \"no\", then, after a while,\nsaid yes \\u{1b}[8mhidden"
    );
    let action = |key: &str| {
        alice
            .iter()
            .find(|row| row[col("access_key_id")] == key)
            .map(|row| row[col("planned_action")].clone())
    };
    assert_eq!(
        action("AKIAEXAMPLEALICE0001").as_deref(),
        Some("deactivate")
    );
    assert_eq!(action("AKIAEXAMPLEALICE0002").as_deref(), Some("keep"));
    // The hostile plan's reason: no hidden character survives.
    for row in &rows {
        for cell in row {
            assert!(
                !cell
                    .chars()
                    .any(|c| c != '\n' && keytrim::safe_text::is_hidden_control(c)),
                "{cell:?}"
            );
        }
    }
}

/// IAM allows user names a spreadsheet would evaluate (`=2+5`, `@x`, `-x`, `+x`): the
/// CSV of a real audit neutralises each with a leading `'`, as OWASP advises.
#[test]
fn csv_cells_a_spreadsheet_would_evaluate_are_neutralised() {
    let iam = crate::support::LocalIam::start();
    let names = ["=2+5", "@sum", "-x", "+x"];
    for name in names {
        iam.create_user(name);
        iam.create_key(name, 200);
        iam.create_key(name, 10);
    }
    iam.keytrim().arg("audit").assert().code(3);
    let rows = read_csv(&show_plans(
        iam.dir(),
        &[Path::new("plans/123456789012.yaml")],
        "csv",
    ));
    let users: std::collections::BTreeSet<&str> =
        rows[1..].iter().map(|row| row[1].as_str()).collect();
    let expected: std::collections::BTreeSet<String> =
        names.iter().map(|name| format!("'{name}")).collect();
    assert_eq!(
        users,
        expected.iter().map(String::as_str).collect(),
        "{rows:?}"
    );
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{row:?}"
            );
        }
    }
}

/// Only CSV takes several plans; the others show one.
#[test]
fn several_plans_need_csv() {
    let dir = tempfile::tempdir().unwrap();
    let output = keytrim_isolated(dir.path())
        .arg("show")
        .args([fixture(), fixture()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--format text shows one plan; only --format csv takes several"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
