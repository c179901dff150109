//! What changed between two plans of one account (`keytrim diff OLD NEW`): which users
//! became non-compliant, which were fixed, which changed decision. Pure: takes two
//! validated plans; the shell renders the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::rule::Decision;
use crate::term;

use super::model::{Plan, PlanUser};

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

/// The users whose decision changed, in three groups, each sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDiff<'a> {
    /// Compliant or exempt before, deactivate, hold or rotate now.
    pub newly_non_compliant: Vec<Change<'a>>,
    /// Deactivate, hold or rotate before, compliant now.
    pub fixed: Vec<Change<'a>>,
    /// Any other change of decision (deactivate to hold, rotate to exempt, ...).
    pub changed: Vec<Change<'a>>,
}

impl PlanDiff<'_> {
    pub fn is_empty(&self) -> bool {
        self.newly_non_compliant.is_empty() && self.fixed.is_empty() && self.changed.is_empty()
    }
}

fn non_compliant(decision: Decision) -> bool {
    matches!(
        decision,
        Decision::Deactivate | Decision::Hold | Decision::Rotate
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
    let mut result = PlanDiff::default();
    for (before, after) in users.into_values() {
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

/// Text for a terminal. Reasons come from the plan and are escaped.
pub fn to_text(old: &Plan, new: &Plan, diff: &PlanDiff<'_>) -> String {
    let mut out = format!("{}\n", heading(old, new));
    if diff.is_empty() {
        out.push_str("No user changed decision.\n");
        return out;
    }
    let width = groups(diff)
        .iter()
        .flat_map(|(_, changes)| changes.iter().map(|c| c.user_name.len()))
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
                .map(|user| format!("  {}", term::escape(&user.reason)))
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
        out.push_str("\nNo user changed decision.\n");
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
                .map(|user| term::markdown(&user.reason))
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::tests::every_decision_plan;

    fn user_mut<'p>(plan: &'p mut Plan, name: &str) -> &'p mut PlanUser {
        plan.users
            .iter_mut()
            .find(|u| u.user_name == name)
            .expect("the user is in the plan")
    }

    fn names<'a>(changes: &[Change<'a>]) -> Vec<(&'a str, Decision, Decision)> {
        changes
            .iter()
            .map(|c| (c.user_name, c.was, c.now))
            .collect()
    }

    #[test]
    fn a_plan_against_itself_has_no_change() {
        let plan = every_decision_plan();
        assert!(diff(&plan, &plan).is_empty());
    }

    #[test]
    fn changes_fall_into_three_groups() {
        let old = every_decision_plan();
        let mut new = old.clone();
        // alice fixed (no longer listed); bob appears; hank held -> deactivate; erin's
        // exemption removed and she is now to rotate; rita renamed in case only.
        let alice = new.users.remove(0);
        let mut bob = alice.clone();
        bob.user_name = "bob".into();
        new.users.push(bob);
        let hank = user_mut(&mut new, "hank");
        hank.decision = Decision::Deactivate;
        let erin = user_mut(&mut new, "erin");
        erin.decision = Decision::Rotate;
        let rita = user_mut(&mut new, "rita");
        rita.user_name = "Rita".into();

        let result = diff(&old, &new);
        use Decision::*;
        assert_eq!(
            names(&result.newly_non_compliant),
            [("bob", Compliant, Deactivate), ("erin", Exempt, Rotate)]
        );
        assert_eq!(names(&result.fixed), [("alice", Deactivate, Compliant)]);
        assert_eq!(names(&result.changed), [("hank", Hold, Deactivate)]);

        let text = to_text(&old, &new, &result);
        assert!(text.contains("newly non-compliant (2):"), "{text}");
        assert!(
            text.contains("  alice    deactivate -> compliant\n"),
            "{text}"
        );
        let markdown = to_markdown(&old, &new, &result);
        assert!(
            markdown.contains("| `hank` | hold | deactivate |"),
            "{markdown}"
        );
    }

    #[test]
    fn reasons_are_shown_as_data() {
        let old = every_decision_plan();
        let mut new = old.clone();
        let hank = user_mut(&mut new, "hank");
        hank.decision = Decision::Deactivate;
        hank.reason = "ok <!-- | x\u{1b}[8m".into();
        let result = diff(&old, &new);
        let text = to_text(&old, &new, &result);
        assert!(text.contains("ok <!-- | x\\u{1b}[8m"), "{text}");
        let markdown = to_markdown(&old, &new, &result);
        assert!(
            markdown.contains(r"ok &lt;!-- \| x\\u{1b}\[8m"),
            "{markdown}"
        );
    }
}
