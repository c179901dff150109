//! The plan's JSON Schema: the checked-in copy is what the Rust types generate, and
//! real plans (the fixture and a fresh audit) validate against it while broken ones
//! do not.

use std::path::{Path, PathBuf};

use crate::support::{LocalIam, keytrim_isolated, seed_every_decision};

const SCHEMA: &str = "plans/schema/plan-v4.schema.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generated() -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = keytrim_isolated(dir.path()).arg("schema").output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_checked_in_schema_is_the_generated_one() {
    let generated = generated();
    let path = root().join(SCHEMA);
    if std::env::var_os("KEYTRIM_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{SCHEMA} is stale: run `KEYTRIM_UPDATE_SCHEMA=1 cargo test --test it schema::` and commit it"
    );
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(SCHEMA)).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// A YAML plan as the JSON value the schema describes.
fn as_json(yaml: &str) -> serde_json::Value {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    serde_json::to_value(value).unwrap()
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures").join(path)).unwrap()
}

#[test]
fn real_plans_validate_against_the_schema() {
    let validator = validator();
    let plan = as_json(&fixture("plans/every-decision.yaml"));
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    let iam = LocalIam::start();
    seed_every_decision(&iam);
    let output = iam.keytrim().args(["audit", "-o", "-"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let audited = as_json(&String::from_utf8(output.stdout).unwrap());
    let errors: Vec<String> = validator
        .iter_errors(&audited)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn broken_plans_do_not_validate() {
    let validator = validator();
    for name in [
        "unknown-field.yaml",
        "wrong-version.yaml",
        "wrong-kind.yaml",
        "bad-key-id.yaml",
        "bad-account-id.yaml",
        "wrong-type.yaml",
    ] {
        let plan = as_json(&fixture(
            &Path::new("bad-plans").join(name).to_string_lossy(),
        ));
        assert!(!validator.is_valid(&plan), "{name} passed the schema");
    }
}
