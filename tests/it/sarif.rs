//! `keytrim show --format sarif`: one result per non-compliant user under the CIS 1.13
//! rule, valid SARIF 2.1.0 according to Microsoft's SARIF Multitool (its `validate`
//! checks the 2.1.0 schema and the spec's rules).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::keytrim_isolated;

const INSTALL: &str = "SARIF Multitool not found: run scripts/test.sh (it runs `npm install --prefix .tools @microsoft/sarif-multitool@5.7.0`), or point KEYTRIM_SARIF_MULTITOOL at sarif-multitool";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn multitool() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYTRIM_SARIF_MULTITOOL") {
        return PathBuf::from(path);
    }
    let local = root().join(".tools/node_modules/.bin/sarif-multitool");
    assert!(local.exists(), "{INSTALL}");
    local
}

/// The errors the Multitool reports for a SARIF file.
fn validation_errors(file: &Path) -> Vec<String> {
    let output = Command::new(multitool())
        .arg("validate")
        .arg(file)
        .output()
        .unwrap_or_else(|err| panic!("{INSTALL}: {err}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("Done. 1 files scanned."), "{text}");
    text.lines()
        .filter(|line| line.contains(": error "))
        .map(str::to_string)
        .collect()
}

fn sarif_of_fixture() -> String {
    // The plan at the path it has in the repository, as code scanning would see it, but
    // in a directory of the test's own: tests never write into the repository.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("tests/fixtures/plans");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/plans/every-decision.yaml"),
        copy.join("every-decision.yaml"),
    )
    .unwrap();
    let output = keytrim_isolated(dir.path())
        .args([
            "show",
            "tests/fixtures/plans/every-decision.yaml",
            "--format",
            "sarif",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn sarif_has_one_result_per_non_compliant_user_and_validates() {
    let sarif = sarif_of_fixture();
    let document: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let run = &document["runs"][0];
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "CIS-AWS-1.13");
    let numbers = &run["tool"]["driver"]["rules"][0]["properties"]["cisAwsFoundationsBenchmark"];
    assert_eq!(numbers["v3.0"], "1.13");
    assert_eq!(numbers["v5.0"], "1.12");
    assert_eq!(numbers["v6.0"], "2.12");
    let results = run["results"].as_array().unwrap();
    let users: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["logicalLocations"][0]["name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(users, ["alice", "erin", "hank", "rita"]);
    assert!(results.iter().all(|r| r["ruleId"] == "CIS-AWS-1.13"));
    let location = &results[2]["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "tests/fixtures/plans/every-decision.yaml"
    );
    let fixture =
        std::fs::read_to_string(root().join("tests/fixtures/plans/every-decision.yaml")).unwrap();
    let line = location["region"]["startLine"].as_u64().unwrap() as usize;
    assert_eq!(fixture.lines().nth(line - 1), Some("- user_name: hank"));
    assert_eq!(
        results[1]["suppressions"][0]["kind"], "external",
        "erin is exempt"
    );
    insta::assert_snapshot!(sarif);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.sarif");
    std::fs::write(&file, &sarif).unwrap();
    assert_eq!(validation_errors(&file), Vec::<String>::new());
}

#[test]
fn the_validator_does_catch_broken_sarif() {
    let mut document: serde_json::Value = serde_json::from_str(&sarif_of_fixture()).unwrap();
    document["runs"][0]["tool"]
        .as_object_mut()
        .unwrap()
        .remove("driver");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.sarif");
    std::fs::write(&file, document.to_string()).unwrap();
    let errors = validation_errors(&file);
    assert!(
        errors.iter().any(|e| e.contains("'driver' is missing")),
        "{errors:?}"
    );
}
