//! The plan as text for a terminal, coloured by the caller's palette.

use std::fmt::Write as _;

use crate::plan::Plan;
use crate::rule::Decision;
use crate::safe_text;

use super::{
    described, effective_summary, last_used, no_fresh_key_reading, role, rotation_due_count,
    rotation_mark, timestamp, unreadable_count,
};

/// How text output colours a decision word: the shell's palette does, `Plain` does not.
pub trait DecisionColour {
    fn decision(&self, decision: Decision, text: &str) -> String;
}

/// No colour.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl DecisionColour for Plain {
    fn decision(&self, _: Decision, text: &str) -> String {
        text.to_string()
    }
}

/// Text for a terminal, coloured by `palette`, columns aligned to the longest name.
pub fn to_text_styled(plan: &Plan, palette: &dyn DecisionColour) -> String {
    let summary = effective_summary(plan);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for AWS account {} ({}), generated {} by {}",
        plan.account_id,
        plan.partition,
        timestamp(plan.generated_at),
        safe_text::escape(&plan.generated_by)
    );
    let _ = writeln!(
        out,
        "Policy: max key age {} days, in-use window {} days, in-use guard {}; {}",
        plan.policy.max_key_age_days,
        plan.policy.in_use_window_days,
        if plan.policy.in_use_guard {
            "on"
        } else {
            "off"
        },
        no_fresh_key_reading(&plan.policy)
    );
    for line in super::exemptions_lines(plan, |text| safe_text::escape(text).into_owned()) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "Users scanned {}: compliant {}, deactivate {}, hold {}, rotate {}, exempt {}{}{}",
        summary.users_scanned,
        summary.compliant,
        summary.deactivate,
        summary.hold,
        summary.rotate,
        summary.exempt,
        unreadable_count(&summary),
        rotation_due_count(&summary)
    );
    for user in &plan.users {
        let _ = writeln!(out);
        let word = format!("{:<10}", user.decision.as_str());
        let _ = writeln!(
            out,
            "{} {}",
            palette.decision(user.decision, &word),
            user.user_name
        );
        let _ = writeln!(out, "           {}", safe_text::escape(&user.reason));
        if let Some(mark) = rotation_mark(plan, user) {
            let _ = writeln!(out, "           ROTATION DUE: {mark}");
        }
        if let Some(hand_off) = super::hand_off(plan, user, str::to_string) {
            let _ = writeln!(out, "           HAND-OFF: {hand_off}");
        }
        for key in &user.keys {
            let _ = writeln!(
                out,
                "  {:<10} {}  {:<8}  {:>4} days  {}",
                role(user, key),
                key.access_key_id,
                key.status.as_str(),
                key.age_days,
                if user.decision == Decision::Unreadable && key.last_used.is_none() {
                    "last use not read".to_string()
                } else {
                    last_used(key)
                }
            );
            if let Some(description) = &key.description {
                let _ = writeln!(out, "             {}", described(description));
            }
        }
    }
    if plan.users.is_empty() {
        let _ = writeln!(
            out,
            "\nNothing to do: every user has at most one active key."
        );
    }
    out
}
