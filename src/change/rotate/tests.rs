//! One user's rotation against mocked IAM, STS and Secrets Manager answers: the steps
//! journaled in order, the possession proof stopping a forged binding before any key
//! is made, and each failure cleaned up so that no key is left Active that no secret
//! holds, and a promoted key never touched.

use std::sync::{Arc, Mutex};

use aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput;
use aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput;
use aws_sdk_iam::types::StatusType;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_secretsmanager::operation::list_secret_version_ids::ListSecretVersionIdsOutput;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
use aws_sdk_secretsmanager::types::SecretVersionsListEntry;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::*;
use crate::aws::rotate::tests::{NEW_KEY, NEW_SECRET, iam_error, made};
use crate::journal::{Line, read, run_info};

const ACCOUNT: &str = "123456789012";
const USER_ARN: &str = "arn:aws:iam::123456789012:user/app";
const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/key-AbCdEf";
const PREVIOUS: &str = "11111111-2222-3333-4444-555555555555";
const THIRD: &str = "99999999-2222-3333-4444-555555555555";
const OLD_KEY: &str = "AKIAOLDKEY0000000001";
const OLD_SECRET: &str = "old/Secret+Key0000000000000000000000000";

/// The mocked services, each rule one operation; `token` is the version PutSecretValue
/// was asked to write, for the labels' answers.
struct World {
    token: Arc<Mutex<Option<String>>>,
    get: Rule,
    caller: Rule,
    create: Rule,
    put: Rule,
    stage: Vec<Rule>,
    list: Rule,
    delete: Rule,
    deactivate: Rule,
}

fn current_value(key: &str) -> String {
    format!(r#"{{"AccessKeyId":"{key}","Endpoint":"x","SecretAccessKey":"{OLD_SECRET}"}}"#)
}

fn caller(arn: &'static str) -> Rule {
    mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(move || GetCallerIdentityOutput::builder().arn(arn).build())
}

/// Labels answered by ListSecretVersionIds. Before PutSecretValue (no token seen),
/// AWSCURRENT is on the version the rotation began with; after it, on `current`
/// (`None`: the token's version), with AWSPENDING on the token's version when
/// `pending`.
fn list(token: &Arc<Mutex<Option<String>>>, current: Option<&'static str>, pending: bool) -> Rule {
    let token = Arc::clone(token);
    mock!(aws_sdk_secretsmanager::Client::list_secret_version_ids).then_output(move || {
        let staged = token.lock().unwrap().clone();
        let (current, pending) = if staged.is_some() {
            (current, pending)
        } else {
            (Some(PREVIOUS), false)
        };
        let mut output = ListSecretVersionIdsOutput::builder().versions(
            SecretVersionsListEntry::builder()
                .version_id(PREVIOUS)
                .set_version_stages((current == Some(PREVIOUS)).then(|| vec![CURRENT.into()]))
                .build(),
        );
        if let Some(third) = current.filter(|v| *v == THIRD) {
            output = output.versions(
                SecretVersionsListEntry::builder()
                    .version_id(third)
                    .version_stages(CURRENT)
                    .build(),
            );
        }
        if let Some(staged) = staged {
            let mut stages = Vec::new();
            if current.is_none() {
                stages.push(CURRENT.to_string());
            }
            if pending {
                stages.push(PENDING.to_string());
            }
            output = output.versions(
                SecretVersionsListEntry::builder()
                    .version_id(staged)
                    .set_version_stages(Some(stages))
                    .build(),
            );
        }
        output.build()
    })
}

fn world() -> World {
    let token = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&token);
    World {
        get: mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|req| {
                req.version_id() == Some(PREVIOUS) && req.version_stage() == Some(CURRENT)
            })
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .arn(ARN)
                    .version_id(PREVIOUS)
                    .secret_string(current_value(OLD_KEY))
                    .build()
            }),
        caller: caller(USER_ARN),
        create: mock!(aws_sdk_iam::Client::create_access_key).then_output(made),
        put: mock!(aws_sdk_secretsmanager::Client::put_secret_value)
            .match_requests(move |req| {
                *seen.lock().unwrap() = req.client_request_token().map(str::to_string);
                req.version_stages() == [PENDING.to_string()]
                    && req.secret_string()
                        == Some(&*format!(
                            r#"{{"AccessKeyId":"{NEW_KEY}","Endpoint":"x","SecretAccessKey":"{NEW_SECRET}"}}"#
                        ))
            })
            .then_output(|| PutSecretValueOutput::builder().build()),
        stage: vec![mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
            .then_output(|| UpdateSecretVersionStageOutput::builder().build())],
        list: list(&token, Some(PREVIOUS), false),
        delete: mock!(aws_sdk_iam::Client::delete_access_key)
            .match_requests(|req| req.access_key_id() == Some(NEW_KEY))
            .then_output(|| DeleteAccessKeyOutput::builder().build()),
        deactivate: mock!(aws_sdk_iam::Client::update_access_key)
            .match_requests(|req| {
                req.access_key_id() == Some(NEW_KEY) && req.status() == Some(&StatusType::Inactive)
            })
            .then_output(|| UpdateAccessKeyOutput::builder().build()),
        token,
    }
}

