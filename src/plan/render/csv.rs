//! Plans as CSV (RFC 4180) for spreadsheets: one header, then a row per key of every
//! user each plan lists (a row with empty key cells for a user with none), several
//! plans (an Organization's) under the one header. A cell a spreadsheet would evaluate
//! is neutralised, as OWASP advises against CSV injection, and hidden characters are
//! written out: plans and IAM are data.

use crate::plan::standing;
use crate::plan::{Plan, PlanKey, PlanUser};
use crate::rule::Decision;
use crate::safe_text;

/// The columns, in order.
const HEADER: [&str; 15] = [
    "account_id",
    "user_name",
    "user_arn",
    "decision",
    "reviewer_override_of",
    "rotation_due",
    "access_key_id",
    "status",
    "created",
    "age_days",
    "last_used",
    "last_used_service",
    "last_used_region",
    "planned_action",
    "reason",
];

/// Whether a spreadsheet may read the cell as a formula: its first character (after
/// any leading white space, which some spreadsheets trim) is one OWASP lists (`=`, `+`,
/// `-`, `@`, a tab, a carriage return) or its full-width form, which some spreadsheets
/// take for it.
fn starts_a_formula(cell: &str) -> bool {
    let starts = |text: &str| {
        text.starts_with([
            '=', '+', '-', '@', '\t', '\r', '\u{ff1d}', '\u{ff0b}', '\u{ff0d}', '\u{ff20}',
        ])
    };
    starts(cell) || starts(cell.trim_start())
}

/// A cell as written: every hidden character but the line break written out (a
/// reason's line breaks are kept, and quoted by the writer), then a leading `'` where
/// a spreadsheet would take the cell for a formula. IAM allows user names such as
/// `=2+5`.
fn cell(text: &str) -> String {
    let shown: String = text
        .split('\n')
        .map(|line| safe_text::escape(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    if starts_a_formula(text) || starts_a_formula(&shown) {
        format!("'{shown}")
    } else {
        shown
    }
}

/// What apply is to do with `key`: `deactivate` or `keep` for a user the plan
/// deactivates keys of; `held` for a key a held user would lose once a reviewer
/// approves (apply leaves it); `rotate` for the one key of a user handed off to a
/// secret (`rotate_to`: a new key is made beside it, which stays Active); `none`
/// otherwise (an Inactive key, an exempt or unreadable user, a `rotate` that is advice
/// only, or a user the exemptions file exempts, whom apply leaves alone whatever the
/// plan says).
fn planned_action(plan: &Plan, user: &PlanUser, key: &PlanKey) -> &'static str {
    let listed = user.deactivate.contains(&key.access_key_id);
    let kept = user.keep.as_deref() == Some(key.access_key_id.as_str());
    let left_alone = standing::override_of(plan, user) == Some(Decision::Exempt);
    match user.decision {
        _ if left_alone => "none",
        Decision::Deactivate if listed => "deactivate",
        Decision::Deactivate | Decision::Hold if kept => "keep",
        Decision::Hold if listed => "held",
        Decision::Rotate if user.rotate_to.is_some() => "rotate",
        _ => "none",
    }
}

/// The user's reason, with IAM's error for an unreadable user.
fn reason(user: &PlanUser) -> String {
    match &user.error {
        Some(error) => format!("{}: {error}", user.reason),
        None => user.reason.clone(),
    }
}

fn rows(plan: &Plan) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for user in &plan.users {
        let user_cells = [
            plan.account_id.clone(),
            user.user_name.clone(),
            user.user_arn.clone(),
            user.decision.as_str().to_string(),
            standing::override_of(plan, user)
                .map(|rule| rule.as_str().to_string())
                .unwrap_or_default(),
            user.rotation_due.to_string(),
        ];
        let key_cells = |key: &PlanKey| {
            [
                key.access_key_id.clone(),
                key.status.as_str().to_string(),
                key.created
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                key.age_days.to_string(),
                key.last_used
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
                key.last_used_service.clone().unwrap_or_default(),
                key.last_used_region.clone().unwrap_or_default(),
                planned_action(plan, user, key).to_string(),
            ]
        };
        let keys: Vec<[String; 8]> = if user.keys.is_empty() {
            vec![Default::default()]
        } else {
            user.keys.iter().map(key_cells).collect()
        };
        for key in keys {
            let mut row: Vec<String> = user_cells.to_vec();
            row.extend(key);
            row.push(reason(user));
            rows.push(row.iter().map(|text| cell(text)).collect());
        }
    }
    rows
}

/// The plans as one CSV document: the header, then each plan's rows in turn.
pub fn to_csv(plans: &[Plan]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let all =
        std::iter::once(HEADER.map(str::to_string).to_vec()).chain(plans.iter().flat_map(rows));
    for row in all {
        writer
            .write_record(&row)
            .expect("writing CSV to memory cannot fail");
    }
    let bytes = writer
        .into_inner()
        .expect("flushing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("CSV made of strings is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::tests::every_decision_plan;

    #[test]
    fn a_cell_a_spreadsheet_would_evaluate_is_neutralised() {
        for formula in [
            "=2+5",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            " =1+1",
            "\u{a0}=1+1",
            "\u{3000}=1+1",
            "\u{ff1d}1+1",
            "\u{ff0b}cmd",
        ] {
            let written = cell(formula);
            assert!(written.starts_with('\''), "{formula:?} -> {written:?}");
        }
        assert_eq!(cell("alice"), "alice");
        assert_eq!(cell("line one\nline two"), "line one\nline two");
        assert_eq!(cell("\u{1b}[8mhidden"), "\\u{1b}[8mhidden");
        assert_eq!(cell("a\u{202e}b"), "a\\u{202e}b");
    }

    /// One row per key, each carrying its user's cells; what apply does with each key.
    #[test]
    fn every_key_is_a_row_with_its_planned_action() {
        let plan = every_decision_plan();
        let text = to_csv(std::slice::from_ref(&plan));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(header, HEADER);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let keys: usize = plan.users.iter().map(|u| u.keys.len().max(1)).sum();
        assert_eq!(records.len(), keys);
        let action = |user: &str, key: &str| {
            records
                .iter()
                .find(|r| &r[1] == user && &r[6] == key)
                .map(|r| r[13].to_string())
                .unwrap()
        };
        assert_eq!(action("alice", "AKIAEXAMPLEALICE0001"), "deactivate");
        assert_eq!(action("alice", "AKIAEXAMPLEALICE0002"), "keep");
        assert_eq!(action("alice", "AKIAEXAMPLEALICE0003"), "none");
        // hank is held: apply leaves both keys; the held one is marked as such.
        assert_eq!(action("hank", "AKIAEXAMPLEHANK00001"), "held");
        assert_eq!(action("hank", "AKIAEXAMPLEHANK00002"), "keep");
        assert!(records.iter().all(|r| &r[0] == "123456789012"));
    }
}
