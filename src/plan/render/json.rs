//! The plan as JSON, for scripts.

use crate::plan::Plan;

/// The plan as pretty JSON.
pub fn to_json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).expect("a plan always serialises to JSON");
    text.push('\n');
    text
}
