//! The rotation hand-off in the plan (`audit --rotation`, plan version 4): which users
//! the audit plans to rotate into a secret and which get the advice with a finding, the
//! edits the plan's checks refuse (no override leads to `rotate_to`), and how every
//! renderer and `diff` show it.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::model::{PlanInputs, RotateTo, Source, build};
use super::{Plan, PlanUser, diff, load, render};
use crate::exemptions::Exemptions;
use crate::facts::{Caller, Inventory, KeyFacts, KeyStatus, LastUse, RotationBinding, UserFacts};
use crate::rule::{Decision, Policy};

pub(crate) const SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/ivan-Ab12Cd";
const NORA_SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/nora-Zz98Yy";
pub(crate) const VERSION: &str = "a1b2c3d4-1111-2222-3333-444455556666";

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

fn key(id: &str, age_days: i64, used_days_ago: Option<i64>) -> KeyFacts {
    KeyFacts {
        access_key_id: id.into(),
        status: KeyStatus::Active,
        created: now() - Duration::days(age_days),
        last_use: Some(LastUse {
            at: used_days_ago.map(|days| now() - Duration::days(days)),
            service: used_days_ago.map(|_| "s3".to_string()),
            region: used_days_ago.map(|_| "us-east-1".to_string()),
        }),
        description: None,
    }
}

fn user(name: &str, keys: Vec<KeyFacts>, rotation: RotationBinding) -> UserFacts {
    UserFacts {
        user_name: name.into(),
        user_arn: format!("arn:aws:iam::123456789012:user/{name}"),
        keys,
        exempt_tag: None,
        exempt_until: None,
        unreadable: None,
        rotation: Some(rotation),
    }
}

fn bound() -> RotationBinding {
    RotationBinding::Bound {
        secret_arn: SECRET.into(),
        current_version: VERSION.into(),
    }
}

fn not_bound(why: &str) -> RotationBinding {
    RotationBinding::NotBound { why: why.into() }
}

/// ivan: bound, one 200-day key in use; judy: one 200-day key, a secret that does not
/// name her back; kate: two active keys, tagged; lena: bound but exempt; mona: bound,
/// but her one key is 30 days old; nora: two active keys, her secret handing out the
/// one the rule would switch off.
fn inventory() -> Inventory {
    let mut lena = user(
        "lena",
        vec![key("AKIAEXAMPLELENA00001", 200, None)],
        bound(),
    );
    lena.exempt_tag = Some("vendor integration".into());
    Inventory {
        caller: Caller {
            account_id: "123456789012".into(),
            arn: "arn:aws:iam::123456789012:user/auditor".into(),
        },
        users_scanned: 9,
        scanned_names: Vec::new(),
        candidates: vec![
            user(
                "ivan",
                vec![key("AKIAEXAMPLEIVAN00001", 200, Some(1))],
                bound(),
            ),
            user(
                "judy",
                vec![key("AKIAEXAMPLEJUDY00001", 200, None)],
                not_bound("the secret does not carry keytrim:rotates: it must name the user's ARN"),
            ),
            user(
                "kate",
                vec![
                    key("AKIAEXAMPLEKATE00001", 200, Some(1)),
                    key("AKIAEXAMPLEKATE00002", 150, Some(100)),
                ],
                not_bound(
                    "it has 2 access keys: IAM allows two, so a new key needs the other deleted first",
                ),
            ),
            lena,
            user(
                "mona",
                vec![key("AKIAEXAMPLEMONA00001", 30, Some(1))],
                bound(),
            ),
            // nora's secret hands out her older key, idle 20 days: the rule would
            // switch it off beside her fresh key.
            user(
                "nora",
                vec![
                    key("AKIAEXAMPLENORA00001", 200, Some(20)),
                    key("AKIAEXAMPLENORA00002", 10, None),
                ],
                RotationBinding::Crowded {
                    secret_arn: Some(NORA_SECRET.into()),
                    current_key: Some("AKIAEXAMPLENORA00001".into()),
                    why: "it has 2 access keys: IAM allows two, so a new key needs the other deleted first".into(),
                },
            ),
            // olga has no fresh key: the older reading plans `rotate`.
            user(
                "olga",
                vec![
                    key("AKIAEXAMPLEOLGA00001", 300, Some(60)),
                    key("AKIAEXAMPLEOLGA00002", 200, Some(1)),
                ],
                RotationBinding::Crowded {
                    secret_arn: Some(NORA_SECRET.replace("nora", "olga")),
                    current_key: Some("AKIAEXAMPLEOLGA00001".into()),
                    why: "it has 2 access keys".into(),
                },
            ),
            // pete's secret could not be read: which key it hands out is unknown.
            user(
                "pete",
                vec![
                    key("AKIAEXAMPLEPETE00001", 200, Some(20)),
                    key("AKIAEXAMPLEPETE00002", 10, None),
                ],
                RotationBinding::Crowded {
                    secret_arn: Some(NORA_SECRET.replace("nora", "pete")),
                    current_key: None,
                    why: "it has 2 access keys; keytrim cannot tell which key the secret hands out: keytrim could not read it (AccessDeniedException)".into(),
                },
            ),
        ],
    }
}

