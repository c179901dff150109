//! Plain data read from IAM: users, their access keys and when each key was last used.
//!
//! These types carry no I/O. The audit's collection (`audit::collect`) fills them, the rule
//! judges them and the plan records them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Whether IAM accepts requests signed with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    /// The name IAM uses for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// When and where a key was last used, as GetAccessKeyLastUsed reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastUse {
    /// None when IAM has no record of use.
    pub at: Option<DateTime<Utc>>,
    pub service: Option<String>,
    pub region: Option<String>,
}

/// One access key of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub access_key_id: String,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    /// None when last use was not looked up (users with at most one active key).
    pub last_use: Option<LastUse>,
    /// The key's description: the value of the user's tag whose key is the access key
    /// id, which is where the IAM console stores it. None when there is none.
    pub description: Option<String>,
}

impl KeyFacts {
    /// True when the key is Active.
    pub(crate) fn is_active(&self) -> bool {
        self.status == KeyStatus::Active
    }

    /// When the key was last used, if IAM knows.
    pub(crate) fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_use.as_ref().and_then(|use_| use_.at)
    }
}

/// One IAM user and everything the rule needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub user_name: String,
    pub user_arn: String,
    pub keys: Vec<KeyFacts>,
    /// Value of the `keytrim:exempt` tag, when the user carries it.
    pub exempt_tag: Option<String>,
    /// Date of the `keytrim:exempt-until` tag: the last day the exemption applies.
    pub exempt_until: Option<NaiveDate>,
    /// What IAM refused to show about the user (its keys, a key's last use, its tags),
    /// as the error it answered: the user cannot be judged.
    pub unreadable: Option<String>,
    /// `audit --rotation` only: what the user's `keytrim:rotate-to` tag led to, for a
    /// user that carries it.
    pub rotation: Option<RotationBinding>,
}

/// Whether a user that asked for the rotation hand-off (its `keytrim:rotate-to` tag) is
/// bound to a secret both ways, one that can take a new key (docs/rotation.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationBinding {
    /// Bound both ways: the secret's full ARN, and the version holding AWSCURRENT,
    /// which names the user's key.
    Bound {
        secret_arn: String,
        current_version: String,
    },
    /// A user with two active keys that asks for the hand-off: there is no room for a
    /// new key (`why`), but applications may read one of the keys from the secret its
    /// tag names, so keytrim never plans that key off. `secret_arn` is that secret
    /// when the tag names one of this account by its full ARN; `current_key` is the
    /// key AWSCURRENT holds when the secret names the user back and holds one of the
    /// user's active keys; None when keytrim cannot tell (then no key of the user is
    /// planned off).
    Crowded {
        secret_arn: Option<String>,
        current_key: Option<String>,
        why: String,
    },
    /// A finding, never a rotation: why not.
    NotBound { why: String },
}

impl RotationBinding {
    /// Why there is no hand-off, when there is none.
    pub fn why_not(&self) -> Option<&str> {
        match self {
            RotationBinding::Bound { .. } => None,
            RotationBinding::Crowded { why, .. } | RotationBinding::NotBound { why } => Some(why),
        }
    }
}

/// Who made the calls, in which account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    pub arn: String,
}

impl Caller {
    /// The partition named in the caller's ARN (`aws`, `aws-cn`, `aws-us-gov`, ...).
    pub fn partition(&self) -> &str {
        self.arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }
}

/// The outcome of an inventory: how many users were looked at, and the full facts of
/// those that need a decision (two or more active keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub caller: Caller,
    pub users_scanned: usize,
    /// The name of every user scanned (for exemption entries that match none).
    pub scanned_names: Vec<String>,
    pub candidates: Vec<UserFacts>,
}

/// The tag that exempts a user; its value is the reason.
pub(crate) const EXEMPT_TAG: &str = "keytrim:exempt";
/// The tag that limits a user's exemption: its value is the last day it applies.
pub(crate) const EXEMPT_UNTIL_TAG: &str = "keytrim:exempt-until";

/// The exemption a user's tags grant, if any: the `keytrim:exempt` tag's reason (with
/// its last day when `keytrim:exempt-until` is set too), or, for the until tag alone,
/// a reason saying so. Whether it is still in force on a day is `last_day >= day`.
/// The one rule for the audit (`plan::model`) and apply's drift check (`iam`).
pub(crate) fn tag_exemption(
    reason: Option<&str>,
    until: Option<chrono::NaiveDate>,
) -> Option<(String, Option<chrono::NaiveDate>)> {
    match (reason, until) {
        (Some(reason), until) => Some((reason.to_string(), until)),
        (None, Some(until)) => Some((
            format!("until {until} (tag {EXEMPT_UNTIL_TAG})"),
            Some(until),
        )),
        (None, None) => None,
    }
}

/// An exemption's last day, written `YYYY-MM-DD`; None for anything else.
pub(crate) fn parse_exemption_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    // Exactly ten characters: chrono would also take `2027-1-5`.
    (text.len() == 10)
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

/// True when the keys break CIS 1.13 (two or more Active keys), the only users that
/// need last-use and tag look-ups.
pub(crate) fn has_multiple_active_keys(keys: &[KeyFacts]) -> bool {
    keys.iter().filter(|key| key.is_active()).count() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemption_dates_are_yyyy_mm_dd() {
        assert_eq!(
            parse_exemption_date(" 2027-01-31 "),
            NaiveDate::from_ymd_opt(2027, 1, 31)
        );
        for bad in ["2027-1-31", "31/01/2027", "2027-02-30", "soon", ""] {
            assert_eq!(parse_exemption_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn partition_comes_from_the_arn() {
        let caller = Caller {
            account_id: "123456789012".into(),
            arn: "arn:aws-cn:iam::123456789012:user/alice".into(),
        };
        assert_eq!(caller.partition(), "aws-cn");
    }
}
