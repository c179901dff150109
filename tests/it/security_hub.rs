//! Security Hub findings (ASFF): `show --format asff` and `report --format asff` are
//! checked against botocore's own model of BatchImportFindings, and imported into the
//! Security Hub moto serves beside IAM, where the report's findings must update the
//! plan's (same ids) and pass the users the runs brought into line.

use std::path::Path;

use crate::support::{self, LocalIam, keytrim_isolated, seed_every_decision};

const PLAN: &str = "plans/123456789012.yaml";

/// Checks findings against botocore's model of BatchImportFindings' input (the
/// shape the AWS CLI and SDKs validate before sending), and with an endpoint imports
/// them into Security Hub there and prints every finding Security Hub then holds.
const PYTHON: &str = r#"
import json, sys
import botocore.session
from botocore.validate import ParamValidator
findings = json.load(open(sys.argv[1]))
session = botocore.session.get_session()
shape = session.get_service_model("securityhub").operation_model("BatchImportFindings").input_shape
report = ParamValidator().validate({"Findings": findings}, shape)
if report.has_errors():
    sys.exit("invalid for BatchImportFindings: " + report.generate_report())
if len(sys.argv) > 2:
    client = session.create_client("securityhub", region_name="us-east-1", endpoint_url=sys.argv[2],
        aws_access_key_id="testing", aws_secret_access_key="testing")
    answer = client.batch_import_findings(Findings=findings)
    if answer["FailedCount"]:
        sys.exit("refused: " + json.dumps(answer["FailedFindings"]))
    print(json.dumps(client.get_findings()["Findings"], default=str))
"#;

/// Validate (and with `endpoint`, import) `findings`; Security Hub's findings after.
fn batch_import(findings: &str, endpoint: Option<&str>) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("findings.json");
    std::fs::write(&file, findings).unwrap();
    let output = std::process::Command::new(support::moto_python())
        .args(["-c", PYTHON])
        .arg(&file)
        .args(endpoint)
        .output()
        .expect("the Python beside moto_server, with botocore (scripts/test.sh installs it)");
    assert!(output.status.success(), "{output:?}");
    if endpoint.is_none() {
        return Vec::new();
    }
    serde_json::from_slice(&output.stdout).unwrap()
}

fn stdout_of(output: &std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Every fixture plan, hostile strings included, gives findings botocore accepts.
#[test]
fn findings_are_valid_for_batch_import_findings() {
    let dir = tempfile::tempdir().unwrap();
    for fixture in ["every-decision.yaml", "hostile-strings.yaml"] {
        let plan = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/plans")
            .join(fixture);
        let findings = stdout_of(
            &keytrim_isolated(dir.path())
                .args(["--region", "eu-west-1", "show", "--format", "asff"])
                .arg(&plan)
                .output()
                .unwrap(),
        );
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&findings).unwrap();
        assert!(!parsed.is_empty(), "{fixture}");
        for finding in &parsed {
            assert_eq!(finding["AwsAccountId"], "123456789012");
            assert!(
                finding["ProductArn"].as_str().unwrap().starts_with(
                    "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
                ),
                "{finding}"
            );
        }
        batch_import(&findings, None);
    }
}

/// The plan's findings imported into Security Hub, then the report's after an
/// apply: the same ids (no duplicates), PASSED for alice (brought into line), FAILED
/// for hank and rita (held) and erin (exempt, suppressed).
#[test]
fn a_reports_findings_close_what_the_runs_fixed() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    let planned = stdout_of(
        &iam.keytrim()
            .args(["--region", "us-east-1", "show", "--format", "asff", PLAN])
            .output()
            .unwrap(),
    );
    let imported = batch_import(&planned, Some(&iam.endpoint));
    let status = |findings: &[serde_json::Value], user: &str| {
        findings
            .iter()
            .filter(|f| f["Id"] == format!("keytrim/cis-aws-1.13/123456789012/{user}"))
            .map(|f| f["Compliance"]["Status"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(status(&imported, "alice"), ["FAILED"]);

    // Held users make the run partial: exit 4.
    iam.keytrim()
        .args(["apply", "--yes", PLAN])
        .assert()
        .code(4);
    let journal = support::only_journal(iam.dir());
    let reported = stdout_of(
        &iam.keytrim()
            .args(["--region", "us-east-1", "report", "--format", "asff", PLAN])
            .arg(&journal)
            .output()
            .unwrap(),
    );
    let after = batch_import(&reported, Some(&iam.endpoint));
    assert_eq!(
        after.len(),
        imported.len(),
        "a re-import updates, never adds"
    );
    assert_eq!(status(&after, "alice"), ["PASSED"]);
    for user in ["hank", "rita", "erin"] {
        assert_eq!(status(&after, user), ["FAILED"], "{user}");
    }
    let erin = after
        .iter()
        .find(|f| f["Id"] == "keytrim/cis-aws-1.13/123456789012/erin")
        .unwrap();
    assert_eq!(erin["Workflow"]["Status"], "SUPPRESSED");
}

/// Findings are made for one region: without one, or with something else, nothing is
/// written and the usage error says what to give.
#[test]
fn findings_need_a_security_hub_region() {
    let dir = tempfile::tempdir().unwrap();
    let plan =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plans/every-decision.yaml");
    for (region, expected) in [
        (None, "give --region REGION (or set AWS_REGION)"),
        (Some("us-east-1:x"), "`us-east-1:x` is not an AWS region"),
    ] {
        let mut command = keytrim_isolated(dir.path());
        if let Some(region) = region {
            command.args(["--region", region]);
        }
        let output = command
            .args(["show", "--format", "asff"])
            .arg(&plan)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}
