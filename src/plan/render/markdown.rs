//! The plan as Markdown for a pull-request comment: counts, overrides, one section per
//! decision (long ones folded), exemptions about to end. Data is escaped for GitHub
//! (`safe_text::markdown`).

use std::fmt::Write as _;

use crate::plan::model::Source;
use crate::plan::{Plan, PlanUser, Summary, standing};
use crate::rule::Decision;
use crate::safe_text;

use super::{
    ago, effective_summary, no_fresh_key_reading, role, rotation_mark, timestamp, with_place,
};

/// A section longer than this many users is folded into `<details>`.
const FOLD_AFTER_USERS: usize = 10;

fn markdown_user(out: &mut String, user: &PlanUser, plan: &Plan) {
    let generated_at = plan.generated_at;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**`{}`**: {}",
        user.user_name,
        safe_text::markdown(&user.reason)
    );
    if let Some(mark) = rotation_mark(plan, user) {
        let _ = writeln!(out);
        let _ = writeln!(out, "> **Rotation due:** {mark}.");
    }
    if let Some(hand_off) = super::hand_off(plan, user, |text| format!("`{text}`")) {
        let _ = writeln!(out);
        let _ = writeln!(out, "> **Rotation hand-off:** {hand_off}.");
    }
    if let Some(rule) = standing::override_of(plan, user) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "> **Reviewer override:** the rule decides `{}` for these keys; this plan says `{}`.",
            rule.as_str(),
            user.decision.as_str()
        );
    }
    let _ = writeln!(out);
    // The description column appears only for users whose keys have one, so tables
    // of accounts that never use descriptions stay as narrow as before.
    let described = user.keys.iter().any(|key| key.description.is_some());
    let (head, rule) = if described {
        (
            "| role | key | status | age | last used | description |",
            "|---|---|---|---:|---|---|",
        )
    } else {
        (
            "| role | key | status | age | last used |",
            "|---|---|---|---:|---|",
        )
    };
    let _ = writeln!(out, "{head}");
    let _ = writeln!(out, "{rule}");
    for key in &user.keys {
        let used = match key.last_used {
            // IAM may have refused the read: nothing is known.
            None if user.decision == Decision::Unreadable => "not read".to_string(),
            None => "never".to_string(),
            Some(at) => with_place(ago(at, generated_at), key, safe_text::markdown),
        };
        let description = if described {
            format!(
                " {} |",
                key.description
                    .as_deref()
                    .map_or_else(String::new, safe_text::markdown)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} days | {used} |{description}",
            role(user, key),
            key.access_key_id,
            key.status.as_str(),
            key.age_days,
        );
    }
}

/// Markdown for a pull-request comment: a summary table, then one section per
/// decision; sections of more than ten users are folded.
pub fn to_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## keytrim plan for account `{}`", plan.account_id);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}. Generated {} by {} (source: {}). Keys {} days old or older are not kept; a key used within {} days holds its deactivation (guard {}); {}. Ages and last use are as of the audit.",
        safe_text::markdown(&plan.policy.control),
        timestamp(plan.generated_at),
        safe_text::markdown(&plan.generated_by),
        match plan.source {
            Source::Live => "live",
            Source::CredentialReport => "credential report",
        },
        plan.policy.max_key_age_days,
        plan.policy.in_use_window_days,
        if plan.policy.in_use_guard {
            "on"
        } else {
            "off"
        },
        no_fresh_key_reading(&plan.policy)
    );
    markdown_policy(&mut out, plan);
    for line in super::exemptions_lines(plan, safe_text::markdown) {
        let _ = writeln!(out);
        let _ = writeln!(out, "{line}");
    }
    markdown_counts(&mut out, &effective_summary(plan));
    markdown_overrides(&mut out, plan);
    markdown_decisions(&mut out, plan);
    markdown_expiring(&mut out, plan);
    if plan.users.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Nothing to do: every user has at most one active key.");
    }
    out
}

