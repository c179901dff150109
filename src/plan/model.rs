//! The plan file's data model (schema version 4) and how a plan is built from an
//! inventory and the rule's verdicts.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::exemptions::Exemptions;
use crate::facts::{EXEMPT_TAG, Inventory, KeyStatus, UserFacts};
use crate::rule::{self, Decision, Exemption, Policy};

mod hand_off;

/// The schema version this keytrim writes. Version 2 added the `unreadable` decision,
/// the user's `error` and the summary's `unreadable` count. Version 3 added the
/// policy's `require_fresh_key` and `unused_days` (a user with no fresh key keeps the
/// key in use and loses idle ones), the user's `rotation_due` and the summary's
/// `rotation_due` count. Version 4 added the policy's `rotation` (`audit --rotation`)
/// and the user's `rotate_to` (the rotation hand-off) and `secret_hands_out`.
pub const PLAN_VERSION: u32 = 4;
/// The schema versions this keytrim reads: a version 1 plan is a version 2 plan
/// without unreadable users, and both were written under `require_fresh_key: true`.
pub(crate) const READABLE_PLAN_VERSIONS: [u32; 4] = [1, 2, 3, 4];
/// The value of `kind` in every plan.
pub(crate) const PLAN_KIND: &str = "keytrim-plan";
/// The benchmark control the plan enforces.
pub(crate) const CONTROL_ID: &str = "CIS AWS Foundations Benchmark 1.13";

/// The recommendation's number in each version of the CIS AWS Foundations Benchmark
/// that has it, as (benchmark version, recommendation). docs/formats.md, "The control's
/// number" says where each pair was read and what is still to be checked.
pub(crate) const CIS_NUMBERS: &[(&str, &str)] = &[
    ("1.3", "1.13"),
    ("1.4", "1.13"),
    ("1.5", "1.13"),
    ("2.0", "1.13"),
    ("3.0", "1.13"),
    ("4.0", "1.13"),
    ("5.0", "1.12"),
    ("6.0", "2.12"),
];

/// Where the audit found its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Live,
    CredentialReport,
}

/// A keytrim remediation plan: what an audit saw and what apply should do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "keytrim plan, version 4 (versions 1 to 3 are read too)")]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[schemars(range(min = 1, max = 4))]
    pub version: u32,
    #[schemars(extend("const" = "keytrim-plan"))]
    pub kind: String,
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub account_id: String,
    #[schemars(regex(pattern = r"^aws(-[a-z0-9]+)*$"))]
    pub partition: String,
    pub generated_at: DateTime<Utc>,
    pub generated_by: String,
    pub caller_arn: String,
    pub source: Source,
    pub policy: PlanPolicy,
    /// Version 3: the exemptions file the audit read (`--exemptions`), by path and
    /// SHA-256, so that `show`, `diff`, `report` and `apply` can read it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemptions: Option<ExemptionsFile>,
    pub summary: Summary,
    pub users: Vec<PlanUser>,
    /// Not in the file: what the exemptions file says of the plan's users, read when
    /// the plan is loaded (`plan::load`), or given to apply with `--exemptions`.
    #[serde(skip)]
    #[schemars(skip)]
    pub exempt_by_file: FileExemptions,
}

/// The exemptions file an audit read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExemptionsFile {
    /// As given to `audit --exemptions`, relative to where the audit ran.
    pub path: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// The plan's users an exemptions file exempts, each entry with its reason and last
/// day; and what keeps it from being the file the audit read, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileExemptions {
    /// (user name, the reason as a plan says it, the last day), in file order.
    pub entries: Vec<(String, String, Option<NaiveDate>)>,
    /// Why the file could not be checked as the audit read it (missing, changed).
    pub note: Option<String>,
}