/// Run the rotation in `world`: what came of it, and the journal's (step, line) pairs
/// with the journal's text.
async fn run(world: &World) -> (HandedOff, Vec<(RotationStep, String)>, String) {
    let iam = mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&world.create, &world.delete, &world.deactivate]
    );
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&world.caller]);
    let mut secret_rules = vec![&world.get, &world.put, &world.list];
    secret_rules.extend(world.stage.iter());
    let secrets = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, secret_rules);
    let clients = Clients::with_all_mocks(iam, sts, secrets);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apply.journal.jsonl");
    let journal = Journal::create(&path, ACCOUNT, run_info()).unwrap();
    let job = HandOff {
        account_id: ACCOUNT,
        user_name: "app",
        user_arn: USER_ARN,
        secret_arn: ARN,
        current_version: PREVIOUS,
        old_key: OLD_KEY,
    };
    let handed = hand_off(&clients, &journal, job, ProbeSchedule::default()).await;
    let lines = read(&path)
        .unwrap()
        .iter()
        .filter_map(|entry| match entry.typed() {
            Line::Rotation { rotation, what, .. } => {
                let what = match what {
                    RotationLine::Intent => "intent",
                    RotationLine::Done => "done",
                    RotationLine::Refused { .. } => "refused",
                    RotationLine::Unknown { .. } => "unknown",
                };
                Some((rotation.step, what.to_string()))
            }
            _ => None,
        })
        .collect();
    (handed, lines, std::fs::read_to_string(&path).unwrap())
}

fn steps(pairs: &[(RotationStep, &str)]) -> Vec<(RotationStep, String)> {
    pairs
        .iter()
        .map(|(step, what)| (*step, (*what).to_string()))
        .collect()
}

use RotationStep::{
    Begin, CreateAccessKey, DeactivateAccessKey, DeleteAccessKey, Probe, Promote, Prove,
    PutSecretValue, RemovePending,
};

fn up_to_probe() -> Vec<(RotationStep, &'static str)> {
    vec![
        (Begin, "intent"),
        (Prove, "intent"),
        (Prove, "done"),
        (CreateAccessKey, "intent"),
        (CreateAccessKey, "done"),
        (PutSecretValue, "intent"),
        (PutSecretValue, "done"),
        (Probe, "intent"),
    ]
}

#[tokio::test(start_paused = true)]
async fn a_bound_user_is_handed_a_new_key_every_step_journaled() {
    let world = world();
    let (handed, lines, text) = run(&world).await;
    assert_eq!(
        handed,
        HandedOff::Promoted {
            new_key: NEW_KEY.into()
        }
    );
    let mut expected = up_to_probe();
    expected.extend([(Probe, "done"), (Promote, "intent"), (Promote, "done")]);
    assert_eq!(lines, steps(&expected));
    // The proof, then three probes in a row.
    assert_eq!(world.caller.num_calls(), 4);
    assert_eq!(world.put.num_calls(), 1, "the new value, other fields kept");
    assert_eq!(world.delete.num_calls() + world.deactivate.num_calls(), 0);
    for secret in [NEW_SECRET, OLD_SECRET] {
        assert!(!text.contains(secret), "a secret in the journal: {text}");
    }
    assert!(text.contains(NEW_KEY));
}

