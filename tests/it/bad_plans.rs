//! A corpus of broken plans (tests/fixtures/bad-plans/): `keytrim apply --yes` refuses
//! each one with its own one-line message naming the file (and the user and field where
//! there are some), exits 1, and never writes to IAM.

use crate::support;

use crate::support::LocalIam;

/// Each fixture and the end of the message it must give.
const CORPUS: &[(&str, &str)] = &[
    (
        "policy-beyond-a-century.yaml",
        "field `policy.max_key_age_days`: must be at most 36500 days",
    ),
    (
        "unknown-field.yaml",
        "user `hank`: users[2]: unknown field `approved_by`, expected one of `user_name`, `user_arn`, `decision`, `reason`, `keep`, `deactivate`, `rotation_due`, `keys`, `exempt_until`, `error`, `rotate_to`, `secret_hands_out` at line 81 column 3",
    ),
    (
        "wrong-version.yaml",
        "field `version`: unsupported plan version 5 (this keytrim reads versions 1 to 4)",
    ),
    (
        "wrong-kind.yaml",
        "field `kind`: expected `keytrim-plan`, found `terraform-plan`",
    ),
    (
        "keep-in-deactivate.yaml",
        "user `alice`: field `deactivate`: AKIAEXAMPLEALICE0002 is the kept key; the kept key is never deactivated",
    ),
    (
        "deactivates-every-active-key.yaml",
        "user `alice`: field `keep`: decision `deactivate` must keep one key; a user is never left without an active key",
    ),
    (
        "keeps-an-inactive-key.yaml",
        "user `alice`: field `keep`: AKIAEXAMPLEALICE0003 was Inactive at audit time; deactivating the others would leave no active key",
    ),
    (
        "keep-not-a-key-of-the-user.yaml",
        "user `hank`: field `keep`: AKIAEXAMPLEALICE0002 is not one of the user's keys",
    ),
    (
        "deactivates-an-inactive-key.yaml",
        "user `alice`: field `deactivate`: AKIAEXAMPLEALICE0003 was already Inactive at audit time",
    ),
    (
        "rotate-with-actions.yaml",
        "user `rita`: field `keep`: must be null for decision `rotate`",
    ),
    (
        "compliant-user-listed.yaml",
        "user `rita`: field `decision`: `compliant` users are not listed in a plan; use deactivate, hold, rotate or exempt",
    ),
    (
        "duplicate-user.yaml",
        "user `alice`: field `user_name`: the user appears twice in the plan (IAM user names ignore case)",
    ),
    (
        "case-twin-user.yaml",
        "user `ALICE`: field `user_name`: the user appears twice in the plan (IAM user names ignore case)",
    ),
    (
        "arn-of-another-account.yaml",
        "user `alice`: field `user_arn`: `arn:aws:iam::210987654321:user/alice` is not the ARN of this user (arn:aws:iam::123456789012:user/<path>alice)",
    ),
    (
        "arn-of-another-user.yaml",
        "user `alice`: field `user_arn`: `arn:aws:iam::123456789012:user/admins/bob` is not the ARN of this user (arn:aws:iam::123456789012:user/<path>alice)",
    ),
    (
        // The hidden-text sequence is shown written out, never sent to the terminal.
        "control-characters-in-arn.yaml",
        "user `alice`: field `user_arn`: `arn:aws:iam::123456789012:user/alice\\u{1b}[8m hidden` is not the ARN of this user (arn:aws:iam::123456789012:user/<path>alice)",
    ),
    (
        "user-name-not-iam.yaml",
        "user `hank jones`: field `user_name`: not a valid IAM user name (1 to 64 of letters, digits and +=,.@_-)",
    ),
    (
        "truncated.yaml",
        "user `hank`: users[2]: missing field `decision` at line 76 column 3",
    ),
    (
        "deep-nesting.yaml",
        "not a plan: collections nested deeper than 64 levels",
    ),
    (
        "alias-bomb.yaml",
        "not a plan: YAML anchors (`&name`) are not accepted in a plan (line 3)",
    ),
    (
        "yaml-alias.yaml",
        "not a plan: YAML anchors (`&name`) are not accepted in a plan (line 46)",
    ),
    (
        // libyaml breaks the comment's line at U+2028: the anchor is not in a comment.
        "anchor-behind-a-line-separator.yaml",
        "not a plan: YAML anchors (`&name`) are not accepted in a plan (line 29)",
    ),
    (
        "yaml-tag.yaml",
        "not a plan: YAML tags (`!tag`) are not accepted in a plan (line 58)",
    ),
    (
        "generated-in-the-future.yaml",
        "field `generated_at`: 2099-01-01T00:00:00Z is in the future",
    ),
    (
        // A hostile or careless edit: keep the old key, deactivate the new one.
        "swaps-the-kept-key.yaml",
        "user `alice`: field `keep`: the rule keeps AKIAEXAMPLEALICE0002 and deactivates AKIAEXAMPLEALICE0001 as of 2026-11-29T12:00:00Z; an edit cannot change which key is kept",
    ),
    (
        "deactivates-where-the-rule-rotates.yaml",
        // Under this plan's (older) reading the rule rotates; a reviewer may take the
        // default reading's deactivation instead, but not with another kept key.
        "user `rita`: field `keep`: the rule keeps AKIAEXAMPLERITA00001 and deactivates AKIAEXAMPLERITA00002 as of 2026-11-29T12:00:00Z; an edit cannot change which key is kept",
    ),
    (
        "age-does-not-match-created.yaml",
        "user `hank`: field `keys.age_days`: key AKIAEXAMPLEHANK00001 created 2026-07-02T12:00:00Z is 150 day(s) old as of generated_at, not 15",
    ),
    ("not-utf8.yaml", "not UTF-8 text (invalid byte at offset 0)"),
    (
        "bad-key-id.yaml",
        "user `erin`: field `keys.access_key_id`: `AKIA;rm -rf ~;0001` is not an access key id (16 to 128 upper-case letters and digits)",
    ),
    (
        "description-longer-than-a-tag.yaml",
        "user `hank`: field `keys.description`: longer than an IAM tag value (256 characters) for key AKIAEXAMPLEHANK00001",
    ),
    (
        "wrong-type.yaml",
        "user `hank`: users[2].keys[0].age_days: invalid type: string \"a hundred and fifty\", expected u32 at line 87 column 15",
    ),
    (
        "bad-account-id.yaml",
        "field `account_id`: `1234` is not a 12-digit AWS account id",
    ),
    (
        "empty.yaml",
        "field `version`: missing; is this a keytrim plan?",
    ),
    (
        "not-a-mapping.yaml",
        "not a plan: invalid type: sequence, expected a mapping of plan fields",
    ),
];

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad-plans")
        .join(name)
}

