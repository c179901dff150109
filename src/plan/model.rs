//! The plan file's data model (schema version 1) and how a plan is built from an
//! inventory and the rule's verdicts.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::exemptions::Exemptions;
use crate::facts::{Inventory, KeyStatus, UserFacts};
use crate::rule::{self, Decision, Exemption, Policy};

/// The only schema version this keytrim reads and writes.
pub const PLAN_VERSION: u32 = 1;
/// The value of `kind` in every plan.
pub const PLAN_KIND: &str = "keytrim-plan";
/// The benchmark control the plan enforces.
pub const CONTROL_ID: &str = "CIS AWS Foundations Benchmark 1.13";

/// Where the audit found its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Live,
    CredentialReport,
}

/// A keytrim remediation plan (version 1): what an audit saw and what apply should do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "keytrim plan, version 1")]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[schemars(range(min = 1, max = 1))]
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
    pub summary: Summary,
    pub users: Vec<PlanUser>,
}

/// The thresholds the audit used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPolicy {
    pub control: String,
    pub max_key_age_days: u32,
    pub in_use_window_days: u32,
    pub in_use_guard: bool,
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
}

impl Summary {
    /// True when the plan has nothing to do and nothing to look at: deactivations,
    /// holds and rotations all make an account non-compliant.
    pub fn is_compliant(&self) -> bool {
        self.deactivate == 0 && self.hold == 0 && self.rotate == 0
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
    pub keys: Vec<PlanKey>,
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
}

/// Everything besides the inventory that shapes a plan.
#[derive(Debug, Clone)]
pub struct PlanInputs<'a> {
    pub policy: Policy,
    pub source: Source,
    pub now: DateTime<Utc>,
    /// The exemptions file's entries (empty without `--exemptions`).
    pub exemptions: &'a Exemptions,
}

/// The exemption that applies to a user: its tag first, then the exemptions file.
fn exemption_for(user: &UserFacts, inputs: &PlanInputs<'_>) -> Option<Exemption> {
    user.exempt_tag
        .clone()
        .map(Exemption::Tag)
        .or_else(|| inputs.exemptions.lookup(&user.user_name))
}

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
        let exemption = exemption_for(user, inputs);
        let verdict = rule::decide(&user.keys, exemption.as_ref(), &inputs.policy, inputs.now);
        match verdict.decision {
            Decision::Compliant => {
                summary.compliant += 1;
                continue;
            }
            Decision::Deactivate => summary.deactivate += 1,
            Decision::Hold => summary.hold += 1,
            Decision::Rotate => summary.rotate += 1,
            Decision::Exempt => summary.exempt += 1,
        }
        let mut keys: Vec<PlanKey> = user.keys.iter().map(|k| plan_key(k, inputs.now)).collect();
        keys.sort_by(|a, b| {
            a.created
                .cmp(&b.created)
                .then_with(|| a.access_key_id.cmp(&b.access_key_id))
        });
        let order = |id: &String| keys.iter().position(|k| &k.access_key_id == id);
        let mut deactivate = verdict.deactivate;
        deactivate.sort_by_key(order);
        users.push(PlanUser {
            user_name: user.user_name.clone(),
            user_arn: user.user_arn.clone(),
            decision: verdict.decision,
            reason: verdict.reason,
            keep: verdict.keep,
            deactivate,
            keys,
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
        },
        summary,
        users,
    }
}
