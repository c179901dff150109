//! A plan is evidence, not orders: edits a hostile or careless reviewer could make,
//! each consistent with itself, and what `show`, `diff` and `apply` make of them
//! against a local IAM. Every key is read back from IAM independently.

use crate::support::{LocalIam, seed_every_decision};
use keytrim::plan::Plan;

const PLAN: &str = "plans/123456789012.yaml";
const EDITED: &str = "plans/edited.yaml";

fn read_plan(iam: &LocalIam) -> Plan {
    let text = std::fs::read_to_string(iam.dir().join(PLAN)).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn write_edited(iam: &LocalIam, plan: &Plan) {
    std::fs::write(iam.dir().join(EDITED), serde_yaml::to_string(plan).unwrap()).unwrap();
}

fn user<'p>(plan: &'p mut Plan, name: &str) -> &'p mut keytrim::plan::PlanUser {
    plan.users
        .iter_mut()
        .find(|user| user.user_name == name)
        .unwrap()
}

/// Apply the edited plan with `--yes`; its stderr, after checking the exit code.
fn apply_edited(iam: &LocalIam, code: i32) -> String {
    let output = iam
        .keytrim()
        .args(["apply", "--yes", EDITED])
        .output()
        .unwrap();
    crate::support::stderr_with_code(&output, code)
}

/// `keytrim diff` of the audit's plan and the edited one: it must exit 3 (something
/// changed) even where no decision did. Its stdout.
fn diff_of_the_edit(iam: &LocalIam) -> String {
    let output = iam.keytrim().args(["diff", PLAN, EDITED]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    stdout
}

/// The summary line of one user.
fn line_of<'s>(stderr: &'s str, user: &str) -> &'s str {
    stderr
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{user} ")))
        .unwrap_or_else(|| panic!("no line for {user}: {stderr}"))
}

/// alice keeps her new key and deactivates the old one. The edit swaps `keep` and
/// `deactivate` and every fact of the two keys, so the plan agrees with itself and
/// `show` accepts it; but IAM says which key is which, and apply leaves alice alone.
#[test]
fn swapped_keys_with_forged_facts_are_drift_and_the_used_key_stays_active() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    let mut plan = read_plan(&iam);
    let alice = user(&mut plan, "alice");
    let (keep, deactivate) = (alice.keep.clone().unwrap(), alice.deactivate[0].clone());
    alice.keep = Some(deactivate.clone());
    alice.deactivate = vec![keep.clone()];
    let (first, second) = alice.keys.split_at_mut(1);
    let (a, b) = (&mut first[0], &mut second[0]);
    std::mem::swap(&mut a.created, &mut b.created);
    std::mem::swap(&mut a.age_days, &mut b.age_days);
    std::mem::swap(&mut a.last_used, &mut b.last_used);
    std::mem::swap(&mut a.last_used_service, &mut b.last_used_service);
    std::mem::swap(&mut a.last_used_region, &mut b.last_used_region);
    write_edited(&iam, &plan);
    iam.keytrim().args(["show", EDITED]).assert().code(0);
    let listed = diff_of_the_edit(&iam);
    for what in [
        format!("alice    keep {} -> {}", keep, deactivate),
        format!("alice    key {keep} created"),
    ] {
        assert!(listed.contains(&what), "{what}: {listed}");
    }

    let stderr = apply_edited(&iam, 4);
    let line = line_of(&stderr, "alice");
    assert!(
        line.contains("drifted") && line.contains("according to IAM"),
        "{line}"
    );
    assert_eq!(iam.key_status("alice", &keys.alice_new.id), "Active");
    assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
}

/// hank is held: his old key was used two days before the audit. The edit makes the
/// decision `deactivate` and nulls that key's last use, so the rule agrees with the
/// plan and the Markdown says "never used"; IAM still knows the use.
#[test]
fn a_hidden_use_is_drift_and_the_used_key_stays_active() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    iam.keytrim().arg("audit").assert().code(3);
    let mut plan = read_plan(&iam);
    let hank = user(&mut plan, "hank");
    hank.decision = keytrim::rule::Decision::Deactivate;
    let old = hank
        .keys
        .iter_mut()
        .find(|key| key.access_key_id == keys.hank_old.id)
        .unwrap();
    old.last_used = None;
    old.last_used_service = None;
    old.last_used_region = None;
    write_edited(&iam, &plan);
    iam.keytrim().args(["show", EDITED]).assert().code(0);
    // On its own facts the plan is the rule's; diff shows both edits.
    let listed = diff_of_the_edit(&iam);
    assert!(
        listed.contains("hank     hold -> deactivate")
            && listed.contains(&format!("hank     key {} last used", keys.hank_old.id))
            && listed.contains("-> never"),
        "{listed}"
    );

    let stderr = apply_edited(&iam, 4);
    let line = line_of(&stderr, "hank");
    assert!(
        line.contains("drifted") && line.contains("but never according to the plan"),
        "{line}"
    );
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Active");
}

/// The documented override: hank's `hold` made `deactivate`, facts untouched. The
/// Markdown marks it against the rule's decision, `diff` lists it, and apply carries it
/// out (the reviewer confirmed the key is unused).
#[test]
fn a_reviewer_override_is_marked_listed_and_applied() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    // Under the older reading rita is a rotation, which leaves the apply's exit at 0.
    iam.keytrim()
        .args(["audit", "--require-fresh-key"])
        .assert()
        .code(3);
    let mut plan = read_plan(&iam);
    user(&mut plan, "hank").decision = keytrim::rule::Decision::Deactivate;
    write_edited(&iam, &plan);
    let markdown = iam
        .keytrim()
        .args(["show", "--format", "markdown", EDITED])
        .output()
        .unwrap();
    let markdown = String::from_utf8_lossy(&markdown.stdout);
    assert!(
        markdown.contains("**Reviewer overrides (1):** `hank` (hold → deactivate)")
            && markdown.contains(
                "> **Reviewer override:** the rule decides `hold` for these keys; this plan says `deactivate`."
            ),
        "{markdown}"
    );
    let listed = diff_of_the_edit(&iam);
    assert!(
        listed.contains(
            "reviewer overrides (1):\n  hank     the rule decides hold, the plan says deactivate"
        ),
        "{listed}"
    );
    apply_edited(&iam, 0);
    assert_eq!(iam.key_status("hank", &keys.hank_old.id), "Inactive");
    assert_eq!(iam.key_status("hank", &keys.hank_new.id), "Active");
}

