//! The remediation plan: its model (schema v1), how it is built from the rule's
//! verdicts, validated, loaded from disk, rendered, and compared with another.

pub mod diff;
pub mod load;
pub mod model;
pub mod problem;
pub mod render;
pub mod schema;
pub(crate) mod standing;
pub mod validate;

#[cfg(test)]
pub(crate) mod hand_off_tests;

pub use load::load;
pub use model::{Plan, PlanKey, PlanUser, Source, Summary};
