//! The layout's rules that the compiler does not check by itself: the core (everything
//! under `src/` but `shell/`, `commands/`, `main.rs` and `lib.rs`) uses nothing from the
//! shell or the commands, and every call to AWS is made under `src/aws/`. (That only the
//! shell prints is clippy's `print_stdout` and `print_stderr`, errors outside `shell/`
//! and `main.rs`.)

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn the_core_uses_nothing_from_the_shell_or_the_commands() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let outside_core = |path: &Path| {
        let relative = path.strip_prefix(&src).unwrap();
        relative.starts_with("shell")
            || relative.starts_with("commands")
            || relative == Path::new("main.rs")
            || relative == Path::new("lib.rs")
    };
    let core: Vec<&PathBuf> = files.iter().filter(|path| !outside_core(path)).collect();
    assert!(core.len() > 30, "only {} core files found", core.len());
    for path in core {
        let text = std::fs::read_to_string(path).unwrap();
        for (number, line) in text.lines().enumerate() {
            assert!(
                !line.contains("crate::shell") && !line.contains("crate::commands"),
                "{}:{}: the core uses the shell: {line}",
                path.display(),
                number + 1
            );
        }
    }
}

/// An SDK operation is sent with `.send()` (a paginator's too): only `src/aws/` does.
#[test]
fn every_call_to_aws_is_made_under_src_aws() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    for path in files
        .iter()
        .filter(|path| !path.starts_with(src.join("aws")))
    {
        checked += 1;
        let text = std::fs::read_to_string(path).unwrap();
        for (number, line) in text.lines().enumerate() {
            assert!(
                !line.contains(".send()") && !line.contains(".into_paginator()"),
                "{}:{}: a call to AWS outside src/aws/: {line}",
                path.display(),
                number + 1
            );
        }
    }
    assert!(checked > 30, "only {checked} files checked");
}