impl FileExemptions {
    /// The users of `plan` that `exemptions` exempts, with each entry's reason.
    pub fn of(plan_users: &[PlanUser], exemptions: &Exemptions) -> FileExemptions {
        let entries = plan_users
            .iter()
            .flat_map(|user| {
                exemptions
                    .lookup(&user.user_name)
                    .into_iter()
                    .map(|(exemption, until)| {
                        let reason = match exemption {
                            Exemption::File { pattern, reason } => {
                                format!("exempt by exemptions file (pattern `{pattern}`): {reason}")
                            }
                            Exemption::Tag(value) => value,
                        };
                        (user.user_name.clone(), reason, until)
                    })
            })
            .collect();
        FileExemptions {
            entries,
            note: None,
        }
    }

    /// Why the file exempts `user_name` on `day`, if it does: its first entry in force.
    pub fn exempts(&self, user_name: &str, day: NaiveDate) -> Option<&str> {
        self.entries
            .iter()
            .find(|(name, _, until)| name == user_name && until.is_none_or(|until| until >= day))
            .map(|(_, reason, _)| reason.as_str())
    }
}

/// The thresholds the audit used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPolicy {
    pub control: String,
    pub max_key_age_days: u32,
    pub in_use_window_days: u32,
    pub in_use_guard: bool,
    /// Version 3: true for the older reading, where a user with no key under the
    /// maximum age is to `rotate` and nothing is deactivated. Plans before version 3
    /// were written so, and read so.
    #[serde(default = "before_version_3")]
    pub require_fresh_key: bool,
    /// Version 3: with no fresh key, another key is deactivated only once unused this
    /// many days. Plans before version 3 read as the default, 45.
    #[serde(default = "default_unused_days")]
    pub unused_days: u32,
    /// Version 4: the audit looked for the rotation hand-off (`audit --rotation`): it
    /// read the tags of users whose one active key is over the maximum age, and the
    /// secret of each that asked for it. Plans before version 4 read as false.
    #[serde(default)]
    pub rotation: bool,
}

fn before_version_3() -> bool {
    true
}

fn default_unused_days() -> u32 {
    rule::DEFAULT_UNUSED_DAYS
}

/// Counts of users per decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub users_scanned: usize,
    pub compliant: usize,
    pub deactivate: usize,
    pub hold: usize,
    pub rotate: usize,
    pub exempt: usize,
    /// Users IAM refused to show (version 2; written only when there are some).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unreadable: usize,
    /// Users whose kept key is over the maximum age, due for rotation (version 3;
    /// written only when there are some).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rotation_due: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl Summary {
    /// Count one user's decision.
    fn count(&mut self, decision: Decision) {
        match decision {
            Decision::Compliant => self.compliant += 1,
            Decision::Deactivate => self.deactivate += 1,
            Decision::Hold => self.hold += 1,
            Decision::Rotate => self.rotate += 1,
            Decision::Exempt => self.exempt += 1,
            Decision::Unreadable => self.unreadable += 1,
        }
    }

    /// True when the plan has nothing to do and nothing to look at: deactivations,
    /// holds, rotations and unreadable users all make an account non-compliant (an
    /// unreadable user is not known to be compliant).
    pub(crate) fn is_compliant(&self) -> bool {
        self.deactivate == 0 && self.hold == 0 && self.rotate == 0 && self.unreadable == 0
    }
}