/// A policy other than keytrim's defaults, said plainly: it changes what the rule
/// decides (no guard turns holds into deactivations), so a reviewer must see it.
fn markdown_policy(out: &mut String, plan: &Plan) {
    let defaults = crate::rule::Policy::default();
    let policy = standing::policy_of(plan);
    if policy == defaults {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**This plan's policy differs from keytrim's defaults** (max key age {} days, in-use window {} days, guard on, unused {} days, no fresh key required): max key age {} days, in-use window {} days, guard {}, unused {} days, {}.",
        defaults.max_key_age_days,
        defaults.in_use_window_days,
        defaults.unused_days,
        policy.max_key_age_days,
        policy.in_use_window_days,
        if policy.in_use_guard { "on" } else { "off" },
        policy.unused_days,
        if policy.require_fresh_key {
            "a fresh key required (the older reading: with none, the rule plans a rotation)"
        } else {
            "no fresh key required"
        }
    );
}

/// Every reviewer override, up front, so the approving reviewer sees each one.
fn markdown_overrides(out: &mut String, plan: &Plan) {
    let overrides: Vec<String> = plan
        .users
        .iter()
        .filter_map(|user| {
            standing::override_of(plan, user).map(|rule| {
                format!(
                    "`{}` ({} → {})",
                    user.user_name,
                    rule.as_str(),
                    user.decision.as_str()
                )
            })
        })
        .collect();
    if overrides.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**Reviewer overrides ({}):** {}. The rule decided otherwise on the plan's own facts; apply accepts these because each does less, or what the rule named for a held key.",
        overrides.len(),
        overrides.join(", ")
    );
}

/// The table of counts.
fn markdown_counts(out: &mut String, summary: &Summary) {
    // The unreadable column appears only when some user was, so plans without such
    // users read as before.
    let (mut head, mut rule, mut unreadable) = if summary.unreadable > 0 {
        (
            " unreadable |".to_string(),
            "---:|".to_string(),
            format!(" {} |", summary.unreadable),
        )
    } else {
        (String::new(), String::new(), String::new())
    };
    // Kept keys over the maximum age: a column of their own, only when there are some.
    if summary.rotation_due > 0 {
        head.push_str(" rotation due |");
        rule.push_str("---:|");
        unreadable.push_str(&format!(" {} |", summary.rotation_due));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| users scanned | compliant | deactivate | hold | rotate | exempt |{head}"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|{rule}");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |{unreadable}",
        summary.users_scanned,
        summary.compliant,
        summary.deactivate,
        summary.hold,
        summary.rotate,
        summary.exempt
    );
}

/// One section per decision, folded when long.
fn markdown_decisions(out: &mut String, plan: &Plan) {
    for (decision, meaning) in [
        (
            Decision::Deactivate,
            "apply deactivates the listed keys and keeps one",
        ),
        (
            Decision::Hold,
            "a key to deactivate was used recently (or, with no fresh key, within the unused threshold); change `hold` to `deactivate` once you know it is unused",
        ),
        (
            Decision::Rotate,
            "no key is fresh enough to keep; rotate first, then audit again",
        ),
        (Decision::Exempt, "never acted on"),
        (
            Decision::Unreadable,
            "IAM refused to show the user (its keys, their last use or its tags): not known to be compliant, and never acted on; give the audit role access, then audit again",
        ),
    ] {
        let users: Vec<&PlanUser> = plan
            .users
            .iter()
            .filter(|u| u.decision == decision)
            .collect();
        if users.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "### {} ({})", decision.as_str(), users.len());
        let _ = writeln!(out);
        let _ = writeln!(out, "_{meaning}._");
        let fold = users.len() > FOLD_AFTER_USERS;
        if fold {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "<details><summary>{} users: {}</summary>",
                users.len(),
                decision.as_str()
            );
        }
        for user in users {
            markdown_user(out, user, plan);
        }
        if fold {
            let _ = writeln!(out);
            let _ = writeln!(out, "</details>");
        }
    }
}

/// Exemptions that end soon, if any.
fn markdown_expiring(out: &mut String, plan: &Plan) {
    let expiring =
        crate::plan::model::exemptions_expiring(plan, crate::plan::model::EXPIRING_WITHIN_DAYS);
    if !expiring.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "### exemptions ending within {} days ({})",
            crate::plan::model::EXPIRING_WITHIN_DAYS,
            expiring.len()
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "_After its last day an exemption no longer applies: renew it, or let the rule decide._"
        );
        let _ = writeln!(out);
        for (name, until) in expiring {
            let _ = writeln!(out, "- `{name}`: last day {until}");
        }
    }
}
