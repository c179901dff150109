//! Reading a plan file: size cap, UTF-8, schema version, strict parsing, then the
//! invariants. Every failure is one line naming the file, and the user and field where
//! there are some.

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::{Error, Result};

use crate::yaml::{MAX_FLOW_DEPTH, max_flow_depth, yaml_extras};

use super::model::{Plan, READABLE_PLAN_VERSIONS};
use super::validate;

/// Plans larger than this are refused before parsing.
pub(crate) const MAX_PLAN_BYTES: u64 = 8 * 1024 * 1024;

/// How far ahead of this machine's clock a plan's `generated_at` may be: the clocks of
/// the machine that audited and the one that applies differ a little.
pub(crate) const CLOCK_SKEW_SECONDS: i64 = 60;

/// Just enough of a plan to tell its schema version before parsing the rest.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<serde_yaml::Value>,
    /// To tell which policy fields the file itself holds (serde fills defaults in).
    policy: Option<serde_yaml::Value>,
}

/// The policy fields that came with version 3, and with version 4: a plan of that
/// version or later states them (a missing one must not quietly pick a reading). An
/// older plan is read as the older reading, and one that says otherwise is refused
/// (`validate`).
const VERSION_3_POLICY: [&str; 2] = ["require_fresh_key", "unused_days"];
const VERSION_4_POLICY: [&str; 1] = ["rotation"];

/// Parse and validate plan text, as of this machine's clock. The error is the detail,
/// without the file name.
pub fn parse(text: &str) -> std::result::Result<Plan, String> {
    parse_at(text, chrono::Utc::now())
}