/// carol's two keys are 200 and 100 days old: `rotate`. The edit moves `generated_at`
/// 95 days back and recomputes the ages, so the plan agrees with itself (the newer
/// key was 5 days old then) and the rule, as of that time, deactivates the older key.
/// As of now it does not: apply asks the rule again as of now and leaves carol alone.
#[test]
fn a_generated_at_moved_back_cannot_turn_a_rotation_into_a_deactivation() {
    let iam = LocalIam::start();
    iam.create_user("carol");
    let older = iam.create_key("carol", 200);
    let newer = iam.create_key("carol", 100);
    // The older reading, where a user with no fresh key is to rotate.
    iam.keytrim()
        .args(["audit", "--require-fresh-key"])
        .assert()
        .code(3);
    let mut plan = read_plan(&iam);
    plan.generated_at -= chrono::Duration::days(95);
    let generated_at = plan.generated_at;
    let carol = user(&mut plan, "carol");
    assert_eq!(carol.decision, keytrim::rule::Decision::Rotate);
    for key in &mut carol.keys {
        key.age_days = keytrim::rule::age_in_days(key.created, generated_at);
    }
    carol.decision = keytrim::rule::Decision::Deactivate;
    carol.keep = Some(newer.id.clone());
    carol.deactivate = vec![older.id.clone()];
    write_edited(&iam, &plan);
    iam.keytrim().args(["show", EDITED]).assert().code(0);

    let stderr = apply_edited(&iam, 4);
    let line = line_of(&stderr, "carol");
    assert!(
        line.contains("drifted") && line.contains("as of now, "),
        "{line}"
    );
    assert_eq!(iam.key_status("carol", &older.id), "Active");
    assert_eq!(iam.key_status("carol", &newer.id), "Active");
}

/// An audit with an exemptions file exempts alice; the edit makes her the rule's own
/// `deactivate`, which the plan's facts agree with. Leaving the exemption is a reviewer
/// override: the Markdown marks it and lists it, `diff` lists it, and apply, which
/// reads the file the plan records again (or the one `--exemptions` names), leaves
/// alice alone whatever the plan says.
#[test]
fn an_exemption_dropped_by_an_edit_is_marked_and_apply_leaves_the_user_alone() {
    let iam = LocalIam::start();
    let keys = seed_every_decision(&iam);
    std::fs::write(
        iam.dir().join("exempt.yaml"),
        "- user: alice\n  reason: vendor-managed, INC-7\n",
    )
    .unwrap();
    iam.keytrim()
        .args(["audit", "--exemptions", "exempt.yaml"])
        .assert()
        .code(3);
    let mut plan = read_plan(&iam);
    let recorded = plan.exemptions.clone().expect("the plan records the file");
    assert_eq!(recorded.path, "exempt.yaml");
    let alice = user(&mut plan, "alice");
    assert_eq!(alice.decision, keytrim::rule::Decision::Exempt);
    alice.decision = keytrim::rule::Decision::Deactivate;
    alice.keep = Some(keys.alice_new.id.clone());
    alice.deactivate = vec![keys.alice_old.id.clone()];
    write_edited(&iam, &plan);

    let markdown = iam
        .keytrim()
        .args(["show", "--format", "markdown", EDITED])
        .output()
        .unwrap();
    let markdown = String::from_utf8_lossy(&markdown.stdout);
    assert!(
        markdown.contains("`alice` (exempt → deactivate)")
            && markdown.contains("> **Reviewer override:** the rule decides `exempt`"),
        "{markdown}"
    );
    let listed = diff_of_the_edit(&iam);
    assert!(
        listed.contains("alice    the rule decides exempt, the plan says deactivate"),
        "{listed}"
    );
    for extra in [&[][..], &["--exemptions", "exempt.yaml"][..]] {
        let output = iam
            .keytrim()
            .args(["apply", "--yes"])
            .args(extra)
            .arg(EDITED)
            .output()
            .unwrap();
        let stderr = crate::support::stderr_with_code(&output, 4);
        let line = line_of(&stderr, "alice");
        assert!(
            line.contains("exempt by the exemptions file, though the plan says deactivate"),
            "{line}"
        );
        assert_eq!(iam.key_status("alice", &keys.alice_old.id), "Active");
    }
    // Without the file where the plan says, the plan still shows, and says so; so
    // does apply, which cannot check it then.
    std::fs::remove_file(iam.dir().join("exempt.yaml")).unwrap();
    let dry_run = iam
        .keytrim()
        .args(["apply", "--dry-run", EDITED])
        .output()
        .unwrap();
    let warned = String::from_utf8_lossy(&dry_run.stderr);
    assert!(
        warned.contains("the exemptions file the audit read, `exempt.yaml`, cannot be read here"),
        "{warned}"
    );
    let text = iam.keytrim().args(["show", EDITED]).output().unwrap();
    assert_eq!(text.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(
            "Check: the exemptions file the audit read, `exempt.yaml`, cannot be read here"
        ),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}
