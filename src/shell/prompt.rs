//! The per-user confirmation on the terminal, in the style of `git add -p`:
//! `[y,n,a,q,?]`, a letter then Enter; Enter alone means no. The answers' meaning is
//! the change engine's (`change::Answer`); reading them is the shell's.

use dialoguer::Input;
use dialoguer::theme::SimpleTheme;

use std::fmt::Write as _;

use crate::change::Answer;
use crate::change::execute::UserChange;
use crate::plan::{PlanKey, PlanUser};
use crate::safe_text;

/// The help printed for `?`.
const ANSWER_HELP: &str = "y - yes, change this user\n\
n - no, skip this user\n\
a - yes to this user and all the remaining users\n\
q - quit: skip this user and all the remaining users\n\
? - print this help";

/// Read an answer; None for anything else. Enter alone is No.
fn parse_answer(text: &str) -> Option<Answer> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "n" | "no" => Some(Answer::No),
        "y" | "yes" => Some(Answer::Yes),
        "a" | "all" => Some(Answer::All),
        "q" | "quit" => Some(Answer::Quit),
        "?" | "h" | "help" => Some(Answer::Help),
        _ => None,
    }
}

/// Show what `work` would change on stderr and ask whether to, `[y,n,a,q,?]`, until
/// the answer is one of y, n, a or q. Ctrl-C, or a terminal that goes away, is
/// `Interrupted`.
pub(crate) fn ask(work: &UserChange) -> Answer {
    let (what, question) = match work {
        UserChange::Deactivate { user, .. } => (
            describe_deactivation(user),
            format!("Deactivate these keys of {}?", user.user_name),
        ),
        UserChange::Reactivate { user_name, keys } => {
            // Names from the journal were checked as IAM identities when it was read.
            // Keys IAM refused to switch off are only looked at: not asked about.
            let ids: Vec<&str> = keys
                .iter()
                .filter(|key| !key.refused)
                .map(|key| key.id.as_str())
                .collect();
            (
                format!("\nUser {user_name}\n  reactivate {}\n", ids.join(", ")),
                format!("Re-activate these keys of {user_name}?"),
            )
        }
        UserChange::HandOff { user, .. } => (describe_hand_off(user), {
            let name = safe_text::escape(&user.user_name);
            format!("Create a new key for {name} and hand it off?")
        }),
        // The secret's ARN was checked as one when the journal was read.
        // Names from a journal were checked when it was read, and are escaped all the
        // same, like every string from a file.
        UserChange::Resume { unfinished, .. } => {
            let user = safe_text::escape(&unfinished.user_name);
            (
                format!(
                    "\nUser {user}\n  an earlier apply's rotation into {} is unfinished: take it up (probe and promote the staged key, or switch off the key it made)\n",
                    safe_text::escape(&unfinished.rotation.secret_arn)
                ),
                format!("Take up the rotation of {user}?"),
            )
        }
        UserChange::Restore {
            user_name,
            rotation,
            new_key,
        } => {
            let user = safe_text::escape(user_name);
            (
                format!(
                    "\nUser {user}\n  move AWSCURRENT of {} back to the old key {}; the new key {} stays Active\n",
                    safe_text::escape(&rotation.secret_arn),
                    safe_text::escape(&rotation.old_access_key_id),
                    safe_text::escape(new_key)
                ),
                format!("Move the secret of {user} back?"),
            )
        }
    };
    eprintln!("{what}");
    loop {
        let reply = Input::<String>::with_theme(&SimpleTheme)
            .with_prompt(format!("{question} [y,n,a,q,?]"))
            .allow_empty(true)
            .report(false)
            .interact_text();
        let Ok(reply) = reply else {
            return Answer::Interrupted;
        };
        match parse_answer(&reply) {
            Some(Answer::Help) => eprintln!("{ANSWER_HELP}"),
            Some(answer) => return answer,
            None => eprintln!("please answer y, n, a, q or ? (then Enter)"),
        }
    }
}

/// What a rotation hand-off will do, step by step. The secret's ARN was validated as
/// one when the plan was loaded; the user name is escaped like every plan string.
fn describe_hand_off(user: &PlanUser) -> String {
    let secret = user
        .rotate_to
        .as_ref()
        .map_or("", |rotate_to| rotate_to.secret_arn.as_str());
    let mut text = format!("\nUser {}\n", safe_text::escape(&user.user_name));
    for key in &user.keys {
        text.push_str(&key_line("old key", key));
        text.push('\n');
    }
    let _ = write!(
        text,
        "  rotate to  {secret}\n  steps      prove the secret's key signs in as the user; create a new key;\n             stage it as AWSPENDING; probe it; move AWSCURRENT to it.\n             The old key stays Active until the application stops using it.\n"
    );
    text
}

/// One key's line in the prompt: its role, age, last use and description.
fn key_line(role: &str, key: &PlanKey) -> String {
    let mut line = format!(
        "  {role:<10} {}  {:>4} days old  {}",
        key.access_key_id,
        key.age_days,
        crate::plan::render::last_used(key)
    );
    if let Some(description) = &key.description {
        let _ = write!(
            line,
            "\n             {}",
            crate::plan::render::described(description)
        );
    }
    line
}

/// What the prompt shows for a planned deactivation.
fn describe_deactivation(user: &PlanUser) -> String {
    let mut text = format!(
        "\nUser {} ({})\n",
        user.user_name,
        safe_text::escape(&user.user_arn)
    );
    for key in &user.keys {
        if user.keep.as_deref() == Some(key.access_key_id.as_str()) {
            let _ = writeln!(text, "{}", key_line("keep", key));
        } else if user.deactivate.contains(&key.access_key_id) {
            let _ = writeln!(text, "{}", key_line("deactivate", key));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_a_letter_and_enter_alone_is_no() {
        assert_eq!(parse_answer("y\n"), Some(Answer::Yes));
        assert_eq!(parse_answer("N"), Some(Answer::No));
        assert_eq!(parse_answer(""), Some(Answer::No));
        assert_eq!(parse_answer("a"), Some(Answer::All));
        assert_eq!(parse_answer("q"), Some(Answer::Quit));
        assert_eq!(parse_answer("?"), Some(Answer::Help));
        assert_eq!(parse_answer("yolo"), None);
    }
}