/// Run `keytrim apply --yes PATH` and check the one error line it must give.
fn assert_refused(iam: &LocalIam, path: &std::path::Path, shown_as: &str, expected: &str) {
    let output = iam
        .keytrim()
        .args(["apply", "--yes"])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{shown_as}: {stderr}");
    let line = format!("keytrim: error: {shown_as}: {expected}");
    assert!(
        stderr.starts_with(&line) && stderr.ends_with('\n') && stderr.lines().count() == 1,
        "{shown_as}: expected `{line}`, got `{stderr}`"
    );
}

#[test]
fn every_bad_plan_is_refused_with_its_own_message_and_no_call_to_aws() {
    let iam = LocalIam::start();
    support::seed_every_decision(&iam);
    iam.start_recording();
    for (name, expected) in CORPUS {
        let path = fixture(name);
        assert_refused(&iam, &path, &path.display().to_string(), expected);
    }
    // Plans are checked before anything reaches AWS: not even a read.
    assert_eq!(iam.recorded_calls().len(), 0);
}

#[test]
fn a_missing_file_and_one_over_the_size_cap_are_refused() {
    let iam = LocalIam::start();
    iam.start_recording();
    assert_refused(
        &iam,
        std::path::Path::new("plans/nope.yaml"),
        "plans/nope.yaml",
        "no such file",
    );
    // Generated here rather than committed: 8 MiB of comments after a valid plan.
    let good = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plans/every-decision.yaml"),
    )
    .unwrap();
    let mut big = good.clone();
    while big.len() <= 8 * 1024 * 1024 {
        big.push_str(&format!("# {}\n", "padding ".repeat(16)));
    }
    std::fs::write(iam.dir().join("big.yaml"), big).unwrap();
    assert_refused(
        &iam,
        std::path::Path::new("big.yaml"),
        "big.yaml",
        "file is larger than the 8 MiB limit for plans",
    );
    assert_eq!(iam.recorded_calls().len(), 0);
}

#[test]
fn a_valid_plan_for_another_account_is_refused_after_reading_only_who_is_calling() {
    let iam = LocalIam::start();
    support::seed_every_decision(&iam);
    iam.start_recording();
    let path = fixture("another-account.yaml");
    let output = iam
        .keytrim()
        .args(["apply", "--yes"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "keytrim: error: {} is for account 210987654321, but the credentials are for account 123456789012 (arn:aws:sts::123456789012:user/moto); nothing was changed\n",
            path.display()
        )
    );
    assert_eq!(iam.recorded_actions(), ["GetCallerIdentity"]);
}

/// Every command that loads a plan refuses one from the future: `show` and `diff` as
/// well as `apply` (in the corpus above).
#[test]
fn show_and_diff_refuse_a_plan_from_the_future() {
    let iam = LocalIam::start();
    let future = fixture("generated-in-the-future.yaml");
    let good = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plans/every-decision.yaml");
    for args in [
        vec!["show".into(), future.clone()],
        vec!["diff".into(), good.clone(), future.clone()],
        vec!["diff".into(), future.clone(), good],
    ] {
        let output = iam.keytrim().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "keytrim: error: {}: field `generated_at`: 2099-01-01T00:00:00Z is in the future",
                future.display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// A 2 MB plan whose 150,000 aliases of a 1 MiB string would expand to 150 GiB in a
/// field serde reads (keytrim aborted on it, out of memory) is refused at its anchor by
/// a keytrim limited to 1 GiB of address space: loading is bounded by the file, not by
/// what the file could expand to.
#[test]
fn an_alias_bomb_is_refused_within_a_memory_limit() {
    let iam = LocalIam::start();
    let good = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plans/every-decision.yaml"),
    )
    .unwrap();
    let planned = "  deactivate:\n  - AKIAEXAMPLEALICE0001\n";
    let line = good[..good.find(planned).unwrap()].lines().count() + 1;
    let bomb = good.replacen(
        planned,
        &format!(
            "  deactivate: [&big {}, {}]\n",
            "x".repeat(1 << 20),
            vec!["*big"; 150_000].join(", ")
        ),
        1,
    );
    std::fs::write(iam.dir().join("bomb.yaml"), &bomb).unwrap();
    let output = std::process::Command::new("bash")
        .args(["-c", r#"ulimit -v 1048576; exec "$0" show bomb.yaml"#])
        .arg(support::keytrim_path())
        .env_clear()
        .envs(support::isolated_env(iam.dir()))
        .current_dir(iam.dir())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "keytrim: error: bomb.yaml: not a plan: YAML anchors (`&name`) are not accepted in a plan (line {line})\n"
        )
    );
    assert_eq!(output.status.code(), Some(1));
}
