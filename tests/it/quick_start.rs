//! The README's quick start, run as a new user runs it: `scripts/demo.sh` from a fresh
//! `git clone` (of the last commit) in a temporary directory, started from another
//! directory, with `HOME` empty, no AWS settings, and `CARGO_TARGET_DIR` unset and then
//! relative. (The other quick-start command, `scripts/test.sh`, is what `.ci/run` runs
//! from a fresh clone with `CARGO_TARGET_DIR` unset.)
//!
//! The clone's build directories are links to one cache beside this test's own target
//! directory, so only the first run compiles; the demo still resolves the binary from
//! what cargo says, which is what broke when the path was relative.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target directory this test binary was built in (`<target>/debug/deps/<test>`).
fn own_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.ancestors()
        .nth(3)
        .expect("<target>/debug/deps/<test>")
        .to_path_buf()
}

/// What a new user's shell has: PATH, the toolchain's homes, and an empty HOME. The
/// moto the suite found comes first on PATH, so the demo finds it where it is rather
/// than installing it again.
fn new_user(command: &mut Command, home: &Path) {
    let real_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(python) = std::env::var_os("KEYTRIM_MOTO_PYTHON") {
        let bin = Path::new(&python).parent().unwrap().to_path_buf();
        let mut dirs = vec![bin];
        dirs.extend(std::env::split_paths(&path));
        path = std::env::join_paths(dirs).unwrap();
    }
    command.env_clear().env("PATH", path).env("HOME", home);
    // Where rustup and cargo keep the toolchain and the crates: not in the empty HOME.
    let toolchain_homes = [
        ("CARGO_HOME", real_home.join(".cargo")),
        ("RUSTUP_HOME", real_home.join(".rustup")),
        ("PYENV_ROOT", real_home.join(".pyenv")),
    ];
    for (name, default) in toolchain_homes {
        let value = std::env::var_os(name).map_or(default, PathBuf::from);
        if value.exists() {
            command.env(name, value);
        }
    }
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        command.env("RUSTUP_TOOLCHAIN", toolchain);
    }
}

fn run_demo(clone: &Path, from: &Path, home: &Path, target_dir: Option<&str>) -> String {
    let mut command = Command::new(clone.join("scripts/demo.sh"));
    command.current_dir(from);
    new_user(&mut command, home);
    if let Some(dir) = target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    let output = command.output().expect("scripts/demo.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "scripts/demo.sh failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
}

/// Every decision shows in the demo's `keytrim show`, the apply is verified, and the
/// cycle ends.
fn assert_every_decision_shown(stdout: &str) {
    for (decision, user) in [
        ("deactivate", "alice"),
        ("deactivate", "frank"),
        ("deactivate", "ivan"),
        ("hold", "hank"),
        ("hold", "rita"),
        ("exempt", "erin"),
    ] {
        assert!(
            stdout.lines().any(|line| {
                line.starts_with(decision) && line.split_whitespace().eq([decision, user])
            }),
            "no `{decision} {user}` line:\n{stdout}"
        );
    }
    // frank and ivan have no fresh key: each keeps the key in use, marked for
    // rotation in the plan, and the apply leaves each with that one key active.
    assert!(
        stdout.matches("ROTATION DUE: the kept key").count() >= 3,
        "frank, ivan and rita are marked for rotation:\n{stdout}"
    );
    for user in ["frank", "ivan"] {
        assert!(
            stdout.contains(&format!("  {user}: 1 active key(s)")),
            "{user} does not end with one active key:\n{stdout}"
        );
    }
    // The journal the demo prints shows alice's key deactivated and verified.
    assert!(stdout.contains(r#""event":"verified""#), "{stdout}");
    // The evidence report of the plan and both journals is written (the demo checks
    // that it shows the rollback).
    assert!(
        stdout.contains("$ keytrim report plans/123456789012.yaml plans/"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("Demo finished"),
        "{stdout}"
    );
}

#[test]
fn the_readme_demo_runs_from_a_fresh_clone_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("keytrim");
    let cloned = Command::new("git")
        .args(["clone", "--quiet", env!("CARGO_MANIFEST_DIR")])
        .arg(&clone)
        .status()
        .expect("git runs");
    assert!(cloned.success(), "git clone failed");
    let shared = own_target_dir().join("quick-start-target");
    std::fs::create_dir_all(&shared).unwrap();
    for name in ["target", "relative-target"] {
        std::os::unix::fs::symlink(&shared, clone.join(name)).unwrap();
    }
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();

    // As the README says: no CARGO_TARGET_DIR, from another directory.
    let stdout = run_demo(&clone, dir.path(), &home, None);
    assert_every_decision_shown(&stdout);
    // A relative CARGO_TARGET_DIR (cargo reads it against the directory it runs in).
    let stdout = run_demo(&clone, &clone, &home, Some("relative-target"));
    assert_every_decision_shown(&stdout);
    // The demo writes nothing into the clone but its build.
    let status = Command::new("git")
        .args(["status", "--porcelain", "--ignored"])
        .current_dir(&clone)
        .output()
        .unwrap();
    let changed = String::from_utf8_lossy(&status.stdout);
    let unexpected: Vec<&str> = changed
        .lines()
        .filter(|line| !line.contains("target") && !line.contains(".venv"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
}
