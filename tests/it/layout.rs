//! The layout's rules that the compiler does not check by itself: the core (everything
//! under `src/` but `shell/`, `commands/`, `main.rs` and `lib.rs`) uses nothing from the
//! shell or the commands, no two of the crate's top-level modules import each other, and
//! every call to AWS is made under `src/aws/`. (That only the
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

/// The top-level modules a file names through `crate::` (`crate::plan::Plan`, or each
/// name in `crate::{facts, rule::Decision}`).
fn crate_modules_named(text: &str) -> Vec<String> {
    let leading_name = |piece: &str| -> String {
        piece
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut named = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            named.push(leading_name(rest));
            continue;
        };
        // The group's pieces, split at its own commas (not those of nested groups).
        let mut depth = 0;
        let mut piece_start = 0;
        for (index, character) in group.char_indices() {
            match character {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                ',' | '}' if depth == 0 => {
                    named.push(leading_name(&group[piece_start..index]));
                    piece_start = index + 1;
                    if character == '}' {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    named.retain(|name| !name.is_empty());
    named
}

/// A top-level module (`plan`, `change`, `journal`, ...) never imports one that imports
/// it back: data flows one way between the crate's parts. Inside one part, a parent and
/// its children may share types both ways (`change` and `change::execute`).
#[test]
fn no_two_top_level_modules_import_each_other() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut imports: Vec<(String, String, PathBuf)> = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        if relative == Path::new("main.rs") || relative == Path::new("lib.rs") {
            continue;
        }
        let first = relative.iter().next().unwrap().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(path).unwrap();
        for named in crate_modules_named(&text) {
            if named != module && named != "self" {
                imports.push((module.clone(), named, path.clone()));
            }
        }
    }
    assert!(imports.len() > 50, "only {} imports found", imports.len());
    for (module, named, path) in &imports {
        if let Some((_, _, back)) = imports.iter().find(|(m, n, _)| m == named && n == module) {
            panic!(
                "{module} and {named} import each other: {} names crate::{named}, {} names crate::{module}",
                path.display(),
                back.display()
            );
        }
    }
}

#[test]
fn crate_paths_are_read_as_the_modules_they_name() {
    assert_eq!(
        crate_modules_named(
            "use crate::plan::Plan;\nuse crate::{facts::{Caller, KeyStatus}, rule};"
        ),
        ["plan", "facts", "rule"]
    );
    assert_eq!(
        crate_modules_named(
            "crate::safe_text::escape(x); crate::{\n    journal,\n    aws::iam,\n}"
        ),
        ["safe_text", "journal", "aws"]
    );
}
