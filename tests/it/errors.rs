//! Failures a user meets: reaching AWS (one clear line on stderr, exit 1, never a
//! panic), usage mistakes (exit 2, clap's shape) and a reader that stops early (exit 0).

use crate::support;

use std::net::TcpListener;

use crate::support::{LocalIam, keytrim_isolated};

/// The lines keytrim printed on stderr, with the SDK's own log lines left out.
fn error_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.starts_with("keytrim:"))
        .map(str::to_string)
        .collect()
}

fn assert_one_error(output: &std::process::Output, expected: &str) {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors = error_lines(&output.stderr);
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(expected),
        "expected {expected:?} in {stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing on stdout after an error");
}

#[test]
fn an_unreachable_endpoint_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let output = keytrim_isolated(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["--endpoint-url", &endpoint, "--max-attempts", "2", "audit"])
        .output()
        .unwrap();
    assert_one_error(
        &output,
        &format!("cannot reach the AWS endpoint {endpoint} while calling sts:GetCallerIdentity"),
    );
    assert!(!dir.path().join("plans").exists());
}

#[test]
fn missing_credentials_are_explained() {
    let iam = LocalIam::start();
    let output = keytrim_isolated(iam.dir())
        .env("AWS_ENDPOINT_URL", &iam.endpoint)
        .arg("audit")
        .output()
        .unwrap();
    assert_one_error(
        &output,
        "no AWS credentials found while calling sts:GetCallerIdentity",
    );
}

/// Instance metadata that answers every request with `status` (403: IMDS switched off
/// or the hop limit reached, as on many machines), or nothing at all (`None`: a closed
/// port, as on a laptop). Returns its endpoint.
fn instance_metadata(status: Option<u16>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let Some(status) = status else {
        return endpoint; // dropped: the port is closed
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let answer = format!(
                "HTTP/1.1 {status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
        }
    });
    endpoint
}

/// A new user's first run, with no AWS setting at all (no credential variable, no
/// profile, no config files): at most 3 lines on stderr and no debug dump, the error
/// naming every source tried and how to set one. Instance metadata is played locally
/// (refusing, or not there), so the run cannot find credentials anywhere real, and its
/// calls would go to a closed local port if it did.
#[test]
fn with_no_aws_settings_the_first_error_is_one_quiet_line() {
    for imds in [Some(403), None] {
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(support::keytrim_path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", instance_metadata(imds))
            .env("AWS_ENDPOINT_URL", instance_metadata(None))
            .current_dir(dir.path())
            .arg("audit")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{imds:?}: {stderr}");
        assert!(stderr.lines().count() <= 3, "{imds:?}: {stderr}");
        for dump in ["ProviderError", "Extensions", "source:", " WARN "] {
            assert!(!stderr.contains(dump), "{imds:?}: {dump} in {stderr}");
        }
        assert_one_error(
            &output,
            "no AWS credentials found while calling sts:GetCallerIdentity: tried the environment (AWS_ACCESS_KEY_ID), the AWS config and credentials files",
        );
        assert!(stderr.contains("`aws sso login`"), "{stderr}");
        assert!(!dir.path().join("plans").exists());
    }
}

/// A profile that takes its credentials from instance metadata, which refuses: that is
/// the profile failing, not an account with no credentials, and the error says so.
#[test]
fn a_profile_whose_source_fails_is_not_called_missing_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config"),
        "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\ncredential_source = Ec2InstanceMetadata\nregion = us-east-1\n",
    )
    .unwrap();
    let output = std::process::Command::new(support::keytrim_path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", dir.path().join("config"))
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            instance_metadata(Some(403)),
        )
        .env("AWS_ENDPOINT_URL", instance_metadata(None))
        .current_dir(dir.path())
        .args(["--profile", "ops", "audit"])
        .output()
        .unwrap();
    assert_one_error(&output, "cannot load AWS credentials while calling");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("no AWS credentials found"), "{stderr}");
}

/// `-v` brings the SDK's own warnings back, for whoever needs to see the chain.
#[test]
fn verbose_shows_what_the_credential_chain_said() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(support::keytrim_path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("NO_COLOR", "1")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            instance_metadata(Some(403)),
        )
        .env("AWS_ENDPOINT_URL", instance_metadata(None))
        .current_dir(dir.path())
        .args(["-v", "audit"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("WARN") && line.contains("Ec2InstanceMetadata")),
        "{stderr}"
    );
}

#[test]
fn an_unknown_profile_is_named() {
    let iam = LocalIam::start();
    let output = iam
        .keytrim()
        .args(["--profile", "nope", "audit"])
        .output()
        .unwrap();
    assert_one_error(
        &output,
        "AWS profile `nope` not found in the AWS config or credentials files",
    );

    let output = iam
        .keytrim()
        .env("AWS_PROFILE", "ghost")
        .arg("audit")
        .output()
        .unwrap();
    assert_one_error(&output, "AWS profile `ghost` not found");
}

