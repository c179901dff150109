//! What changed between two plans of one account (`keytrim diff OLD NEW`): which users
//! became non-compliant, which were fixed, which changed decision; which reviewer
//! overrides the newer plan makes; which keys and key facts changed; and whether the
//! policy changed. Pure: takes two validated plans; the shell renders the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::rule::Decision;
use crate::safe_text;

use super::model::{Plan, PlanUser};
use super::standing;

/// One user whose decision differs between the plans. A user a plan does not list is
/// compliant in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<'a> {
    pub user_name: &'a str,
    pub was: Decision,
    pub now: Decision,
    /// The newer plan's entry (none when the user is now compliant).
    pub entry: Option<&'a PlanUser>,
}

/// A reviewer override in the newer plan: the rule decides `rule` on the plan's
/// facts, the plan says `now` (see `plan::standing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override<'a> {
    pub user_name: &'a str,
    pub rule: Decision,
    pub now: Decision,
}

/// One change of a user's keys between the plans: what is planned for them, or a fact
/// the plans state about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange<'a> {
    pub user_name: &'a str,
    /// What changed, in words (key ids and times; shown escaped all the same).
    pub what: String,
}

/// What changed between two plans, each group sorted by user name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDiff<'a> {
    /// Compliant or exempt before, deactivate, hold or rotate now.
    pub newly_non_compliant: Vec<Change<'a>>,
    /// Deactivate, hold or rotate before, compliant now.
    pub fixed: Vec<Change<'a>>,
    /// Any other change of decision (deactivate to hold, rotate to exempt, ...).
    pub changed: Vec<Change<'a>>,
    /// Overrides in the newer plan that the older one did not make.
    pub overrides: Vec<Override<'a>>,
    /// Changed `keep` or `deactivate`, keys added or removed, and changed key facts.
    pub keys: Vec<KeyChange<'a>>,
    /// Each policy field that changed: (field, old, new).
    pub policy: Vec<(&'static str, String, String)>,
}

impl PlanDiff<'_> {
    pub fn is_empty(&self) -> bool {
        self.newly_non_compliant.is_empty()
            && self.fixed.is_empty()
            && self.changed.is_empty()
            && self.overrides.is_empty()
            && self.keys.is_empty()
            && self.policy.is_empty()
    }
}

