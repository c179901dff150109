//! The report's chart of key ages: every key of the plan as a dot at its age on the
//! audit's day, one row per role, against the policy's maximum age, in inline SVG.

use maud::{Markup, html};

use super::text;
use crate::evidence::Evidence;
use crate::plan::{PlanKey, PlanUser};
use crate::rule::Decision;

/// What a key's dot stands for in the chart, in row order.
const ROWS: [&str; 6] = ["kept", "deactivate", "held", "rotate", "exempt", "inactive"];

fn row_of(user: &PlanUser, key: &PlanKey) -> usize {
    let id = key.access_key_id.as_str();
    match user.decision {
        _ if key.status != crate::facts::KeyStatus::Active => 5,
        Decision::Exempt => 4,
        Decision::Rotate => 3,
        _ if user.keep.as_deref() == Some(id) => 0,
        Decision::Hold if user.deactivate.iter().any(|k| k == id) => 2,
        _ if user.deactivate.iter().any(|k| k == id) => 1,
        _ => 5,
    }
}

const ROW_COLOURS: [&str; 6] = [
    "#1a7f37", "#b3261e", "#9a6700", "#8250df", "#0969da", "#8c959f",
];

/// Every key of the plan as a dot at its age on the audit's day, one row per role,
/// against the policy's maximum age.
pub(super) fn ages_chart(evidence: &Evidence) -> Markup {
    let plan = &evidence.plan;
    let dots: Vec<(usize, u32, String)> = plan
        .users
        .iter()
        .flat_map(|user| {
            user.keys.iter().map(move |key| {
                (
                    row_of(user, key),
                    key.age_days,
                    format!(
                        "{} {}: {} days",
                        text(&user.user_name),
                        key.access_key_id,
                        key.age_days
                    ),
                )
            })
        })
        .collect();
    if dots.is_empty() {
        return html! {};
    }
    let used: Vec<usize> = (0..ROWS.len())
        .filter(|row| dots.iter().any(|dot| dot.0 == *row))
        .collect();
    let limit = plan.policy.max_key_age_days;
    let oldest = dots.iter().map(|dot| dot.1).max().unwrap_or(0);
    // Days shown: at least twice the limit, rounded up to 30 days (in u64: a plan's
    // limit and ages are u32).
    let span = (u64::from(oldest).max(u64::from(limit) * 2) + 1).div_ceil(30) * 30;
    let (left, width, row_height) = (90.0, 620.0, 26.0);
    let x = |days: u32| left + width * f64::from(days) / span as f64;
    let height = row_height * used.len() as f64 + 34.0;
    let over = dots
        .iter()
        .filter(|dot| dot.1 >= limit && dot.0 != 5)
        .count();
    let label = format!(
        "{} keys by age in days; {over} active keys are {limit} days old or older",
        dots.len()
    );
    html! {
        section #ages {
            h2 { "Key ages" }
            figure {
                svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(label) width="740" height=(height) viewBox={ "0 0 740 " (height) } {
                    title { (label) }
                    @for (position, row) in used.iter().enumerate() {
                        @let y = row_height * position as f64 + 14.0;
                        text x="4" y=(y + 4.0) { (ROWS[*row]) }
                        line x1=(left) x2=(left + width) y1=(y) y2=(y) stroke="#d0d7de" {}
                        @for dot in dots.iter().filter(|dot| dot.0 == *row) {
                            circle cx=(x(dot.1)) cy=(y) r="4.5" fill=(ROW_COLOURS[*row]) fill-opacity="0.7" { title { (dot.2) } }
                        }
                    }
                    @let bottom = row_height * used.len() as f64;
                    line x1=(x(limit)) x2=(x(limit)) y1="0" y2=(bottom) stroke="#b3261e" stroke-dasharray="4 3" {}
                    text x=(x(limit) + 4.0) y=(bottom + 12.0) fill="#b3261e" { (limit) " days" }
                    text x=(left) y=(bottom + 26.0) { "0" }
                    text x=(left + width) y=(bottom + 26.0) text-anchor="end" { (span) " days" }
                }
                figcaption { (label) ". Each dot is a key of a user in the plan, at its age on the audit's day; the dashed line is the policy's maximum age." }
            }
        }
    }
}