/// One non-compliant or exempt user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanUser {
    #[schemars(regex(pattern = r"^[A-Za-z0-9+=,.@_-]{1,64}$"))]
    pub user_name: String,
    /// Exactly `arn:<partition>:iam::<account_id>:user/<path><user_name>`.
    #[schemars(regex(
        pattern = r"^arn:aws(-[a-z0-9]+)*:iam::[0-9]{12}:user/([!-~]*/)?[A-Za-z0-9+=,.@_-]{1,64}$"
    ))]
    pub user_arn: String,
    pub decision: Decision,
    pub reason: String,
    #[schemars(regex(pattern = r"^[A-Z0-9]{16,128}$"))]
    pub keep: Option<String>,
    #[schemars(inner(regex(pattern = r"^[A-Z0-9]{16,128}$")))]
    pub deactivate: Vec<String>,
    /// Version 3: the kept key is at or over the maximum age (no key was fresh), so it
    /// is due for rotation (CIS 1.14); written only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rotation_due: bool,
    pub keys: Vec<PlanKey>,
    /// `exempt` only: the last day the exemption applies (from the exemptions file's
    /// `expires` or the `keytrim:exempt-until` tag); absent when it does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt_until: Option<NaiveDate>,
    /// `unreadable` only: the error IAM answered when keytrim read the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Version 4, `rotate` only: the secret the user is bound to both ways, into which
    /// apply hands off a new key (docs/rotation.md); absent for the advice alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_to: Option<RotateTo>,
    /// Version 4, `deactivate`, `hold` or `rotate` of a user with two active keys: the
    /// secret the user's `keytrim:rotate-to` tag names (`audit --rotation`) and the key
    /// its AWSCURRENT hands out, which applications reading the secret use, or null
    /// when keytrim cannot tell: a ruling that would switch that key (or, unknown, any
    /// key) off is a `hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hands_out: Option<SecretHandsOut>,
}

/// The secret a user's tag names and the key it hands out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretHandsOut {
    /// The secret's full ARN, in the plan's account and partition; null when the
    /// user's `keytrim:rotate-to` tag names no secret of this account by its full ARN.
    #[schemars(regex(
        pattern = r"^arn:aws(-[a-z0-9]+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
    ))]
    pub secret_arn: Option<String>,
    /// The access key id AWSCURRENT holds: one of the user's Active keys; null when
    /// keytrim cannot tell (the secret unread, not naming the user, not an access key).
    #[schemars(regex(pattern = r"^[A-Z0-9]{16,128}$"))]
    pub access_key_id: Option<String>,
}

/// The secret a user's new key goes to, as the audit found it bound both ways: the
/// user's `keytrim:rotate-to` tag is `secretsmanager:` then `secret_arn`, and the
/// secret's `keytrim:rotates` tag is the user's ARN, so neither tag is repeated here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateTo {
    /// The secret's full ARN, in the plan's account and partition.
    #[schemars(regex(
        pattern = r"^arn:aws(-[a-z0-9]+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
    ))]
    pub secret_arn: String,
    /// The version that held AWSCURRENT at the audit, whose value named the user's key.
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{32,64}$"))]
    pub current_version: String,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

/// One key as the audit saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanKey {
    #[schemars(regex(pattern = r"^[A-Z0-9]{16,128}$"))]
    pub access_key_id: String,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    pub age_days: u32,
    pub last_used: Option<DateTime<Utc>>,
    pub last_used_service: Option<String>,
    pub last_used_region: Option<String>,
    /// The key's description from the IAM console (the user's tag named by the access
    /// key id); null when there is none. Plans written before it existed read as null.
    #[serde(default)]
    pub description: Option<String>,
}

/// Everything besides the inventory that shapes a plan.
#[derive(Debug, Clone)]
pub struct PlanInputs<'a> {
    pub policy: Policy,
    pub source: Source,
    pub now: DateTime<Utc>,
    /// The exemptions file's entries (empty without `--exemptions`).
    pub exemptions: &'a Exemptions,
    /// The exemptions file's path and SHA-256, recorded in the plan.
    pub exemptions_file: Option<ExemptionsFile>,
}

/// Every exemption a user has, each with its last day: its tags first, then the
/// exemptions file's matching entries in file order. A `keytrim:exempt-until` tag
/// alone exempts too (until that day).
fn exemptions_for(
    user: &UserFacts,
    inputs: &PlanInputs<'_>,
) -> Vec<(Exemption, Option<NaiveDate>)> {
    let tag = crate::facts::tag_exemption(user.exempt_tag.as_deref(), user.exempt_until)
        .map(|(reason, until)| (Exemption::Tag(reason), until));
    tag.into_iter()
        .chain(inputs.exemptions.lookup(&user.user_name))
        .collect()
}

