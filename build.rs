//! Build script: records the git commit keytrim is built from, so that `keytrim
//! --version` names it. The commit comes from `KEYTRIM_GIT_COMMIT` when set (the
//! container build has no .git), else from git; without either the version is the
//! package version alone.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_string())
}

/// A commit id as git prints it: 7 to 40 lower-case hex digits.
fn is_commit(text: &str) -> bool {
    (7..=40).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn main() {
    println!("cargo:rerun-if-env-changed=KEYTRIM_GIT_COMMIT");
    let from_env = std::env::var("KEYTRIM_GIT_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty());
    let commit = match from_env {
        Some(commit) => Some(commit),
        None => {
            // Build again when HEAD moves: HEAD itself, the branch it points to, and
            // packed refs.
            if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
                println!("cargo:rerun-if-changed={dir}/HEAD");
                println!("cargo:rerun-if-changed={dir}/packed-refs");
                if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
                    println!("cargo:rerun-if-changed={dir}/{branch}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        }
    };
    let version = env!("CARGO_PKG_VERSION");
    let text = match commit.filter(|commit| is_commit(commit)) {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=KEYTRIM_VERSION_TEXT={text}");
}