/// A forged binding (the secret holds the user's key id but not its secret, or
/// another key) stops the rotation before any key is made.
#[tokio::test(start_paused = true)]
async fn the_possession_proof_stops_a_forged_binding_before_any_key_is_made() {
    let mut world = world();
    world.caller = caller("arn:aws:iam::123456789012:user/attacker");
    let (handed, lines, _) = run(&world).await;
    assert!(
        matches!(&handed, HandedOff::NotStarted { why } if why.contains("signs in as arn:aws:iam::123456789012:user/attacker")),
        "{handed:?}"
    );
    assert_eq!(
        lines,
        steps(&[(Begin, "intent"), (Prove, "intent"), (Prove, "refused")])
    );
    assert_eq!(world.create.num_calls(), 0);

    let mut world = self::world();
    world.get = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
        GetSecretValueOutput::builder()
            .arn(ARN)
            .version_id(PREVIOUS)
            .secret_string(current_value("AKIAOTHERKEY00000001"))
            .build()
    });
    let (handed, _, _) = run(&world).await;
    assert!(
        matches!(&handed, HandedOff::NotStarted { why } if why.contains("not the user's key")),
        "{handed:?}"
    );
    assert_eq!(world.create.num_calls(), 0);
}

/// PutSecretValue refused: no version ever held the new key, which this run made, so
/// it is deleted.
#[tokio::test(start_paused = true)]
async fn a_refused_put_secret_value_deletes_the_key_no_one_holds() {
    let mut world = world();
    let seen = Arc::clone(&world.token);
    world.put = mock!(aws_sdk_secretsmanager::Client::put_secret_value)
        .match_requests(move |req| {
            *seen.lock().unwrap() = req.client_request_token().map(str::to_string);
            true
        })
        .sequence()
        .http_status(400, None)
        .build();
    // No version holds the token: the refused call wrote nothing.
    world.list = list(&Arc::new(Mutex::new(None)), Some(PREVIOUS), false);
    let (handed, lines, _) = run(&world).await;
    assert!(
        matches!(
            &handed,
            HandedOff::Undone {
                end: NewKeyEnd::Delete,
                ..
            }
        ),
        "{handed:?}"
    );
    let mut expected = up_to_probe();
    expected.truncate(6);
    expected.extend([
        (PutSecretValue, "refused"),
        (DeleteAccessKey, "intent"),
        (DeleteAccessKey, "done"),
    ]);
    assert_eq!(lines, steps(&expected));
    assert_eq!(world.delete.num_calls(), 1);
    assert_eq!(world.deactivate.num_calls(), 0);
}

/// The new key never signs in: AWSPENDING comes off its version, and the key (which
/// a version held) is switched off, not deleted.
#[tokio::test(start_paused = true)]
async fn a_new_key_that_never_works_is_unstaged_and_switched_off() {
    let mut world = world();
    world.caller = mock!(aws_sdk_sts::Client::get_caller_identity)
        .sequence()
        .output(|| GetCallerIdentityOutput::builder().arn(USER_ARN).build())
        .http_status(403, None)
        .repeatedly()
        .build();
    world.list = list(&world.token, Some(PREVIOUS), true);
    let token = Arc::clone(&world.token);
    world.stage = vec![
        mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
            .match_requests(move |req| {
                req.version_stage() == Some(PENDING)
                    && req.move_to_version_id().is_none()
                    && req.remove_from_version_id() == token.lock().unwrap().as_deref()
            })
            .then_output(|| UpdateSecretVersionStageOutput::builder().build()),
    ];
    let (handed, lines, _) = run(&world).await;
    assert!(
        matches!(
            &handed,
            HandedOff::Undone { end: NewKeyEnd::Deactivate, why, .. } if why.contains("did not sign in")
        ),
        "{handed:?}"
    );
    let mut expected = up_to_probe();
    expected.extend([
        (Probe, "refused"),
        (RemovePending, "intent"),
        (RemovePending, "done"),
        (DeactivateAccessKey, "intent"),
        (DeactivateAccessKey, "done"),
    ]);
    assert_eq!(lines, steps(&expected));
    assert_eq!(world.stage[0].num_calls(), 1);
    assert_eq!(world.deactivate.num_calls(), 1);
    assert_eq!(world.delete.num_calls(), 0);
}

/// The compare-and-swap refused because someone changed the secret: nothing is
/// undone, both keys stay Active, and a person is told.
#[tokio::test(start_paused = true)]
async fn a_secret_changed_meanwhile_is_left_to_a_person() {
    let mut world = world();
    world.stage = vec![
        mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
            .sequence()
            .http_status(400, None)
            .build(),
    ];
    world.list = list(&world.token, Some(THIRD), true);
    let (handed, lines, _) = run(&world).await;
    assert!(
        matches!(&handed, HandedOff::ForAPerson { new_key: Some(key), why } if key == NEW_KEY && why.contains("someone changed the secret")),
        "{handed:?}"
    );
    assert_eq!(lines.last(), Some(&(Promote, "refused".to_string())));
    assert_eq!(world.delete.num_calls() + world.deactivate.num_calls(), 0);
}

