//! Tests of the secret values apply handles: the key pair read, and the new value with
//! every other field kept as written.

use super::*;

const OLD_ID: &str = "AKIAOLDKEY0000000001";
const OLD_SECRET: &str = "old/Secret+Key0000000000000000000000000";
const NEW_ID: &str = "AKIANEWKEY0000000001";
const NEW_SECRET: &str = "new/Secret+Key1111111111111111111111111";

fn new_pair() -> KeyPair {
    KeyPair {
        access_key_id: NEW_ID.into(),
        secret_access_key: Zeroizing::new(NEW_SECRET.into()),
    }
}

#[test]
fn the_key_pair_is_read_with_escapes() {
    let text = format!(
        r#"{{"Region":"eu-west-1","AccessKeyId":"{OLD_ID}","SecretAccessKey":"old\/Secret+Key0000000000000000000000000"}}"#
    );
    let pair = key_pair(&text).unwrap();
    assert_eq!(pair.access_key_id, OLD_ID);
    assert_eq!(pair.secret_access_key.as_str(), OLD_SECRET);
    assert!(!format!("{pair:?}").contains(OLD_SECRET));
}

/// Every other field stays exactly as written: order, spacing inside values, numbers
/// a float would round, nested objects; only the two key fields change.
#[test]
fn the_new_value_keeps_every_other_field_as_written() {
    let current = format!(
        r#"{{"user": "app", "AccessKeyId": "{OLD_ID}", "big": 12345678901234567890123, "f": 1.10, "nested": {{"a": [1, "x"]}}, "SecretAccessKey": "{OLD_SECRET}", "caf\u00e9": null}}"#
    );
    let new = with_key(&current, &new_pair()).unwrap();
    assert_eq!(
        new.as_str(),
        format!(
            r#"{{"user":"app","AccessKeyId":"{NEW_ID}","big":12345678901234567890123,"f":1.10,"nested":{{"a": [1, "x"]}},"SecretAccessKey":"{NEW_SECRET}","café":null}}"#
        )
    );
    assert!(!new.contains(OLD_SECRET));
    let pair = key_pair(&new).unwrap();
    assert_eq!(pair.access_key_id, NEW_ID);
    assert_eq!(pair.secret_access_key.as_str(), NEW_SECRET);
}

#[test]
fn values_keytrim_cannot_hand_a_key_off_into_are_refused_without_quoting_them() {
    for text in [
        "not json".to_string(),
        "[1]".to_string(),
        format!(r#"{{"AccessKeyId":"{OLD_ID}"}}"#),
        format!(r#"{{"AccessKeyId":"{OLD_ID}","SecretAccessKey":7}}"#),
        format!(
            r#"{{"AccessKeyId":"{OLD_ID}","SecretAccessKey":"{OLD_SECRET}","SecretAccessKey":"{OLD_SECRET}"}}"#
        ),
        // Go reads names ignoring case: which of the two it uses is not keytrim's to say.
        format!(
            r#"{{"AccessKeyId":"{OLD_ID}","SecretAccessKey":"{OLD_SECRET}","accessKeyId":"{OLD_ID}"}}"#
        ),
    ] {
        assert!(with_key(&text, &new_pair()).is_err(), "{text}");
        assert!(key_pair(&text).is_err(), "{text}");
    }
    let current = format!(r#"{{"AccessKeyId":"{OLD_ID}","SecretAccessKey":"{OLD_SECRET}"}}"#);
    let odd = KeyPair {
        access_key_id: NEW_ID.into(),
        secret_access_key: Zeroizing::new("a\"b".into()),
    };
    assert!(with_key(&current, &odd).is_err());
}

/// The value keytrim stages differs from AWSCURRENT's only in the two key fields; any
/// other difference says someone else wrote it.
#[test]
fn a_staged_value_is_told_from_one_someone_else_wrote() {
    let current =
        format!(r#"{{"AccessKeyId":"{OLD_ID}","Endpoint":"x","SecretAccessKey":"{OLD_SECRET}"}}"#);
    let staged = with_key(&current, &new_pair()).unwrap();
    assert!(only_the_key_differs(&current, &staged));
    let other =
        format!(r#"{{"AccessKeyId":"{NEW_ID}","Endpoint":"y","SecretAccessKey":"{NEW_SECRET}"}}"#);
    assert!(!only_the_key_differs(&current, &other));
    let more = format!(
        r#"{{"AccessKeyId":"{NEW_ID}","Endpoint":"x","SecretAccessKey":"{NEW_SECRET}","Extra":1}}"#
    );
    assert!(!only_the_key_differs(&current, &more));
    assert!(!only_the_key_differs(&current, "not json"));
}
