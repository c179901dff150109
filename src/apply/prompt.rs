//! The per-user confirmation, in the style of `git add -p`: `[y,n,a,q,?]`, a letter then
//! Enter; Enter alone means no.

use dialoguer::Input;
use dialoguer::theme::SimpleTheme;

/// What the person answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// y: this user.
    Yes,
    /// n: skip this user.
    No,
    /// a: this user and all the rest.
    All,
    /// q: skip this user and all the rest.
    Quit,
    /// ?: print help and ask again.
    Help,
    /// Ctrl-C, or the terminal went away: stop everything.
    Interrupted,
}

/// The help printed for `?`.
pub const HELP: &str = "y - yes, change this user\n\
n - no, skip this user\n\
a - yes to this user and all the remaining users\n\
q - quit: skip this user and all the remaining users\n\
? - print this help";

/// Read an answer; None for anything else. Enter alone is No.
pub fn parse_answer(text: &str) -> Option<Answer> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "n" | "no" => Some(Answer::No),
        "y" | "yes" => Some(Answer::Yes),
        "a" | "all" => Some(Answer::All),
        "q" | "quit" => Some(Answer::Quit),
        "?" | "h" | "help" => Some(Answer::Help),
        _ => None,
    }
}

/// Show `what` on stderr and ask `question [y,n,a,q,?]` until the answer is one of
/// y, n, a or q. Ctrl-C, or a terminal that goes away, is `Interrupted`.
pub fn ask(what: &str, question: &str) -> Answer {
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
            Some(Answer::Help) => eprintln!("{HELP}"),
            Some(answer) => return answer,
            None => eprintln!("please answer y, n, a, q or ? (then Enter)"),
        }
    }
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
