//! Exemptions at audit: the exemptions file by name and glob, the `keytrim:exempt`
//! tags, and exemptions that end, against a real local IAM.

use crate::audit::{audit_to_stdout, user};
use crate::support::{LocalIam, seed_every_decision};
use keytrim::rule::Decision;

#[test]
fn the_exemptions_file_exempts_by_name_and_glob() {
    let iam = LocalIam::start();
    seed_every_decision(&iam);
    std::fs::write(
        iam.dir().join("exempt.yaml"),
        "- user: 'ali*'\n  reason: shared CI account, INC-1234\n- user: rita\n  reason: vendor-managed\n",
    )
    .unwrap();
    let plan = audit_to_stdout(&iam, &["--exemptions", "exempt.yaml"], 3);
    let alice = user(&plan, "alice");
    assert_eq!(alice.decision, Decision::Exempt);
    assert_eq!(
        alice.reason,
        "exempt by exemptions file (pattern `ali*`): shared CI account, INC-1234"
    );
    assert_eq!(user(&plan, "rita").decision, Decision::Exempt);
    // The tag still wins for erin, and hank is untouched.
    assert!(user(&plan, "erin").reason.contains("tag"));
    assert_eq!(user(&plan, "hank").decision, Decision::Hold);
    assert_eq!(plan.summary.exempt, 3);

    iam.keytrim()
        .args(["audit", "--exemptions", "missing.yaml"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("missing.yaml"));
}

/// IAM user names ignore case, and so do exemption entries and the tag key; an entry
/// that matches nobody is most likely a typo and is reported.
#[test]
fn exemptions_match_ignoring_case_and_an_entry_matching_nobody_is_reported() {
    let iam = LocalIam::start();
    iam.create_user("Alice");
    iam.create_key("Alice", 200);
    iam.create_key("Alice", 10);
    iam.create_user_with_tags("bob", &[("KEYTRIM:Exempt", "vendor rotates it")]);
    iam.create_key("bob", 200);
    iam.create_key("bob", 10);
    std::fs::write(
        iam.dir().join("exempt.yaml"),
        "- user: 'ALI*'\n  reason: shared CI account\n- user: alcie\n  reason: a typo\n",
    )
    .unwrap();
    let output = iam
        .keytrim()
        .args(["audit", "--exemptions", "exempt.yaml", "-o", "-"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let plan = keytrim::plan::load::parse(&String::from_utf8(output.stdout).unwrap()).unwrap();
    assert_eq!(user(&plan, "Alice").decision, Decision::Exempt);
    assert_eq!(
        user(&plan, "bob").reason,
        "exempt by tag keytrim:exempt: vendor rotates it"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("exemptions entry `alcie` matches none of the users scanned"),
        "{stderr}"
    );
    assert!(!stderr.contains("`ALI*` matches none"), "{stderr}");
}

/// Any exemption still in force applies, whatever expired before it: an expired
/// `keytrim:exempt-until` tag does not hide a file entry in force, nor does an expired
/// file entry hide a later glob. "Expired" is said only when none is in force.
#[test]
fn an_exemption_in_force_applies_whatever_expired_before_it() {
    let iam = LocalIam::start();
    let today = chrono::Utc::now().date_naive();
    let (yesterday, later) = (
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(30),
    );
    iam.create_user_with_tags(
        "ivan",
        &[
            ("keytrim:exempt", "vendor"),
            ("keytrim:exempt-until", &yesterday.to_string()),
        ],
    );
    iam.create_user("svc-judy");
    iam.create_user("svc-kim");
    for user in ["ivan", "svc-judy", "svc-kim"] {
        iam.create_key(user, 200);
        iam.create_key(user, 10);
    }
    std::fs::write(
        iam.dir().join("exempt.yaml"),
        format!(
            "- {{user: ivan, reason: migration, expires: '{later}'}}\n\
             - {{user: svc-judy, reason: old ticket, expires: '{yesterday}'}}\n\
             - {{user: svc-kim, reason: older ticket, expires: '2020-01-01'}}\n\
             - {{user: 'svc-j*', reason: service accounts}}\n"
        ),
    )
    .unwrap();
    let plan = audit_to_stdout(&iam, &["--exemptions", "exempt.yaml"], 3);
    let ivan = user(&plan, "ivan");
    assert_eq!(ivan.decision, Decision::Exempt, "{}", ivan.reason);
    assert_eq!(ivan.exempt_until, Some(later));
    assert!(
        ivan.reason.contains("pattern `ivan`): migration"),
        "{}",
        ivan.reason
    );
    let judy = user(&plan, "svc-judy");
    assert_eq!(judy.decision, Decision::Exempt, "{}", judy.reason);
    assert!(
        judy.reason.contains("pattern `svc-j*`): service accounts"),
        "{}",
        judy.reason
    );
    // Nothing in force for kim: the latest entry to expire is named.
    let kim = user(&plan, "svc-kim");
    assert_eq!(kim.decision, Decision::Deactivate);
    assert!(
        kim.reason
            .starts_with("exemption expired on 2020-01-01 (exemptions file, pattern `svc-kim`)"),
        "{}",
        kim.reason
    );
}

/// Exemptions may end: by the file's `expires` or the `keytrim:exempt-until` tag. After
/// its last day an exemption no longer applies and the rule decides, saying so; one
/// ending within 14 days is listed in the summary and the Markdown; a date that cannot
/// be read is an error naming the user.
#[test]
fn exemptions_that_end_are_decided_by_the_rule_and_ending_ones_are_listed() {
    let iam = LocalIam::start();
    let today = chrono::Utc::now().date_naive();
    let (yesterday, soon, later) = (
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(5),
        today + chrono::Duration::days(30),
    );
    for user in ["alice", "bob"] {
        iam.create_user(user);
    }
    iam.create_user_with_tags(
        "carol",
        &[
            ("keytrim:exempt", "migration"),
            ("Keytrim:Exempt-Until", &soon.to_string()),
        ],
    );
    iam.create_user_with_tags("dave", &[("keytrim:exempt-until", &yesterday.to_string())]);
    for user in ["alice", "bob", "carol", "dave"] {
        iam.create_key(user, 200);
        iam.create_key(user, 10);
    }
    std::fs::write(
        iam.dir().join("exempt.yaml"),
        format!(
            "- {{user: alice, reason: old pipeline, expires: '{yesterday}'}}\n- {{user: bob, reason: vendor, expires: '{later}'}}\n"
        ),
    )
    .unwrap();
    let output = iam
        .keytrim()
        .args(["audit", "--exemptions", "exempt.yaml", "-o", "plan.yaml"])
        .output()
        .unwrap();
    let stderr = crate::support::stderr_with_code(&output, 3);
    let plan = keytrim::plan::load(&iam.dir().join("plan.yaml")).unwrap();

    let alice = user(&plan, "alice");
    assert_eq!(alice.decision, Decision::Deactivate);
    assert!(
        alice.reason.starts_with(&format!(
            "exemption expired on {yesterday} (exemptions file, pattern `alice`); 2 active keys"
        )),
        "{}",
        alice.reason
    );
    let dave = user(&plan, "dave");
    assert_eq!(dave.decision, Decision::Deactivate);
    assert!(
        dave.reason.starts_with(&format!(
            "exemption expired on {yesterday} (tag keytrim:exempt)"
        )),
        "{}",
        dave.reason
    );
    let bob = user(&plan, "bob");
    assert_eq!(bob.decision, Decision::Exempt);
    assert_eq!(bob.exempt_until, Some(later));
    assert!(
        bob.reason.ends_with(&format!("(until {later})")),
        "{}",
        bob.reason
    );
    let carol = user(&plan, "carol");
    assert_eq!(carol.decision, Decision::Exempt);
    assert_eq!(carol.exempt_until, Some(soon));
    assert!(
        stderr.contains(&format!(
            "exemptions ending within 14 days: carol (last day {soon})"
        )),
        "{stderr}"
    );

    let markdown = iam
        .keytrim()
        .args(["show", "plan.yaml", "--format", "markdown"])
        .output()
        .unwrap();
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(
        markdown.contains(&format!(
            "### exemptions ending within 14 days (1)\n\n_After its last day an exemption no longer applies: renew it, or let the rule decide._\n\n- `carol`: last day {soon}\n"
        )),
        "{markdown}"
    );

    iam.create_user_with_tags("eve", &[("keytrim:exempt-until", "soon")]);
    iam.create_key("eve", 200);
    iam.create_key("eve", 10);
    iam.keytrim()
        .args(["audit", "--exemptions", "exempt.yaml", "-o", "-"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "IAM user `eve`: tag keytrim:exempt-until: `soon` is not a date (YYYY-MM-DD)",
        ));
}