/// Parse and validate plan text as of `now`: a plan whose `generated_at` is later than
/// `now` (beyond `CLOCK_SKEW_SECONDS`) is refused, since no audit has happened then.
pub(crate) fn parse_at(text: &str, now: DateTime<Utc>) -> std::result::Result<Plan, String> {
    if max_flow_depth(text) > MAX_FLOW_DEPTH {
        return Err(format!(
            "not a plan: collections nested deeper than {MAX_FLOW_DEPTH} levels"
        ));
    }
    if let Some(problem) = yaml_extras(text) {
        return Err(format!("not a plan: {problem}"));
    }
    let head: VersionOnly = serde_yaml::from_str(text).map_err(|err| {
        let detail = err
            .to_string()
            .replace("struct VersionOnly", "a mapping of plan fields");
        format!("not a plan: {detail}")
    })?;
    let version = head.version.as_ref().and_then(serde_yaml::Value::as_u64);
    match head.version {
        None => return Err("field `version`: missing; is this a keytrim plan?".into()),
        Some(serde_yaml::Value::Number(n))
            if n.as_u64()
                .is_some_and(|v| READABLE_PLAN_VERSIONS.iter().any(|r| u64::from(*r) == v)) => {}
        Some(other) => {
            let shown = serde_yaml::to_string(&other).unwrap_or_default();
            return Err(format!(
                "field `version`: unsupported plan version {} (this keytrim reads versions 1 to 4)",
                shown.trim()
            ));
        }
    }
    let states = |field: &str| {
        head.policy
            .as_ref()
            .and_then(serde_yaml::Value::as_mapping)
            .is_some_and(|policy| policy.contains_key(field))
    };
    let stated: Vec<&str> = match version {
        Some(3) => VERSION_3_POLICY.to_vec(),
        Some(4..) => VERSION_3_POLICY
            .into_iter()
            .chain(VERSION_4_POLICY)
            .collect(),
        _ => Vec::new(),
    };
    if let (Some(version), Some(field)) = (version, stated.into_iter().find(|field| !states(field)))
    {
        return Err(format!(
            "field `policy.{field}`: missing; a version {version} plan states which reading of the rule it used"
        ));
    }
    let plan: Plan =
        serde_yaml::from_str(text).map_err(|err| name_the_user(text, &err.to_string()))?;
    if plan.generated_at > now + chrono::Duration::seconds(CLOCK_SKEW_SECONDS) {
        return Err(format!(
            "field `generated_at`: {} is in the future (this machine's clock says {}); a plan records an audit that has already happened",
            plan.generated_at.format("%Y-%m-%dT%H:%M:%SZ"),
            now.format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
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
    load_with_text(path).map(|(plan, _)| plan)
}

/// Read, parse and validate a plan file; the plan with the exact text it was read from
/// (for a digest of what was checked).
pub(crate) fn load_with_text(path: &Path) -> Result<(Plan, String)> {
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
    let mut plan = parse(&text).map_err(fail)?;
    read_exemptions(&mut plan, None)?;
    Ok((plan, text))
}

/// What the exemptions file says of the plan's users: `given` (apply `--exemptions`,
/// which must read), else the file the plan records, read again where it is (relative
/// to the working directory). A recorded file that cannot be read here, or differs
/// from the one the audit read, is a note, never an error: the plan still shows.
pub(crate) fn read_exemptions(plan: &mut Plan, given: Option<&Path>) -> Result<()> {
    let recorded = plan.exemptions.clone();
    let (exemptions, sha256, path) = match (given, &recorded) {
        (Some(path), _) => {
            let (exemptions, sha256) = crate::exemptions::Exemptions::load_with_sha256(path)?;
            (exemptions, sha256, path.display().to_string())
        }
        (None, Some(file)) => {
            match crate::exemptions::Exemptions::load_with_sha256(Path::new(&file.path)) {
                Ok((exemptions, sha256)) => (exemptions, sha256, file.path.clone()),
                Err(_) => {
                    plan.exempt_by_file = super::model::FileExemptions {
                        entries: Vec::new(),
                        note: Some(format!(
                            "the exemptions file the audit read, `{}`, cannot be read here: an edit that drops one of its exemptions cannot be seen",
                            file.path
                        )),
                    };
                    return Ok(());
                }
            }
        }
        (None, None) => return Ok(()),
    };
    let mut read = super::model::FileExemptions::of(&plan.users, &exemptions);
    read.note = match &recorded {
        Some(file) if file.sha256 != sha256 => Some(format!(
            "the exemptions file `{path}` is not the one the audit read (its SHA-256 differs): its exemptions as it is now are applied"
        )),
        _ => None,
    };
    plan.exempt_by_file = read;
    Ok(())
}

fn describe_io(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    use proptest::prelude::*;

    const GOOD: &str = include_str!("../../tests/fixtures/plans/every-decision.yaml");

    fn arbitrary_yaml() -> impl Strategy<Value = serde_yaml::Value> {
        let leaf = prop_oneof![
            Just(serde_yaml::Value::Null),
            any::<bool>().prop_map(serde_yaml::Value::from),
            any::<i64>().prop_map(serde_yaml::Value::from),
            "[a-zA-Z0-9_ :'\\[\\]{}*&!-]{0,12}".prop_map(serde_yaml::Value::from),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_yaml::Value::from),
                proptest::collection::vec(("[a-z_]{1,10}", inner), 0..8).prop_map(|pairs| {
                    serde_yaml::Value::Mapping(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (serde_yaml::Value::from(k), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(crate::proptest_config(512))]

        /// Arbitrary bytes never panic the loader.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        /// Arbitrary YAML documents never panic the loader, nor pass as a plan.
        #[test]
        fn arbitrary_yaml_never_panics(document in arbitrary_yaml()) {
            let text = serde_yaml::to_string(&document).unwrap();
            prop_assert!(parse(&text).is_err());
        }

        /// A real plan with a slice cut out or a byte changed never panics the loader.
        #[test]
        fn damaged_plans_never_panic(start in 0..GOOD.len(), len in 0..400usize, byte in any::<u8>()) {
            let mut bytes = GOOD.as_bytes().to_vec();
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
            if start < bytes.len() {
                bytes[start] = byte;
            }
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn anchors_aliases_and_tags_are_refused() {
        for (text, what) in [
            ("version: 1\na: &x [1]\nb: *x\n", "anchors"),
            ("version: 1\nb: *x\n", "not YAML"),
            ("version: 1\nreason: !!str hello\n", "tags"),
            ("version: 1\nreason: !custom hello\n", "tags"),
            ("version: 1\nusers: &u []\n", "anchors"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(what), "{text}: {err}");
        }
        // What libyaml reads as a new line cannot hide one in a comment.
        for (line_break, hidden, what) in [
            (
                '\u{2028}',
                "a: &x 1",
                "anchors (`&name`) are not accepted in a plan (line 3)",
            ),
            (
                '\u{2029}',
                "a: !!str 1",
                "tags (`!tag`) are not accepted in a plan (line 3)",
            ),
            (
                '\u{85}',
                "a: &x 1\nb: *x",
                "anchors (`&name`) are not accepted in a plan (line 3)",
            ),
        ] {
            let text = format!("version: 1\n# note{line_break}{hidden}\n");
            let err = yaml_extras(&text).unwrap_or_default();
            assert!(err.contains(what), "{line_break:?}: {err}");
        }
        // Anchors, aliases and tags inside quotes and comments are text.
        assert_eq!(yaml_extras("reason: '&a *b !c' # &d *e !f\n"), None);
        assert_eq!(yaml_extras(GOOD), None);
    }

    /// The alias bomb: ten anchors, each nine aliases of the one before, expand to
    /// 9^10 scalars. It is refused at its first anchor, reading only its first lines.
    #[test]
    fn an_alias_bomb_is_refused_without_expanding_it() {
        let mut text =
            String::from("version: 1\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            let _ = writeln!(
                text,
                "a{level}: &a{level} [{}]",
                vec![previous; 9].join(", ")
            );
        }
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err,
            "not a plan: YAML anchors (`&name`) are not accepted in a plan (line 2)"
        );
    }

    #[test]
    fn a_plan_from_the_future_is_refused() {
        let plan = parse(GOOD).unwrap();
        let audit = plan.generated_at;
        assert!(parse_at(GOOD, audit).is_ok());
        assert!(parse_at(GOOD, audit - chrono::Duration::seconds(CLOCK_SKEW_SECONDS)).is_ok());
        let err = parse_at(GOOD, audit - chrono::Duration::days(30)).unwrap_err();
        assert!(
            err.starts_with("field `generated_at`: 2026-11-29T12:00:00Z is in the future"),
            "{err}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let text = format!(
            "version: 1\nx: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = parse(&text).unwrap_err();
        assert!(err.contains("nested deeper than 64 levels"), "{err}");
    }
}
