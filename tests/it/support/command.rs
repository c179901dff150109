//! Running the real `keytrim` binary as a test does: in a temporary directory, with an
//! environment that reaches nothing but what the test names, and what it printed.

use std::path::{Path, PathBuf};

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};

use super::local_iam::project_root;

/// The environment of a `keytrim` run in `dir`: nothing inherited but PATH, AWS config
/// files that are empty, instance metadata off.
pub(crate) fn isolated_env(dir: &Path) -> Vec<(String, std::ffi::OsString)> {
    // The config files are written into `dir`: never let that be the repository.
    assert!(
        !dir.starts_with(project_root()),
        "tests never write into the repository: run keytrim in a temporary directory, not {}",
        dir.display()
    );
    let config = dir.join("empty-aws-config");
    let credentials = dir.join("empty-aws-credentials");
    for file in [&config, &credentials] {
        if !file.exists() {
            std::fs::write(file, "").expect("empty AWS config file");
        }
    }
    vec![
        ("PATH".into(), std::env::var_os("PATH").unwrap_or_default()),
        ("HOME".into(), dir.into()),
        ("AWS_CONFIG_FILE".into(), config.into()),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), credentials.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("NO_COLOR".into(), "1".into()),
    ]
}

/// Where the keytrim binary is: integration tests know where cargo built it; the demo
/// and the benchmark say so in KEYTRIM_BIN, which may be relative to where they were
/// started. keytrim runs in another directory (each test's own), so the path is made
/// absolute first.
pub(crate) fn keytrim_path() -> PathBuf {
    match std::env::var_os("KEYTRIM_BIN") {
        Some(path) => std::path::absolute(&path).unwrap_or_else(|_| PathBuf::from(path)),
        None => assert_cmd::cargo::cargo_bin("keytrim"),
    }
}

/// A `keytrim` command with an empty environment but PATH, working in `dir`, where
/// AWS config files point at nothing and instance metadata is off.
pub(crate) fn keytrim_isolated(dir: &Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(keytrim_path());
    command.env_clear().envs(isolated_env(dir)).current_dir(dir);
    command
}

/// An IAM client for the local server with the given credentials.
pub(crate) fn client(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_iam::Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            key_id,
            secret,
            None,
            None,
            "keytrim-tests",
        ))
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

/// A finished run's standard error, after checking that it exited with `code` (a
/// failed check shows the standard error).
pub(crate) fn stderr_with_code(output: &std::process::Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    stderr
}
