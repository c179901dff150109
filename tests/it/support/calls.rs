//! Reading the calls the local IAM recorded: their parameters, and which change state.

/// One form parameter of a recorded call.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Actions that change IAM state.
pub(crate) fn is_write(action: &str) -> bool {
    [
        "Create",
        "Delete",
        "Update",
        "Put",
        "Attach",
        "Detach",
        "Tag",
        "Untag",
        "Add",
        "Remove",
        "Upload",
        "Enable",
        "Deactivate",
        "Set",
        "Change",
        "Reset",
    ]
    .iter()
    .any(|prefix| action.starts_with(prefix))
}
