//! What is wrong with a plan: one broken rule, named by the user and field, shared by
//! the checks of a plan's shape (`validate`) and of its decisions (`standing`).

use std::fmt;

/// One broken rule, naming the user (where there is one) and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub user: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "user `{user}`: ")?;
        }
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}
