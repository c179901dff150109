//! The command line itself: shell completions, the man page, and the command reference
//! in docs/reference.md, which is generated from the clap definitions and kept current
//! here.

use std::path::PathBuf;

use crate::support::keytrim_isolated;

const BEGIN: &str =
    "<!-- BEGIN generated reference: KEYTRIM_UPDATE_README=1 cargo test --test it cli:: -->";
const END: &str = "<!-- END generated reference -->";

fn keytrim_stdout(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = keytrim_isolated(dir.path()).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn completions_cover_every_command_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = keytrim_stdout(&["completions", shell]);
        for word in [
            "keytrim", "audit", "show", "diff", "apply", "rollback", "dry-run",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
}

#[test]
fn the_man_page_documents_every_command() {
    let page = keytrim_stdout(&["man"]);
    assert!(page.contains(".TH keytrim 1"), "{page}");
    for command in [
        "audit",
        "show",
        "diff",
        "apply",
        "rollback",
        "iam\\-policy",
        "completions",
    ] {
        assert!(page.contains(command), "the man page lacks {command}");
    }
}

fn reference() -> String {
    let mut text = format!("{BEGIN}\n");
    // Every command clap knows, in the order it lists them, so none can be left out.
    let names: Vec<String> = {
        use clap::CommandFactory as _;
        keytrim::shell::cli::Cli::command()
            .get_subcommands()
            .map(|command| command.get_name().to_string())
            .collect()
    };
    let commands: Vec<Vec<&str>> = std::iter::once(Vec::new())
        .chain(names.iter().map(|name| vec![name.as_str()]))
        .collect();
    for command in commands {
        let mut args: Vec<&str> = command.clone();
        args.push("--help");
        let title = if command.is_empty() {
            "keytrim".to_string()
        } else {
            format!("keytrim {}", command.join(" "))
        };
        text.push_str(&format!(
            "\n### `{title}`\n\n```text\n{}```\n",
            keytrim_stdout(&args)
        ));
    }
    text.push_str(&format!("\n{END}"));
    text
}

#[test]
fn the_command_reference_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("docs/reference.md lacks the generated reference markers");
    };
    let current = &readme[start..end + END.len()];
    let expected = reference();
    if current != expected && std::env::var_os("KEYTRIM_UPDATE_README").is_some() {
        let updated = readme.replace(current, &expected);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        current == expected,
        "docs/reference.md is stale: run `KEYTRIM_UPDATE_README=1 cargo test --test it cli::` and commit it"
    );
}

/// Every `keytrim ...` command line in the example workflows uses a command and options
/// that exist, and the workflows are valid YAML.
#[test]
fn the_example_workflows_use_real_commands_and_options() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/github-actions");
    let mut checked = 0;
    for name in ["keytrim-audit.yml", "keytrim-apply.yml"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let _: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|err| panic!("{name}: {err}"));
        for line in text.lines() {
            let Some(start) = line.find("keytrim ") else {
                continue;
            };
            let words: Vec<&str> = line[start..].split_whitespace().collect();
            let Some(command) = words.get(1) else {
                continue;
            };
            if !["audit", "show", "diff", "apply", "rollback", "iam-policy"].contains(command)
                || line.trim_start().starts_with('#')
            {
                continue;
            }
            let help = keytrim_stdout(&[command, "--help"]);
            for option in words.iter().filter(|w| w.starts_with("--")) {
                assert!(
                    help.contains(option),
                    "{name}: `keytrim {command}` has no {option}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} keytrim commands found");
}

/// Built from a git checkout, `--version` names the commit, so a bug report says exactly
/// what was running; the plan's `generated_by` keeps the release version alone.
#[test]
fn version_names_the_commit_it_was_built_from() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8(output.stdout).unwrap().trim().to_string());
    let version = keytrim_stdout(&["--version"]);
    let expected = match head {
        Some(commit) => format!("keytrim {} (commit {commit})\n", env!("CARGO_PKG_VERSION")),
        None => format!("keytrim {}\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(version, expected);
}

#[test]
fn a_usage_error_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    keytrim_isolated(dir.path())
        .args(["show", "x.yaml", "--format", "pdf"])
        .assert()
        .code(2);
}