/// Where an exemption came from, for the reason of an expired one.
fn exemption_source(exemption: &Exemption) -> String {
    match exemption {
        Exemption::Tag(_) => format!("tag {EXEMPT_TAG}"),
        Exemption::File { pattern, .. } => format!("exemptions file, pattern `{pattern}`"),
    }
}

/// The rule's verdict for a user, with exemptions that expire. Any exemption still in
/// force applies (the first, tags before the file); one whose last day is before
/// `now`'s date (both UTC days) no longer applies, and only when none is in force does
/// the reason say that one expired (the latest to expire).
fn verdict_for(user: &UserFacts, inputs: &PlanInputs<'_>) -> (rule::Ruling, Option<NaiveDate>) {
    let today = inputs.now.date_naive();
    if let Some(error) = &user.unreadable {
        // A user protected on purpose (a break-glass user behind a deny) may be listed
        // in the exemptions file, which needs no read from IAM.
        let in_force = inputs
            .exemptions
            .lookup(&user.user_name)
            .into_iter()
            .find(|(_, until)| until.is_none_or(|until| until >= today));
        if let Some((exemption, until)) = in_force {
            let mut verdict = rule::Ruling {
                decision: Decision::Exempt,
                reason: String::new(),
                keep: None,
                deactivate: Vec::new(),
                rotation_due: false,
            };
            if let Exemption::File { pattern, reason } = &exemption {
                verdict.reason = format!(
                    "exempt by exemptions file (pattern `{pattern}`): {reason}; IAM refused to show the user ({error})"
                );
            }
            if let Some(until) = until {
                verdict.reason = format!("{} (until {until})", verdict.reason);
            }
            return (verdict, until);
        }
        return (
            rule::Ruling {
                decision: Decision::Unreadable,
                reason: format!(
                    "IAM refused to show this user ({error}): keytrim cannot judge it and never acts on it; give the audit role access to the user, then audit again"
                ),
                keep: None,
                deactivate: Vec::new(),
                rotation_due: false,
            },
            None,
        );
    }
    let decide = |exemption: Option<&Exemption>| hand_off::ruling_for(user, exemption, inputs);
    let exemptions = exemptions_for(user, inputs);
    let in_force = exemptions
        .iter()
        .find(|(_, until)| until.is_none_or(|until| until >= today));
    if let Some((exemption, until)) = in_force {
        let mut verdict = decide(Some(exemption));
        return match until {
            Some(until) if verdict.decision == Decision::Exempt => {
                verdict.reason = format!("{} (until {until})", verdict.reason);
                (verdict, Some(*until))
            }
            _ => (verdict, None),
        };
    }
    let mut verdict = decide(None);
    let latest_expired = exemptions
        .iter()
        .filter_map(|(exemption, until)| until.map(|until| (until, exemption)))
        .rev()
        .max_by_key(|(until, _)| *until);
    if let Some((until, exemption)) = latest_expired
        && verdict.decision != Decision::Compliant
    {
        verdict.reason = format!(
            "exemption expired on {until} ({}); {}",
            exemption_source(exemption),
            verdict.reason
        );
    }
    (verdict, None)
}

/// Exempt users whose exemption ends within `days` days of the plan's audit, soonest
/// first: a reviewer should renew or let them lapse knowingly.
pub(crate) fn exemptions_expiring(plan: &Plan, days: i64) -> Vec<(&str, NaiveDate)> {
    let horizon = plan.generated_at.date_naive() + chrono::Duration::days(days);
    let mut expiring: Vec<(&str, NaiveDate)> = plan
        .users
        .iter()
        .filter_map(|user| Some((user.user_name.as_str(), user.exempt_until?)))
        .filter(|(_, until)| *until <= horizon)
        .collect();
    expiring.sort_by_key(|(name, until)| (*until, *name));
    expiring
}

