//! Tests of plan validation: every way a plan can be malformed, edited or hostile is
//! refused with its reason, and a plan keytrim writes passes.

use super::*;
use crate::plan::model::{PlanKey, PlanPolicy, Source, Summary};
use chrono::{TimeZone, Utc};

fn audit_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

/// A key `age_days` old at the audit.
fn key(id: &str, status: KeyStatus, age_days: u32) -> PlanKey {
    PlanKey {
        access_key_id: id.into(),
        status,
        created: audit_time() - chrono::Duration::days(i64::from(age_days)),
        age_days,
        last_used: None,
        last_used_service: None,
        last_used_region: None,
        description: None,
    }
}

const OLD: &str = "AKIAOLDOLDOLDOLD0001";
const NEW: &str = "AKIANEWNEWNEWNEW0002";

fn user(decision: Decision, keep: Option<&str>, deactivate: &[&str]) -> PlanUser {
    PlanUser {
        user_name: "alice".into(),
        user_arn: "arn:aws:iam::123456789012:user/alice".into(),
        decision,
        reason: "r".into(),
        keep: keep.map(String::from),
        deactivate: deactivate.iter().map(|s| s.to_string()).collect(),
        keys: vec![
            key(OLD, KeyStatus::Active, 200),
            key(NEW, KeyStatus::Active, 10),
        ],
        exempt_until: None,
        error: None,
        rotation_due: false,
        rotate_to: None,
        secret_hands_out: None,
    }
}

fn plan(users: Vec<PlanUser>) -> Plan {
    Plan {
        version: 3,
        kind: PLAN_KIND.into(),
        account_id: "123456789012".into(),
        partition: "aws".into(),
        generated_at: audit_time(),
        generated_by: "keytrim test".into(),
        caller_arn: "arn:aws:iam::123456789012:user/admin".into(),
        source: Source::Live,
        policy: PlanPolicy {
            control: "c".into(),
            max_key_age_days: 90,
            in_use_window_days: 7,
            in_use_guard: true,
            require_fresh_key: true,
            unused_days: 45,
            rotation: false,
        },
        exemptions: None,
        summary: Summary::default(),
        users,
        exempt_by_file: Default::default(),
    }
}

fn problem(users: Vec<PlanUser>) -> String {
    validate(&plan(users)).unwrap_err().to_string()
}

#[test]
fn a_sound_plan_passes() {
    assert_eq!(
        validate(&plan(vec![user(Decision::Deactivate, Some(NEW), &[OLD])])),
        Ok(())
    );
}

#[test]
fn the_kept_key_may_not_be_deactivated() {
    let message = problem(vec![user(Decision::Deactivate, Some(NEW), &[NEW, OLD])]);
    assert_eq!(
        message,
        format!(
            "user `alice`: field `deactivate`: {NEW} is the kept key; the kept key is never deactivated"
        )
    );
}

#[test]
fn a_deactivation_must_keep_a_key() {
    let message = problem(vec![user(Decision::Deactivate, None, &[OLD, NEW])]);
    assert!(
        message.starts_with("user `alice`: field `keep`:"),
        "{message}"
    );
}

#[test]
fn keeping_an_inactive_key_is_refused() {
    let mut alice = user(Decision::Deactivate, Some(NEW), &[OLD]);
    alice.keys[1].status = KeyStatus::Inactive;
    assert!(problem(vec![alice]).contains("Inactive at audit time"));
}

#[test]
fn a_user_listed_twice_is_refused() {
    let alice = user(Decision::Deactivate, Some(NEW), &[OLD]);
    assert!(problem(vec![alice.clone(), alice]).contains("appears twice"));
}

#[test]
fn rotate_and_exempt_carry_no_actions() {
    let message = problem(vec![user(Decision::Rotate, Some(NEW), &[])]);
    assert!(message.contains("field `keep`: must be null"), "{message}");
    let message = problem(vec![user(Decision::Exempt, None, &[OLD])]);
    assert!(
        message.contains("field `deactivate`: must be empty"),
        "{message}"
    );
}

#[test]
fn key_ids_must_look_like_key_ids() {
    let mut alice = user(Decision::Deactivate, Some(NEW), &[OLD]);
    alice.keys[0].access_key_id = "AKIA$(rm -rf /)xxxxx".into();
    assert!(problem(vec![alice]).contains("is not an access key id"));
}

#[test]
fn unknown_keys_in_deactivate_are_refused() {
    let message = problem(vec![user(
        Decision::Deactivate,
        Some(NEW),
        &["AKIAOTHEROTHER00003"],
    )]);
    assert!(
        message.contains("is not one of the user's keys"),
        "{message}"
    );
}

/// The swap: the plan keeps the old key and deactivates the new one. However its
/// decision is spelled, the rule keeps the newest key, and the plan is refused.
#[test]
fn an_edit_cannot_change_which_key_is_kept() {
    for decision in [Decision::Deactivate, Decision::Hold] {
        let message = problem(vec![user(decision, Some(OLD), &[NEW])]);
        assert_eq!(
            message,
            format!(
                "user `alice`: field `keep`: the rule keeps {NEW} and deactivates {OLD} as of 2026-11-01T00:00:00Z; an edit cannot change which key is kept"
            )
        );
    }
}

