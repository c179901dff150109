//! Reading a plan file: size cap, UTF-8, schema version, strict parsing, then the
//! invariants. Every failure is one line naming the file, and the user and field where
//! there are some.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

use super::model::{PLAN_VERSION, Plan};
use super::validate;

/// Plans larger than this are refused before parsing.
pub const MAX_PLAN_BYTES: u64 = 8 * 1024 * 1024;

/// Just enough of a plan to tell its schema version before parsing the rest.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<serde_yaml::Value>,
}

/// Parse and validate plan text. The error is the detail, without the file name.
pub fn parse(text: &str) -> std::result::Result<Plan, String> {
    let head: VersionOnly =
        serde_yaml::from_str(text).map_err(|err| format!("not a plan: {err}"))?;
    match head.version {
        None => return Err("field `version`: missing; is this a keytrim plan?".into()),
        Some(serde_yaml::Value::Number(n)) if n.as_u64() == Some(u64::from(PLAN_VERSION)) => {}
        Some(other) => {
            let shown = serde_yaml::to_string(&other).unwrap_or_default();
            return Err(format!(
                "field `version`: unsupported plan version {} (this keytrim reads version {PLAN_VERSION})",
                shown.trim()
            ));
        }
    }
    let plan: Plan =
        serde_yaml::from_str(text).map_err(|err| name_the_user(text, &err.to_string()))?;
    validate::validate(&plan).map_err(|problem| problem.to_string())?;
    Ok(plan)
}

/// Put the user's name in front of a parse error about `users[N]...`, so the reader
/// does not have to count entries.
fn name_the_user(text: &str, message: &str) -> String {
    let index = message
        .strip_prefix("users[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(index, _)| index.parse::<usize>().ok());
    let name = index.and_then(|index| {
        let document: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
        document
            .get("users")?
            .get(index)?
            .get("user_name")?
            .as_str()
            .map(str::to_string)
    });
    match name {
        Some(name) => format!("user `{name}`: {message}"),
        None => message.to_string(),
    }
}

/// Read, parse and validate a plan file.
pub fn load(path: &Path) -> Result<Plan> {
    let fail = |detail: String| Error::Plan {
        path: path.display().to_string(),
        detail,
    };
    let file = std::fs::File::open(path).map_err(|err| fail(describe_io(&err)))?;
    let mut bytes = Vec::new();
    file.take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| fail(describe_io(&err)))?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(fail(format!(
            "file is larger than the {} MiB limit for plans",
            MAX_PLAN_BYTES / (1024 * 1024)
        )));
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        fail(format!(
            "not UTF-8 text (invalid byte at offset {})",
            err.utf8_error().valid_up_to()
        ))
    })?;
    parse(&text).map_err(fail)
}

fn describe_io(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    }
}