#[test]
fn a_known_profile_is_used() {
    let iam = LocalIam::start();
    iam.create_user("solo");
    std::fs::write(
        iam.dir().join("empty-aws-credentials"),
        "[auditor]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    keytrim_isolated(iam.dir())
        .env("AWS_ENDPOINT_URL", &iam.endpoint)
        .args(["--profile", "auditor", "audit", "-o", "-"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("users_scanned: 1"));
}

#[test]
fn access_denied_names_the_action() {
    // moto enforces IAM policies after the first four calls, which seed an auditor that
    // may call GetCallerIdentity and ListUsers but not ListAccessKeys.
    let iam = LocalIam::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    iam.create_user("auditor");
    let key = iam.create_key("auditor", 0);
    iam.block_on(
        iam.iam()
            .put_user_policy()
            .user_name("auditor")
            .policy_name("partial")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetCallerIdentity","iam:ListUsers"],"Resource":"*"}]}"#,
            )
            .send(),
    )
    .expect("PutUserPolicy");
    iam.create_user("alice");

    let output = iam
        .keytrim()
        .env("AWS_ACCESS_KEY_ID", &key.id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret)
        .args(["audit", "--max-attempts", "1"])
        .output()
        .unwrap();
    // moto's denial body differs from AWS's, so the SDK cannot read its code; keytrim
    // then shows the HTTP status and the body, which still names AccessDenied.
    assert_one_error(&output, "iam:ListAccessKeys failed: ");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(
        !iam.dir().join("plans").exists(),
        "no plan after a failed audit"
    );
}

/// keytrim's own usage mistakes exit 2 with clap's message shape, and change nothing:
/// `--out` with several profiles (it would have been ignored), `--journal` with several
/// plans, and `--accounts` without several accounts.
#[test]
fn usage_mistakes_exit_2_in_clap_style() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            &[
                "--profile",
                "a",
                "--profile",
                "b",
                "audit",
                "-o",
                "plan.yaml",
            ][..],
            "--out names one plan, but several --profile write one plan per account",
        ),
        (
            &["apply", "--journal", "j.jsonl", "a.yaml", "b.yaml"][..],
            "--journal names one file, so it takes one plan",
        ),
        (
            &["audit", "--accounts", "111111111111"][..],
            "--accounts and --exclude-accounts go with --org-role or several --profile",
        ),
    ] {
        let output = keytrim_isolated(dir.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {expected}")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("\nUsage: keytrim"), "{stderr}");
        assert!(!dir.path().join("plans").exists(), "{args:?} wrote a plan");
        assert!(!dir.path().join("plan.yaml").exists());
    }
}

/// A reader that stops early (`keytrim show --format json PLAN | head -c 100`) ends
/// keytrim quietly with exit 0, as ripgrep does, not with a broken-pipe error.
#[test]
fn a_closed_stdout_ends_quietly_with_exit_0() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plans/every-decision.yaml");
    let mut plan = keytrim::plan::load::parse(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    // Far more JSON than a pipe buffers (64 KiB on Linux).
    let template = plan.users[0].clone();
    plan.users = (0..3000)
        .map(|n| {
            let mut user = template.clone();
            user.user_name = format!("user{n:04}");
            user.user_arn = format!("arn:aws:iam::{}:user/user{n:04}", plan.account_id);
            user
        })
        .collect();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, keytrim::plan::render::to_yaml(&plan)).unwrap();

    let mut child = std::process::Command::new(support::keytrim_path())
        .args(["show", "--format", "json"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The pipe's read end is dropped here, as `head -c 100` exits.
    let output = child.wait_with_output().unwrap();
    assert!(head.starts_with(b"{"), "{}", String::from_utf8_lossy(&head));
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `keytrim audit -o - | reader` where the reader has gone: the plan reached nobody,
/// so the audit is not a success (exit 1, one line), whatever the account's state.
#[test]
fn an_audit_whose_plan_reaches_no_reader_fails() {
    let iam = LocalIam::start();
    support::seed_every_decision(&iam);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // the reader is gone before keytrim writes
    let output = iam
        .keytrim_std()
        .args(["audit", "-o", "-"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "keytrim: error: standard output was closed before the whole plan was written: no plan was delivered\n"
    );
    assert_eq!(output.status.code(), Some(1));
}

/// An audit that fails before scanning anyone does not also call every exemptions
/// entry a typo: only the error is printed.
#[test]
fn a_failed_audit_does_not_report_exemption_entries_as_unmatched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("exempt.yaml"),
        "- user: alice\n  reason: shared CI account\n",
    )
    .unwrap();
    let output = keytrim_isolated(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args([
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--max-attempts",
            "1",
        ])
        .args(["audit", "--exemptions", "exempt.yaml"])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 1);
    assert!(stderr.contains("cannot reach the AWS endpoint"), "{stderr}");
    assert!(!stderr.contains("matches none"), "{stderr}");
}
