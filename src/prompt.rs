//! The per-user confirmation on the terminal, in the style of `git add -p`:
//! `[y,n,a,q,?]`, a letter then Enter; Enter alone means no. Part of the shell: the
//! answers and their meaning are the core's (`change::Answer`).

use dialoguer::Input;
use dialoguer::theme::SimpleTheme;

use crate::change::{ANSWER_HELP, Answer, parse_answer};

/// Show `what` on stderr and ask `question [y,n,a,q,?]` until the answer is one of
/// y, n, a or q. Ctrl-C, or a terminal that goes away, is `Interrupted`.
pub(crate) fn ask(what: &str, question: &str) -> Answer {
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