fn plan_with(rotation: bool) -> Plan {
    build(
        &inventory(),
        &PlanInputs {
            policy: Policy {
                rotation,
                ..Policy::default()
            },
            source: Source::Live,
            now: now(),
            exemptions: &Exemptions::default(),
            exemptions_file: None,
        },
    )
}

/// The account's plan, audited with `--rotation`.
pub(crate) fn hand_off_plan() -> Plan {
    plan_with(true)
}

fn user_of<'p>(plan: &'p Plan, name: &str) -> &'p PlanUser {
    plan.users.iter().find(|u| u.user_name == name).unwrap()
}

fn user_mut<'p>(plan: &'p mut Plan, name: &str) -> &'p mut PlanUser {
    plan.users.iter_mut().find(|u| u.user_name == name).unwrap()
}

#[test]
fn only_a_bound_user_whose_one_key_is_due_is_handed_off() {
    let plan = hand_off_plan();
    assert!(plan.policy.rotation);
    let ivan = user_of(&plan, "ivan");
    assert_eq!(ivan.decision, Decision::Rotate);
    assert_eq!(
        ivan.rotate_to,
        Some(RotateTo {
            secret_arn: SECRET.into(),
            current_version: VERSION.into()
        })
    );
    assert!(ivan.reason.contains("bound both ways"), "{}", ivan.reason);
    let judy = user_of(&plan, "judy");
    assert_eq!((judy.decision, &judy.rotate_to), (Decision::Rotate, &None));
    assert!(
        judy.reason
            .contains("asks for a rotation, but the secret does not carry keytrim:rotates"),
        "{}",
        judy.reason
    );
    // Two keys: the rule decides as ever, and the reason says why there is no hand-off.
    let kate = user_of(&plan, "kate");
    assert_eq!(kate.decision, Decision::Deactivate, "{}", kate.reason);
    assert_eq!(kate.rotate_to, None);
    assert!(kate.reason.ends_with("asks for a rotation, but it has 2 access keys: IAM allows two, so a new key needs the other deleted first"), "{}", kate.reason);
    let lena = user_of(&plan, "lena");
    assert_eq!((lena.decision, &lena.rotate_to), (Decision::Exempt, &None));
    assert!(plan.users.iter().all(|u| u.user_name != "mona"));
    assert_eq!(plan.summary.rotate, 2);
    assert_eq!(plan.summary.compliant, 1 + 1);

    // A binding counts only in an audit that looked for one.
    let without = plan_with(false);
    assert!(!without.policy.rotation);
    assert!(
        without
            .users
            .iter()
            .all(|u| u.rotate_to.is_none()
                && !["ivan", "judy", "lena"].contains(&u.user_name.as_str())),
        "{:?}",
        without.users
    );
}

#[test]
fn a_hand_off_plan_reads_back_as_itself() {
    let plan = hand_off_plan();
    let yaml = render::to_yaml(&plan);
    assert!(yaml.contains(&format!(
        "  rotate_to:\n    secret_arn: {SECRET}\n    current_version: {VERSION}\n"
    )));
    assert_eq!(load::parse(&yaml).unwrap(), plan);
    // A version 4 plan states whether the audit looked for the hand-off.
    let unstated = yaml.replace("  rotation: true\n", "");
    assert!(
        load::parse(&unstated)
            .unwrap_err()
            .contains("field `policy.rotation`: missing"),
    );
}

