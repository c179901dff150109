//! Tests of the binding rule: each way a user and a secret can fail to name each other,
//! each secret that cannot take a new key, and that nothing secret is kept.

use chrono::{Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::facts::{KeyStatus, LastUse, RotationBinding};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const USER_ARN: &str = "arn:aws:iam::123456789012:user/app/billing";
const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/billing-a1B2c3";
const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const VERSION: &str = "a1b2c3d4-1111-2222-3333-444455556666";

fn key(id: &str, status: KeyStatus, service: Option<&str>) -> KeyFacts {
    KeyFacts {
        access_key_id: id.to_string(),
        status,
        created: Utc::now() - Duration::days(200),
        last_use: Some(LastUse {
            at: Some(Utc::now() - Duration::days(1)),
            service: service.map(str::to_string),
            region: Some(REGION.to_string()),
        }),
        description: None,
    }
}

fn candidate<'a>(user_name: &'a str, keys: &'a [KeyFacts]) -> Candidate<'a> {
    Candidate {
        user_name,
        user_arn: USER_ARN,
        keys,
        account_id: ACCOUNT,
        region: REGION,
    }
}

fn tag() -> String {
    format!("secretsmanager:{SECRET_ARN}")
}

/// A secret bound to the user and able to take a new key.
fn bound_secret() -> SecretFacts {
    SecretFacts {
        arn: SECRET_ARN.to_string(),
        rotates: Some(USER_ARN.to_string()),
        rotation_enabled: false,
        primary_region: None,
        deleted: false,
        owning_service: None,
        external: None,
        current_version: Some(VERSION.to_string()),
        pending_version: None,
        current_value: Some(CurrentValue::AccessKey {
            access_key_id: KEY.to_string(),
        }),
    }
}

fn why(binding: RotationBinding) -> String {
    match binding {
        RotationBinding::NotBound { why } => why,
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_a_full_secret_arn_names_a_secret() {
    let parsed = SecretArn::parse(SECRET_ARN).expect("a full ARN");
    assert_eq!(
        (
            parsed.partition.as_str(),
            parsed.region.as_str(),
            parsed.account_id.as_str()
        ),
        ("aws", REGION, ACCOUNT)
    );
    for not_one in [
        // Partial: without the six characters Secrets Manager appends.
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/billing",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:-a1B2c3",
        "arn:aws:ssm:us-east-1:123456789012:secret:app/billing-a1B2c3",
        "arn:aws:secretsmanager:us-east-1:12345678901:secret:app/billing-a1B2c3",
        "arn:aws:secretsmanager::123456789012:secret:app/billing-a1B2c3",
        "arn:aws:secretsmanager:us-east-1:123456789012:parameter:app/billing-a1B2c3",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:app billing-a1B2c3",
        "app/billing",
        "",
    ] {
        assert_eq!(SecretArn::parse(not_one), None, "{not_one}");
    }
}

/// The value's shape is read and the secret access key dropped: no `why` quotes it.
#[test]
fn a_current_value_is_kept_as_its_shape_and_key_id_only() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let value =
        format!(r#"{{"AccessKeyId":"{KEY}","SecretAccessKey":"{secret}","Region":"eu-west-1"}}"#);
    assert_eq!(
        CurrentValue::of(&value),
        CurrentValue::AccessKey {
            access_key_id: KEY.to_string()
        }
    );
    // Escapes in the secret, other fields of any kind: still its key id alone.
    let escaped = format!(
        r#"{{"Port":5432,"Nested":{{"a":[1,2]}},"AccessKeyId":"{KEY}","SecretAccessKey":"a\/b\u0041{secret}"}}"#
    );
    assert_eq!(
        CurrentValue::of(&escaped),
        CurrentValue::AccessKey {
            access_key_id: KEY.to_string()
        }
    );
    for (text, expected) in [
        (secret.to_string(), "not a JSON object"),
        (
            format!(r#""{{\"AccessKeyId\":\"{KEY}\"}}""#),
            "not a JSON object",
        ),
        (
            format!(r#"{{"AccessKeyId":"{KEY}","SecretAccessKey":"{secret}""#),
            "not a JSON object",
        ),
        // Given twice: parsers disagree on which one counts.
        (
            format!(
                r#"{{"AccessKeyId":"{KEY}","AccessKeyId":"AKIAOTHEROTHEROTHER1","SecretAccessKey":"{secret}"}}"#
            ),
            "holds one twice",
        ),
        (format!(r#"["{KEY}","{secret}"]"#), "not a JSON object"),
        // A name differing only in case: Go's encoding/json could read either.
        (
            format!(
                r#"{{"AccessKeyId":"{KEY}","accessKeyId":"AKIAOTHEROTHEROTHER1","SecretAccessKey":"{secret}"}}"#
            ),
            "holds one twice",
        ),
        (format!(r#"{{"AccessKeyId":"{KEY}"}}"#), "lacks"),
        (
            format!(r#"{{"AccessKeyId":"{KEY}","SecretAccessKey":42}}"#),
            "lacks",
        ),
        (
            format!(r#"{{"AccessKeyId":"{secret}","SecretAccessKey":"{secret}"}}"#),
            "not an access key id",
        ),
    ] {
        let read = CurrentValue::of(&text);
        assert!(
            matches!(&read, CurrentValue::NotAnAccessKey { why } if why.contains(expected)),
            "{text}: {read:?}"
        );
        assert!(!format!("{read:?}").contains(secret), "{read:?}");
    }
}

#[test]
fn the_tag_must_name_a_secret_in_this_account_partition_and_region() {
    let keys = [key(KEY, KeyStatus::Active, Some("s3"))];
    let user = candidate("billing", &keys);
    assert_eq!(
        secret_named(&user, &tag()).map(|s| s.arn),
        Ok(SECRET_ARN.to_string())
    );
    let refused = |value: String, expected: &str| {
        let why = secret_named(&user, &value).expect_err(&value);
        assert!(why.contains(expected), "{value}: {why}");
    };
    refused(SECRET_ARN.to_string(), "does not start with");
    refused("secretsmanager:app/billing".to_string(), "full ARN");
    refused(
        tag().replace("123456789012", "210987654321"),
        "in account 210987654321",
    );
    refused(tag().replace("us-east-1", "eu-west-1"), "in eu-west-1");
    refused(tag().replace(":aws:", ":aws-cn:"), "partition aws-cn");
}

#[test]
fn only_a_user_with_one_active_key_and_no_ses_password_has_room() {
    let named = |user_name: &str, keys: &[KeyFacts]| {
        let user = candidate(user_name, keys);
        secret_named(&user, &tag()).and_then(|_| room_for_a_new_key(&user))
    };
    let two = [
        key(KEY, KeyStatus::Active, None),
        key("AKIAIOSFODNN7EXAMPL2", KeyStatus::Inactive, None),
    ];
    assert!(
        named("billing", &two)
            .unwrap_err()
            .contains("2 access keys")
    );
    let inactive = [key(KEY, KeyStatus::Inactive, None)];
    assert!(
        named("billing", &inactive)
            .unwrap_err()
            .contains("Inactive")
    );
    let plain = [key(KEY, KeyStatus::Active, None)];
    assert!(
        named("ses-smtp-user.20260101", &plain)
            .unwrap_err()
            .contains("SES SMTP user")
    );
    let mail = [key(KEY, KeyStatus::Active, Some("ses"))];
    assert!(named("billing", &mail).unwrap_err().contains("SES"));
    assert!(named("billing", &[]).unwrap_err().contains("0 access keys"));
}

#[test]
fn bound_both_ways_is_a_rotation_and_every_other_secret_a_finding() {
    let keys = [key(KEY, KeyStatus::Active, Some("s3"))];
    let user = candidate("billing", &keys);
    let named = secret_named(&user, &tag()).unwrap();
    assert_eq!(
        check(&user, &named, &bound_secret()),
        RotationBinding::Bound {
            secret_arn: SECRET_ARN.to_string(),
            current_version: bound_secret().current_version.unwrap(),
        }
    );
    let refused = |change: fn(&mut SecretFacts), expected: &str| {
        let mut secret = bound_secret();
        change(&mut secret);
        let why = why(check(&user, &named, &secret));
        assert!(why.contains(expected), "{why}");
    };
    refused(|s| s.rotates = None, "does not carry keytrim:rotates");
    refused(
        |s| s.rotates = Some("arn:aws:iam::123456789012:user/app/other".into()),
        "names another user",
    );
    // A case that differs is another user to keytrim: tags are compared exactly.
    refused(
        |s| s.rotates = Some(USER_ARN.to_uppercase()),
        "names another user",
    );
    refused(|s| s.primary_region = Some("eu-west-1".into()), "replica");
    refused(|s| s.rotation_enabled = true, "rotation enabled");
    refused(|s| s.deleted = true, "scheduled for deletion");
    refused(|s| s.owning_service = Some("rds".into()), "managed by rds");
    refused(|s| s.external = Some("partner".into()), "external secret");
    refused(
        |s| s.pending_version = Some("v2".into()),
        "another rotation is in flight",
    );
}

#[test]
fn a_secret_whose_current_value_keytrim_cannot_vouch_for_is_a_finding() {
    let keys = [key(KEY, KeyStatus::Active, Some("s3"))];
    let user = candidate("billing", &keys);
    let named = secret_named(&user, &tag()).unwrap();
    let refused = |change: fn(&mut SecretFacts), expected: &str| {
        let mut secret = bound_secret();
        change(&mut secret);
        let why = why(check(&user, &named, &secret));
        assert!(why.contains(expected), "{why}");
    };
    refused(
        |s| {
            s.current_version = None;
            s.current_value = None;
        },
        "no AWSCURRENT",
    );
    // A version id a plan cannot record (Secrets Manager takes any client request
    // token of 32 to 64 characters) binds nothing.
    refused(
        |s| {
            s.current_version = Some(format!("{}_", &VERSION[1..]));
            s.pending_version = None;
        },
        "version id is not a UUID-like id",
    );
    // A value that was not read vouches for nothing.
    refused(|s| s.current_value = None, "was not read");
    refused(
        |s| {
            s.current_value = Some(CurrentValue::NotAnAccessKey {
                why: "its value is not a JSON object",
            });
        },
        "not a JSON object",
    );
    refused(
        |s| {
            s.current_value = Some(CurrentValue::AccessKey {
                access_key_id: "AKIAOTHEROTHEROTHER1".into(),
            });
        },
        "holds AKIAOTHEROTHEROTHER1",
    );
    refused(
        |s| s.arn = SECRET_ARN.replace("a1B2c3", "z9Y8x7"),
        "not the one the tag names",
    );
    // A primary names its own region as the primary's.
    let mut primary = bound_secret();
    primary.primary_region = Some(REGION.to_string());
    assert!(matches!(
        check(&user, &named, &primary),
        RotationBinding::Bound { .. }
    ));
    // AWSPENDING left on AWSCURRENT's own version (a finished rotation) is no rotation
    // in flight.
    let mut finished = bound_secret();
    finished.pending_version = finished.current_version.clone();
    assert!(matches!(
        check(&user, &named, &finished),
        RotationBinding::Bound { .. }
    ));
}

proptest! {
    #![proptest_config(crate::proptest_config(256))]

    /// Whatever the secret's tag says, it binds only when it is the user's ARN exactly.
    #[test]
    fn a_secret_binds_only_when_its_tag_is_the_users_arn(rotates in proptest::option::of(".{0,80}")) {
        let keys = [key(KEY, KeyStatus::Active, None)];
        let user = candidate("billing", &keys);
        let named = secret_named(&user, &tag()).unwrap();
        let mut secret = bound_secret();
        secret.rotates = rotates.clone();
        let bound = matches!(check(&user, &named, &secret), RotationBinding::Bound { .. });
        prop_assert_eq!(bound, rotates.as_deref() == Some(USER_ARN));
    }
}

#[test]
fn a_user_with_two_keys_has_no_room_and_learns_which_one_the_secret_hands_out() {
    let keys = [key(KEY, KeyStatus::Active, Some("s3"))];
    let named = secret_named(&candidate("billing", &keys), &tag()).unwrap();
    // The user is checked again, whoever named the secret: one with a second key has
    // no room, whatever the secret says; with two active keys, the one the secret
    // hands out is known, and only when the secret names the user back.
    let two = [
        key("AKIAIOSFODNN7EXAMPL2", KeyStatus::Active, None),
        key(KEY, KeyStatus::Active, None),
    ];
    let crowded = candidate("billing", &two);
    assert_eq!(
        check(&crowded, &named, &bound_secret()),
        RotationBinding::Crowded {
            secret_arn: Some(SECRET_ARN.to_string()),
            current_key: Some(KEY.to_string()),
            why: "it has 2 access keys: IAM allows two, so a new key needs the other deleted first"
                .to_string(),
        }
    );
    // A secret that does not name the user back, or whose AWSCURRENT is not an
    // access key, cannot tell which key it hands out: unknown, and nothing is planned
    // off.
    let unknown = |secret: &SecretFacts, because: &str| match check(&crowded, &named, secret) {
        RotationBinding::Crowded {
            current_key: None,
            why,
            ..
        } => assert!(why.contains(because), "{why}"),
        other => panic!("{other:?}"),
    };
    let mut elsewhere = bound_secret();
    elsewhere.rotates = Some("arn:aws:iam::123456789012:user/app/other".into());
    unknown(&elsewhere, "does not carry keytrim:rotates naming the user");
    let mut shapeless = bound_secret();
    shapeless.current_value = Some(CurrentValue::NotAnAccessKey {
        why: "its value is not a JSON object",
    });
    unknown(&shapeless, "not a JSON object");
    let mut current_less = bound_secret();
    current_less.current_version = None;
    current_less.current_value = None;
    unknown(&current_less, "no AWSCURRENT");
    // A key none of the user's: the secret is stale or another's; which of the
    // user's keys an application reads is unknown too.
    let mut other_key = bound_secret();
    other_key.current_value = Some(CurrentValue::AccessKey {
        access_key_id: "AKIAOTHEROTHEROTHER1".into(),
    });
    unknown(
        &other_key,
        "holds AKIAOTHEROTHEROTHER1, none of the user's active keys",
    );
    let one_active = [
        key(KEY, KeyStatus::Active, None),
        key("AKIAIOSFODNN7EXAMPL2", KeyStatus::Inactive, None),
    ];
    assert!(
        why(check(
            &candidate("billing", &one_active),
            &named,
            &bound_secret()
        ))
        .contains("2 access keys")
    );
}
