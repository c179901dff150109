//! The JSON Schema of plan version 2 (which reads version 1 plans too), generated from the plan's Rust types. The
//! checked-in copy (`plans/schema/plan-v4.schema.json`) is kept equal to it by a test.

use super::model::Plan;

/// The schema as pretty JSON, with a trailing newline.
pub fn to_json() -> String {
    let schema = schemars::schema_for!(Plan);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}