/// Edits the plan's checks refuse: `rotate_to` in an older plan, in a plan that says it
/// was audited without `--rotation`, on any other decision, on a user with another key
/// or a key under the maximum age, or naming a secret of another account or by a
/// partial ARN. What the plan cannot show is the binding itself: like a key's facts, it
/// is checked against live AWS before any change.
#[test]
fn a_hand_off_stands_only_where_the_rule_could_plan_one() {
    let refused = |edit: &dyn Fn(&mut Plan), expected: &str| {
        let mut plan = hand_off_plan();
        edit(&mut plan);
        let problem = super::validate::validate(&plan).unwrap_err().to_string();
        assert!(problem.contains(expected), "{expected}: {problem}");
    };
    refused(
        &|plan| plan.version = 3,
        "`policy.rotation`, `rotate_to` and `secret_hands_out` came with version 4",
    );
    refused(
        &|plan| plan.policy.rotation = false,
        "in a plan audited with --rotation",
    );
    let to = || {
        Some(RotateTo {
            secret_arn: SECRET.into(),
            current_version: VERSION.into(),
        })
    };
    // kate's rule is `deactivate`; as `rotate` (an override that does less) with a
    // secret, apply would do more.
    refused(
        &|plan| user_mut(plan, "kate").rotate_to = to(),
        "field `rotate_to`: only a `rotate` user is handed off to a secret, not `deactivate`",
    );
    refused(
        &|plan| {
            let kate = user_mut(plan, "kate");
            kate.decision = Decision::Rotate;
            kate.keep = None;
            kate.deactivate.clear();
            kate.rotation_due = false;
            kate.rotate_to = to();
        },
        "field `rotate_to`: only a `rotate` of a user whose one key is Active and at least 90 days old",
    );
    refused(
        &|plan| user_mut(plan, "ivan").decision = Decision::Exempt,
        "field `rotate_to`: only a `rotate` user is handed off to a secret, not `exempt`",
    );
    refused(
        &|plan| {
            user_mut(plan, "ivan")
                .rotate_to
                .as_mut()
                .unwrap()
                .secret_arn = SECRET.replace("123456789012", "210987654321");
        },
        "field `rotate_to.secret_arn`: not the full ARN of a secret in account 123456789012",
    );
    refused(
        &|plan| {
            user_mut(plan, "ivan")
                .rotate_to
                .as_mut()
                .unwrap()
                .secret_arn = SECRET.trim_end_matches("-Ab12Cd").to_string();
        },
        "field `rotate_to.secret_arn`",
    );
    refused(
        &|plan| {
            user_mut(plan, "ivan")
                .rotate_to
                .as_mut()
                .unwrap()
                .current_version = "v1".into()
        },
        "field `rotate_to.current_version`",
    );
    // A key younger than the maximum age is not due.
    refused(
        &|plan| {
            let key = &mut user_mut(plan, "ivan").keys[0];
            key.created = now() - Duration::days(30);
            key.age_days = 30;
        },
        "field `rotate_to`: only a `rotate` of a user whose one key is Active and at least 90 days old",
    );
    // judy asked and was not bound: the plan holds no proof of a binding, so a secret
    // added to her entry passes here, as an edited `last_used` does; apply reads both
    // tags and the secret again before any change (docs/rotation.md), and `diff`
    // against the audit's plan lists the edit.
    let mut plan = hand_off_plan();
    user_mut(&mut plan, "judy").rotate_to = to();
    assert_eq!(super::validate::validate(&plan), Ok(()));
}