/// Overrides that do less, or what the rule named for a held key, pass; a
/// deactivation where the rule finds no key young enough to keep does not.
#[test]
fn only_overrides_that_do_less_are_accepted() {
    use crate::plan::standing::{Standing, standing};
    let sound = plan(vec![]);
    let held = user(Decision::Hold, Some(NEW), &[OLD]);
    assert_eq!(
        standing(&sound, &held),
        Ok(Standing::Override {
            rule: Decision::Deactivate
        })
    );
    let rotated = user(Decision::Rotate, None, &[]);
    assert_eq!(
        standing(&sound, &rotated),
        Ok(Standing::Override {
            rule: Decision::Deactivate
        })
    );
    // Used two days before the audit: the rule holds; deactivating is the
    // reviewer's override of a hold, of the same key.
    let mut used = user(Decision::Deactivate, Some(NEW), &[OLD]);
    used.keys[0].last_used = Some(audit_time() - chrono::Duration::days(2));
    assert_eq!(
        standing(&sound, &used),
        Ok(Standing::Override {
            rule: Decision::Hold
        })
    );
    // Both keys too old to keep: under the older reading (this plan's) the rule
    // says rotate. A reviewer may take the default reading's deactivation for
    // the user instead, marked for rotation as it marks it, and nothing else.
    let mut old = user(Decision::Deactivate, Some(NEW), &[OLD]);
    old.keys[1] = key(NEW, KeyStatus::Active, 95);
    old.rotation_due = true;
    assert_eq!(
        standing(&sound, &old),
        Ok(Standing::Override {
            rule: Decision::Rotate
        })
    );
    let mut unmarked = old.clone();
    unmarked.rotation_due = false;
    let message = problem(vec![unmarked]);
    assert!(
        message.contains("field `rotation_due`: the kept key is due for rotation"),
        "{message}"
    );
    let mut swapped = user(Decision::Deactivate, Some(OLD), &[NEW]);
    swapped.keys[1] = key(NEW, KeyStatus::Active, 95);
    swapped.rotation_due = true;
    let message = problem(vec![swapped]);
    assert!(
        message.contains("field `keep`: the rule keeps AKIANEWNEWNEWNEW0002"),
        "{message}"
    );
}

/// Under the older reading (this fixture's) the rule rotates; the default reading
/// holds, since OLD was used the day before the audit. A plan that deactivates is
/// that hold overridden, and says so: a reviewer must see the hold, not a rotation.
#[test]
fn taking_the_default_reading_shows_the_hold_it_overrides() {
    use crate::plan::standing::{Standing, standing};
    let sound = plan(vec![]);
    let mut edited = user(Decision::Deactivate, Some(NEW), &[OLD]);
    edited.keys[1] = key(NEW, KeyStatus::Active, 95);
    edited.keys[1].last_used = Some(audit_time());
    edited.keys[0].last_used = Some(audit_time() - chrono::Duration::days(1));
    edited.rotation_due = true;
    assert_eq!(
        standing(&sound, &edited),
        Ok(Standing::Override {
            rule: Decision::Hold
        })
    );
}

/// The mark and the exemptions file came with version 3, and the mark belongs to a
/// kept key: an older plan with them, or an exempt user marked, is refused.
#[test]
fn version_3_fields_are_refused_where_they_do_not_belong() {
    let mut marked = user(Decision::Deactivate, Some(NEW), &[OLD]);
    marked.keys[1] = key(NEW, KeyStatus::Active, 95);
    marked.rotation_due = true;
    let mut older = plan(vec![marked]);
    older.version = 2;
    assert!(
        validate(&older)
            .unwrap_err()
            .to_string()
            .contains("came with version 3"),
    );
    let mut exempt = user(Decision::Exempt, None, &[]);
    exempt.rotation_due = true;
    assert!(problem(vec![exempt]).contains("field `rotation_due`: only a `deactivate` or `hold`"),);
}

/// The exemptions file's digest is shown as it stands, so nothing but a SHA-256
/// passes.
#[test]
fn an_exemptions_digest_is_64_hex_digits() {
    let mut recorded = plan(vec![]);
    recorded.exemptions = Some(crate::plan::model::ExemptionsFile {
        path: "exempt.yaml".into(),
        sha256: "ab".repeat(32),
    });
    assert_eq!(validate(&recorded), Ok(()));
    for hostile in [
        "\u{1b}[2J".to_string() + &"a".repeat(60),
        "<b>x</b>".into(),
        "AB".repeat(32),
    ] {
        recorded.exemptions.as_mut().unwrap().sha256 = hostile;
        assert!(
            validate(&recorded)
                .unwrap_err()
                .to_string()
                .contains("field `exemptions.sha256`: not a SHA-256")
        );
    }
}