/// How far ahead the summary and the Markdown list expiring exemptions.
pub(crate) const EXPIRING_WITHIN_DAYS: i64 = 14;

fn plan_key(key: &crate::facts::KeyFacts, now: DateTime<Utc>) -> PlanKey {
    let last_use = key.last_use.clone().unwrap_or_default();
    PlanKey {
        access_key_id: key.access_key_id.clone(),
        status: key.status,
        created: key.created,
        age_days: rule::age_in_days(key.created, now),
        last_used: last_use.at,
        last_used_service: last_use.service,
        last_used_region: last_use.region,
        description: key.description.clone(),
    }
}

/// Build the plan: run the rule over every candidate and count the outcomes.
pub fn build(inventory: &Inventory, inputs: &PlanInputs<'_>) -> Plan {
    let mut summary = Summary {
        users_scanned: inventory.users_scanned,
        ..Summary::default()
    };
    let mut users = Vec::new();
    for user in &inventory.candidates {
        let (verdict, exempt_until) = verdict_for(user, inputs);
        summary.count(verdict.decision);
        if verdict.decision == Decision::Compliant {
            continue;
        }
        // An exempt user IAM refused to show: what was read is partial (a last use
        // that was not read would show as "never"), and nothing is decided from it.
        let shown_keys = if user.unreadable.is_some() && verdict.decision == Decision::Exempt {
            &[][..]
        } else {
            &user.keys[..]
        };
        let mut keys: Vec<PlanKey> = shown_keys.iter().map(|k| plan_key(k, inputs.now)).collect();
        keys.sort_by(|a, b| {
            a.created
                .cmp(&b.created)
                .then_with(|| a.access_key_id.cmp(&b.access_key_id))
        });
        let order = |id: &String| keys.iter().position(|k| &k.access_key_id == id);
        let mut deactivate = verdict.deactivate;
        deactivate.sort_by_key(order);
        let verdict_decision = verdict.decision;
        if verdict.rotation_due {
            summary.rotation_due += 1;
        }
        let rotate_to = hand_off::rotate_to_of(user, verdict_decision, inputs);
        let secret_hands_out = hand_off::secret_hands_out_of(user, verdict_decision, inputs);
        users.push(PlanUser {
            user_name: user.user_name.clone(),
            user_arn: user.user_arn.clone(),
            decision: verdict.decision,
            reason: verdict.reason,
            keep: verdict.keep,
            deactivate,
            keys,
            exempt_until,
            error: user
                .unreadable
                .clone()
                .filter(|_| verdict_decision == Decision::Unreadable),
            rotation_due: verdict.rotation_due,
            rotate_to,
            secret_hands_out,
        });
    }
    summary.compliant += inventory.users_scanned - inventory.candidates.len();
    users.sort_by(|a, b| a.user_name.cmp(&b.user_name));

    Plan {
        version: PLAN_VERSION,
        kind: PLAN_KIND.to_string(),
        account_id: inventory.caller.account_id.clone(),
        partition: inventory.caller.partition().to_string(),
        generated_at: inputs.now,
        generated_by: format!("keytrim {}", env!("CARGO_PKG_VERSION")),
        caller_arn: inventory.caller.arn.clone(),
        source: inputs.source,
        policy: PlanPolicy {
            control: CONTROL_ID.to_string(),
            max_key_age_days: inputs.policy.max_key_age_days,
            in_use_window_days: inputs.policy.in_use_window_days,
            in_use_guard: inputs.policy.in_use_guard,
            require_fresh_key: inputs.policy.require_fresh_key,
            unused_days: inputs.policy.unused_days,
            rotation: inputs.policy.rotation,
        },
        exemptions: inputs.exemptions_file.clone(),
        summary,
        users,
        exempt_by_file: FileExemptions::default(),
    }
}