#[test]
fn every_renderer_says_what_the_hand_off_does() {
    let plan = hand_off_plan();
    let says = format!(
        "a new key to be written to secret {SECRET} (AWSPENDING, then AWSCURRENT in place of version {VERSION}), AKIAEXAMPLEIVAN00001 left Active until a later audit finds it idle; apply proves the secret holds the user's key, creates the new one, stages and probes it, then moves AWSCURRENT to it"
    );
    let text = render::to_text_styled(&plan, &render::Plain);
    assert!(text.contains(&format!("HAND-OFF: {says}")), "{text}");
    assert_eq!(text.matches("HAND-OFF").count(), 1, "{text}");
    // A user the exemptions file exempts is left alone whatever the plan says.
    let mut exempt = plan.clone();
    exempt
        .exempt_by_file
        .entries
        .push(("ivan".into(), "vendor".into(), None));
    let shown = render::to_text_styled(&exempt, &render::Plain);
    assert!(!shown.contains("HAND-OFF"), "{shown}");

    let markdown = render::to_markdown(&plan);
    assert!(
        markdown.contains(&format!(
            "> **Rotation hand-off:** a new key to be written to secret `{SECRET}` (AWSPENDING, then AWSCURRENT in place of version `{VERSION}`)"
        )),
        "{markdown}"
    );

    let csv = render::to_csv(std::slice::from_ref(&plan));
    let action_of = |id: &str| {
        csv.lines()
            .find(|line| line.contains(id))
            .and_then(|line| line.split(',').nth(13))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(action_of("AKIAEXAMPLEIVAN00001"), "rotate", "{csv}");
    assert_eq!(action_of("AKIAEXAMPLEJUDY00001"), "none", "{csv}");

    // SARIF: users with one active key break no rule of CIS 1.13; they are results of
    // the rotation rule, the hand-off naming its secret.
    let sarif: serde_json::Value = serde_json::from_str(&render::to_sarif(
        &plan,
        &render::to_yaml(&plan),
        "plan.yaml",
    ))
    .unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let of = |name: &str| -> Vec<&serde_json::Value> {
        results
            .iter()
            .filter(|r| r["locations"][0]["logicalLocations"][0]["name"] == name)
            .collect()
    };
    for name in ["ivan", "judy"] {
        let found = of(name);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert_eq!(found[0]["ruleIndex"], 1, "{name}");
    }
    assert_eq!(of("ivan")[0]["properties"]["rotateTo"], SECRET);
    assert!(of("judy")[0]["properties"].get("rotateTo").is_none());

    // ASFF holds CIS 1.13 findings: none for a user with one active key.
    let asff: serde_json::Value = serde_json::from_str(&render::to_asff(
        &plan,
        &render::FindingContext {
            region: "us-east-1",
            updated_at: now(),
            after_runs: &Default::default(),
        },
    ))
    .unwrap();
    let titles: Vec<&str> = asff
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["Title"].as_str().unwrap())
        .collect();
    assert!(titles.iter().any(|t| t.contains("kate")), "{titles:?}");
    assert!(
        titles
            .iter()
            .all(|t| !t.contains("ivan") && !t.contains("judy")),
        "{titles:?}"
    );
}

#[test]
fn diff_lists_a_hand_off_that_came_or_went() {
    let old = hand_off_plan();
    let mut new = hand_off_plan();
    user_mut(&mut new, "ivan").rotate_to = None;
    new.policy.rotation = false;
    let changes = diff::diff(&old, &new);
    let text = diff::to_text(&old, &new, &changes);
    assert!(
        text.contains(&format!("rotate_to {SECRET} (version {VERSION}) -> none")),
        "{text}"
    );
    assert!(text.contains("rotation"), "{text}");
    assert_eq!(
        changes.policy,
        vec![("rotation", "true".into(), "false".into())]
    );
}