/// UpdateSecretVersionStage answered by server errors only.
fn unanswered_promotion() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build()
}

/// The promotion's answer lost, and the labels show it landed: promoted, and the new
/// key, which AWSCURRENT may hand out, is never touched.
#[tokio::test(start_paused = true)]
async fn a_promotion_whose_answer_was_lost_is_read_back() {
    let mut world = world();
    world.stage = vec![unanswered_promotion()];
    world.list = list(&world.token, None, true);
    let (handed, lines, _) = run(&world).await;
    assert_eq!(
        handed,
        HandedOff::Promoted {
            new_key: NEW_KEY.into()
        }
    );
    assert_eq!(
        lines[lines.len() - 2..],
        steps(&[(Promote, "unknown"), (Promote, "done")])[..]
    );
    assert_eq!(world.delete.num_calls() + world.deactivate.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn create_access_key_refused_or_unclear_changes_nothing_else() {
    let mut world = world();
    world.create = mock!(aws_sdk_iam::Client::create_access_key)
        .sequence()
        .http_status(409, Some(iam_error("LimitExceeded")))
        .build();
    let (handed, lines, _) = run(&world).await;
    assert!(matches!(handed, HandedOff::NotStarted { .. }), "{handed:?}");
    assert_eq!(
        lines.last(),
        Some(&(CreateAccessKey, "refused".to_string()))
    );
    assert_eq!(world.put.num_calls(), 0);

    let mut world = self::world();
    world.create = mock!(aws_sdk_iam::Client::create_access_key)
        .sequence()
        .http_status(500, None)
        .build();
    let (handed, lines, _) = run(&world).await;
    assert!(
        matches!(&handed, HandedOff::ForAPerson { new_key: None, why } if why.contains("CloudTrail")),
        "{handed:?}"
    );
    assert_eq!(
        lines.last(),
        Some(&(CreateAccessKey, "unknown".to_string()))
    );
    assert_eq!(world.create.num_calls(), 1);
    assert_eq!(world.put.num_calls() + world.delete.num_calls(), 0);
}

/// The promotion got no clear answer and the labels read back show it has not landed:
/// it may land yet, so the new key is never ended; a person decides.
#[tokio::test(start_paused = true)]
async fn an_unclear_promotion_not_seen_landing_ends_no_key() {
    let mut world = world();
    world.stage = vec![unanswered_promotion()];
    world.list = list(&world.token, Some(PREVIOUS), true);
    let (handed, lines, _) = run(&world).await;
    assert!(
        matches!(&handed, HandedOff::ForAPerson { new_key: Some(key), why } if key == NEW_KEY && why.contains("may still land")),
        "{handed:?}"
    );
    assert_eq!(lines.last(), Some(&(Promote, "unknown".to_string())));
    assert_eq!(world.delete.num_calls() + world.deactivate.num_calls(), 0);
}

/// Another rotation began after the proof (AWSPENDING on another version): nothing is
/// staged, and the new key, which no version held, is deleted.
#[tokio::test(start_paused = true)]
async fn a_rotation_begun_meanwhile_stops_before_staging() {
    let mut world = world();
    // The other rotation's staged value, which the clean-up reads to be sure it does
    // not hand out the key it ends.
    world.stage.push(
        mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|req| req.version_id() == Some(THIRD))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .arn(ARN)
                    .version_id(THIRD)
                    .secret_string(current_value("AKIAOTHERKEY00000001"))
                    .build()
            }),
    );
    world.list = mock!(aws_sdk_secretsmanager::Client::list_secret_version_ids).then_output(|| {
        ListSecretVersionIdsOutput::builder()
            .versions(
                SecretVersionsListEntry::builder()
                    .version_id(PREVIOUS)
                    .version_stages(CURRENT)
                    .build(),
            )
            .versions(
                SecretVersionsListEntry::builder()
                    .version_id(THIRD)
                    .version_stages(PENDING)
                    .build(),
            )
            .build()
    });
    let (handed, lines, _) = run(&world).await;
    assert!(
        matches!(&handed, HandedOff::Undone { end: NewKeyEnd::Delete, why, .. } if why.contains("another rotation")),
        "{handed:?}"
    );
    assert_eq!(world.put.num_calls(), 0);
    assert_eq!(world.delete.num_calls(), 1);
    assert!(!lines.contains(&(PutSecretValue, "intent".to_string())));
}