/// A user the exemptions file exempts (as of the audit's day) whom the plan does
/// not call exempt is a reviewer override of `exempt`; an entry that had expired
/// by then is not.
#[test]
fn leaving_a_file_exemption_is_an_override() {
    let mut sound = plan(vec![user(Decision::Deactivate, Some(NEW), &[OLD])]);
    let alice = sound.users[0].clone();
    assert_eq!(crate::plan::standing::override_of(&sound, &alice), None);
    let day = sound.generated_at.date_naive();
    sound.exempt_by_file.entries = vec![("alice".into(), "vendor".into(), Some(day))];
    assert_eq!(
        crate::plan::standing::override_of(&sound, &alice),
        Some(Decision::Exempt)
    );
    sound.exempt_by_file.entries[0].2 = day.pred_opt();
    assert_eq!(crate::plan::standing::override_of(&sound, &alice), None);
}

#[test]
fn ages_are_as_of_the_audit() {
    let mut alice = user(Decision::Deactivate, Some(NEW), &[OLD]);
    alice.keys[0].age_days = 20;
    let message = problem(vec![alice]);
    assert!(
            message.contains("field `keys.age_days`: key AKIAOLDOLDOLDOLD0001 created 2026-04-15T00:00:00Z is 200 day(s) old as of generated_at, not 20"),
            "{message}"
        );
}

#[test]
fn account_ids_have_twelve_digits() {
    let mut bad = plan(vec![]);
    bad.account_id = "12345".into();
    assert!(
        validate(&bad)
            .unwrap_err()
            .to_string()
            .contains("account_id")
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A user of the sound plan, renamed (ARN included) to `name`.
    fn named(name: &str, keep: &str, deactivate: &str) -> PlanUser {
        let mut user = user(Decision::Deactivate, Some(keep), &[deactivate]);
        user.user_name = name.to_string();
        user.user_arn = format!("arn:aws:iam::123456789012:user/{name}");
        user
    }

    fn flip_case(name: &str, flips: &[bool]) -> String {
        name.chars()
            .zip(flips.iter().cycle())
            .map(|(c, flip)| match (flip, c.is_ascii_lowercase()) {
                (true, true) => c.to_ascii_uppercase(),
                (true, false) => c.to_ascii_lowercase(),
                _ => c,
            })
            .collect()
    }

    /// The case `every_iam_name_and_path_pass` once shrank to (kept as an example now
    /// that property tests write no regression file): a one-letter name at the root.
    #[test]
    fn a_one_letter_name_at_the_root_path_passes() {
        let mut user = named("A", NEW, OLD);
        user.user_arn = "arn:aws:iam::123456789012:user/A".to_string();
        assert_eq!(validate(&plan(vec![user])), Ok(()));
    }

    proptest! {
        #![proptest_config(crate::proptest_config(256))]

        /// Two spellings of one IAM user, each keeping the key the other
        /// deactivates, are always refused.
        #[test]
        fn two_spellings_of_one_user_are_refused(
            name in "[A-Za-z0-9+=,.@_-]{1,64}",
            flips in proptest::collection::vec(any::<bool>(), 1..8),
        ) {
            let twin = flip_case(&name, &flips);
            let message = problem(vec![named(&name, NEW, OLD), named(&twin, OLD, NEW)]);
            prop_assert!(message.contains("appears twice"), "{message}");
        }

        /// Any IAM-valid name with its own ARN, under any path, passes.
        #[test]
        fn every_iam_name_and_path_pass(
            name in "[A-Za-z0-9+=,.@_-]{1,64}",
            path in "(/[!-.0-~]{1,10}){0,3}/",
        ) {
            let mut user = named(&name, NEW, OLD);
            user.user_arn = format!("arn:aws:iam::123456789012:user{path}{name}");
            prop_assert_eq!(validate(&plan(vec![user])), Ok(()));
        }

        /// An ARN that differs from the user's own in any one character is refused,
        /// unless the change only moves text into the path.
        #[test]
        fn a_changed_arn_is_refused(
            name in "[a-z]{1,20}",
            at in any::<prop::sample::Index>(),
            with in "[ -~\u{1b}\u{202e}]",
        ) {
            let mut user = named(&name, NEW, OLD);
            let mut chars: Vec<char> = user.user_arn.chars().collect();
            let index = at.index(chars.len());
            let replacement = with.chars().next().unwrap();
            prop_assume!(chars[index] != replacement);
            chars[index] = replacement;
            user.user_arn = chars.into_iter().collect();
            prop_assert!(validate(&plan(vec![user])).is_err());
        }

        /// Names IAM would never issue are refused, whatever they contain.
        #[test]
        fn names_outside_iam_pattern_are_refused(name in "\\PC{0,70}") {
            prop_assume!(!is_user_name(&name));
            let user = named(&name, NEW, OLD);
            let message = problem(vec![user]);
            prop_assert!(message.contains("user_name") || message.contains("user_arn"), "{message}");
        }
    }
}