fn at(time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    time.map_or_else(
        || "never".to_string(),
        |time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn ids(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

/// The secret a user is handed off to, and its version, or "none".
fn hand_off_secret(user: &PlanUser) -> String {
    user.rotate_to.as_ref().map_or("none".to_string(), |to| {
        format!("{} (version {})", to.secret_arn, to.current_version)
    })
}

/// What apply is told to do that changed: the kept key, the keys to deactivate, the
/// secret of a hand-off.
fn entry_changes(before: &PlanUser, after: &PlanUser) -> Vec<String> {
    let mut changes = Vec::new();
    if before.keep != after.keep {
        changes.push(format!(
            "keep {} -> {}",
            before.keep.as_deref().unwrap_or("none"),
            after.keep.as_deref().unwrap_or("none")
        ));
    }
    let sorted = |list: &[String]| {
        let mut list = list.to_vec();
        list.sort();
        list
    };
    if sorted(&before.deactivate) != sorted(&after.deactivate) {
        changes.push(format!(
            "deactivate {} -> {}",
            ids(&before.deactivate),
            ids(&after.deactivate)
        ));
    }
    if before.secret_hands_out != after.secret_hands_out {
        let held = |user: &PlanUser| {
            user.secret_hands_out
                .as_ref()
                .map_or("none".to_string(), |held| {
                    format!(
                        "{} from {}",
                        held.access_key_id.as_deref().unwrap_or("an unknown key"),
                        held.secret_arn
                            .as_deref()
                            .unwrap_or("no secret keytrim can name")
                    )
                })
        };
        changes.push(format!(
            "secret_hands_out {} -> {}",
            held(before),
            held(after)
        ));
    }
    if before.rotate_to != after.rotate_to {
        changes.push(format!(
            "rotate_to {} -> {}",
            hand_off_secret(before),
            hand_off_secret(after)
        ));
    }
    changes
}

/// How the keys of one user changed from `before` to `after`. A later audit sees keys
/// used again, so a last use that moves forward between plans of different times is
/// not listed; one that moves back or disappears, or any difference between plans of
/// the same time (an edit), is.
fn key_changes<'a>(
    old: &Plan,
    new: &Plan,
    before: &PlanUser,
    after: &'a PlanUser,
) -> Vec<KeyChange<'a>> {
    let mut found = Vec::new();
    let mut say = |what: String| {
        found.push(KeyChange {
            user_name: &after.user_name,
            what,
        });
    };
    for what in entry_changes(before, after) {
        say(what);
    }
    let same_time = old.generated_at == new.generated_at;
    for key in &before.keys {
        let id = &key.access_key_id;
        let Some(now) = after.keys.iter().find(|k| &k.access_key_id == id) else {
            say(format!("key {id} no longer listed"));
            continue;
        };
        if key.created != now.created {
            say(format!(
                "key {id} created {} -> {}",
                at(Some(key.created)),
                at(Some(now.created))
            ));
        }
        if key.status != now.status {
            say(format!(
                "key {id} status {} -> {}",
                key.status.as_str(),
                now.status.as_str()
            ));
        }
        let use_moved = key.last_used != now.last_used;
        if use_moved && (same_time || now.last_used < key.last_used) {
            say(format!(
                "key {id} last used {} -> {}",
                at(key.last_used),
                at(now.last_used)
            ));
        } else if !use_moved
            && (key.last_used_service != now.last_used_service
                || key.last_used_region != now.last_used_region)
        {
            say(format!(
                "key {id} last used with {} in {} -> {} in {}",
                key.last_used_service.as_deref().unwrap_or("none"),
                key.last_used_region.as_deref().unwrap_or("none"),
                now.last_used_service.as_deref().unwrap_or("none"),
                now.last_used_region.as_deref().unwrap_or("none")
            ));
        }
    }
    for key in &after.keys {
        if !before
            .keys
            .iter()
            .any(|k| k.access_key_id == key.access_key_id)
        {
            say(format!("key {} newly listed", key.access_key_id));
        }
    }
    found
}

/// Each policy field that differs: (field, old, new).
fn policy_changes(old: &Plan, new: &Plan) -> Vec<(&'static str, String, String)> {
    let (a, b) = (&old.policy, &new.policy);
    [
        ("control", a.control.clone(), b.control.clone()),
        (
            "max_key_age_days",
            a.max_key_age_days.to_string(),
            b.max_key_age_days.to_string(),
        ),
        (
            "in_use_window_days",
            a.in_use_window_days.to_string(),
            b.in_use_window_days.to_string(),
        ),
        (
            "in_use_guard",
            a.in_use_guard.to_string(),
            b.in_use_guard.to_string(),
        ),
        (
            "require_fresh_key",
            a.require_fresh_key.to_string(),
            b.require_fresh_key.to_string(),
        ),
        (
            "unused_days",
            a.unused_days.to_string(),
            b.unused_days.to_string(),
        ),
        ("rotation", a.rotation.to_string(), b.rotation.to_string()),
    ]
    .into_iter()
    .filter(|(_, was, now)| was != now)
    .collect()
}

fn non_compliant(decision: Decision) -> bool {
    matches!(
        decision,
        Decision::Deactivate | Decision::Hold | Decision::Rotate | Decision::Unreadable
    )
}

/// Compare two plans of one account. Users are matched by name ignoring case, as IAM
/// matches them (a user renamed `alice` to `Alice` is the same user).
pub fn diff<'a>(old: &'a Plan, new: &'a Plan) -> PlanDiff<'a> {
    let mut users: BTreeMap<String, (Option<&'a PlanUser>, Option<&'a PlanUser>)> = BTreeMap::new();
    for user in &old.users {
        users
            .entry(user.user_name.to_ascii_lowercase())
            .or_default()
            .0 = Some(user);
    }
    for user in &new.users {
        users
            .entry(user.user_name.to_ascii_lowercase())
            .or_default()
            .1 = Some(user);
    }
    let decision = |user: Option<&PlanUser>| user.map_or(Decision::Compliant, |u| u.decision);
    let mut result = PlanDiff {
        policy: policy_changes(old, new),
        ..PlanDiff::default()
    };
    for (before, after) in users.into_values() {
        if let Some(after) = after {
            let made_before = before.is_some_and(|before| {
                standing::override_of(old, before).is_some()
                    && before.decision == after.decision
                    && before.keep == after.keep
            });
            if let Some(rule) = standing::override_of(new, after).filter(|_| !made_before) {
                result.overrides.push(Override {
                    user_name: &after.user_name,
                    rule,
                    now: after.decision,
                });
            }
            if let Some(before) = before {
                result.keys.extend(key_changes(old, new, before, after));
            }
        }
        let (was, now) = (decision(before), decision(after));
        if was == now {
            continue;
        }
        let change = Change {
            user_name: after.or(before).map_or("", |u| u.user_name.as_str()),
            was,
            now,
            entry: after,
        };
        if !non_compliant(was) && non_compliant(now) {
            result.newly_non_compliant.push(change);
        } else if non_compliant(was) && now == Decision::Compliant {
            result.fixed.push(change);
        } else {
            result.changed.push(change);
        }
    }
    result
}

/// The groups with their headings, for both renderings.
fn groups<'d, 'a>(diff: &'d PlanDiff<'a>) -> [(&'static str, &'d [Change<'a>]); 3] {
    [
        ("newly non-compliant", &diff.newly_non_compliant),
        ("fixed", &diff.fixed),
        ("changed decision", &diff.changed),
    ]
}

fn heading(old: &Plan, new: &Plan) -> String {
    format!(
        "account {}: plan of {} compared with plan of {}",
        new.account_id,
        new.generated_at.format("%Y-%m-%d %H:%M UTC"),
        old.generated_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// What `diff` says when nothing changed.
const NOTHING_CHANGED: &str = "Nothing changed: no decision, reviewer override, key or policy.";

/// The lines after the decision groups: overrides, keys, policy. Each is (user or
/// field, text); `escape` makes text from the plan safe for the output's medium.
fn detail_sections<'d>(diff: &'d PlanDiff<'_>) -> [(&'static str, Vec<(&'d str, String)>); 3] {
    [
        (
            "reviewer overrides",
            diff.overrides
                .iter()
                .map(|o| {
                    (
                        o.user_name,
                        format!(
                            "the rule decides {}, the plan says {}",
                            o.rule.as_str(),
                            o.now.as_str()
                        ),
                    )
                })
                .collect(),
        ),
        (
            "changed keys",
            diff.keys
                .iter()
                .map(|k| (k.user_name, k.what.clone()))
                .collect(),
        ),
        (
            "changed policy",
            diff.policy
                .iter()
                .map(|(field, was, now)| (*field, format!("{was} -> {now}")))
                .collect(),
        ),
    ]
}

/// Text for a terminal. Reasons come from the plan and are escaped.
pub(crate) fn to_text(old: &Plan, new: &Plan, diff: &PlanDiff<'_>) -> String {
    let mut out = format!("{}\n", heading(old, new));
    if diff.is_empty() {
        let _ = writeln!(out, "{NOTHING_CHANGED}");
        return out;
    }
    let details = detail_sections(diff);
    let width = groups(diff)
        .iter()
        .flat_map(|(_, changes)| changes.iter().map(|c| c.user_name.len()))
        .chain(
            details
                .iter()
                .flat_map(|(_, lines)| lines.iter().map(|(name, _)| name.len())),
        )
        .max()
        .unwrap_or(0)
        .max(8);
    for (title, changes) in groups(diff) {
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({}):", changes.len());
        for change in changes {
            let reason = change
                .entry
                .map(|user| format!("  {}", safe_text::escape(&user.reason)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<width$} {} -> {}{reason}",
                change.user_name,
                change.was.as_str(),
                change.now.as_str()
            );
        }
    }
    for (title, lines) in details {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({}):", lines.len());
        for (name, what) in lines {
            let _ = writeln!(out, "  {name:<width$} {}", safe_text::escape(&what));
        }
    }
    out
}

/// Markdown for a pull-request comment: one table per group. Reasons are escaped.
pub fn to_markdown(old: &Plan, new: &Plan, diff: &PlanDiff<'_>) -> String {
    let mut out = format!(
        "## keytrim: what changed in account `{}`\n\nThe plan of {} compared with the plan of {}.\n",
        new.account_id,
        new.generated_at.format("%Y-%m-%d %H:%M UTC"),
        old.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    if diff.is_empty() {
        let _ = writeln!(out, "\n{NOTHING_CHANGED}");
        return out;
    }
    for (title, changes) in groups(diff) {
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {title} ({})\n", changes.len());
        let _ = writeln!(out, "| user | was | now | reason |");
        let _ = writeln!(out, "|---|---|---|---|");
        for change in changes {
            let reason = change
                .entry
                .map(|user| safe_text::markdown(&user.reason))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {reason} |",
                change.user_name,
                change.was.as_str(),
                change.now.as_str()
            );
        }
    }
    for (title, lines) in detail_sections(diff) {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {title} ({})\n", lines.len());
        let _ = writeln!(out, "| user or field | what |");
        let _ = writeln!(out, "|---|---|");
        for (name, what) in lines {
            let _ = writeln!(out, "| `{name}` | {} |", safe_text::markdown(&what));
        }
    }
    out
}

#[cfg(test)]
mod tests;