/// A user with two active keys whose bound secret hands out the one the rule would
/// switch off: a hold, the key and secret recorded, standing as the rule's (no
/// reviewer override shown); a reviewer may still make it `deactivate`, marked as an
/// override of the hold. Without the record the rule's `deactivate` stands again.
#[test]
fn the_key_a_bound_secret_hands_out_is_never_planned_off() {
    let plan = hand_off_plan();
    let nora = user_of(&plan, "nora");
    assert_eq!(nora.decision, Decision::Hold, "{}", nora.reason);
    assert_eq!(nora.keep.as_deref(), Some("AKIAEXAMPLENORA00002"));
    assert_eq!(nora.deactivate, ["AKIAEXAMPLENORA00001"]);
    assert!(
        nora.reason.contains(&format!(
            "secret {NORA_SECRET}, which the user's keytrim:rotate-to tag names, hands out AKIAEXAMPLENORA00001"
        )),
        "{}",
        nora.reason
    );
    assert_eq!(
        nora.secret_hands_out,
        Some(super::model::SecretHandsOut {
            secret_arn: Some(NORA_SECRET.into()),
            access_key_id: Some("AKIAEXAMPLENORA00001".into()),
        })
    );
    assert_eq!(super::standing::override_of(&plan, nora), None);
    assert_eq!(load::parse(&render::to_yaml(&plan)).unwrap(), plan);

    let mut approved = plan.clone();
    user_mut(&mut approved, "nora").decision = Decision::Deactivate;
    assert_eq!(super::validate::validate(&approved), Ok(()));
    assert_eq!(
        super::standing::override_of(&approved, user_of(&approved, "nora")),
        Some(Decision::Hold)
    );
    for (edit, expected) in [
        (
            (|user: &mut PlanUser| {
                user.secret_hands_out.as_mut().unwrap().access_key_id =
                    Some("AKIAEXAMPLENORA00009".into());
            }) as fn(&mut PlanUser),
            "field `secret_hands_out.access_key_id`: AKIAEXAMPLENORA00009 is not one of the user's Active keys",
        ),
        (
            |user: &mut PlanUser| {
                user.secret_hands_out.as_mut().unwrap().secret_arn = Some("arn:x".into())
            },
            "field `secret_hands_out.secret_arn`",
        ),
    ] {
        let mut edited = plan.clone();
        edit(user_mut(&mut edited, "nora"));
        let problem = super::validate::validate(&edited).unwrap_err().to_string();
        assert!(problem.contains(expected), "{problem}");
    }
    let without = plan_with(false);
    let nora = user_of(&without, "nora");
    assert_eq!(
        (nora.decision, &nora.secret_hands_out),
        (Decision::Deactivate, &None)
    );
}

/// pete's secret could not be read: nothing of his is planned off, and the plan says
/// the key is unknown. olga has no fresh key: under the older reading she is `rotate`,
/// and the record lets the default reading, which a reviewer may take, hold her
/// secret's key too.
#[test]
fn a_secret_whose_key_cannot_be_told_holds_every_deactivation() {
    let plan = hand_off_plan();
    let pete = user_of(&plan, "pete");
    assert_eq!(pete.decision, Decision::Hold, "{}", pete.reason);
    assert!(
        pete.reason.contains("keytrim cannot tell which key secret"),
        "{}",
        pete.reason
    );
    assert_eq!(
        pete.secret_hands_out
            .as_ref()
            .map(|held| held.access_key_id.clone()),
        Some(None)
    );
    assert_eq!(super::standing::override_of(&plan, pete), None);
    assert_eq!(load::parse(&render::to_yaml(&plan)).unwrap(), plan);

    let strict = build(
        &inventory(),
        &PlanInputs {
            policy: Policy {
                rotation: true,
                require_fresh_key: true,
                ..Policy::default()
            },
            source: Source::Live,
            now: now(),
            exemptions: &Exemptions::default(),
            exemptions_file: None,
        },
    );
    let olga = user_of(&strict, "olga");
    assert_eq!(olga.decision, Decision::Rotate, "{}", olga.reason);
    assert!(olga.secret_hands_out.is_some());
    assert_eq!(load::parse(&render::to_yaml(&strict)).unwrap(), strict);
    // The default reading keeps the key in use (…0002) and would switch off …0001,
    // which the secret hands out: a reviewer taking it gets a hold.
    let older_reading = super::standing::rule_verdict(
        &super::standing::policy_of(&strict),
        strict.generated_at,
        olga,
    );
    assert_eq!(older_reading.decision, Decision::Rotate);
    let taken = super::standing::rule_verdict(
        &Policy {
            require_fresh_key: false,
            ..super::standing::policy_of(&strict)
        },
        strict.generated_at,
        olga,
    );
    assert_eq!(taken.decision, Decision::Hold, "{}", taken.reason);
    assert_eq!(taken.deactivate, ["AKIAEXAMPLEOLGA00001"]);
}
