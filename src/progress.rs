//! Progress on stderr for long runs (audit and apply): users done out of the total, and
//! the rate. Shown only when stderr is a terminal and `--quiet` is off.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar for `what` ("users"), hidden unless stderr is a terminal and not quiet.
pub fn bar(what: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let template =
        format!("{{spinner}} {{pos}}/{{len}} {what} [{{bar:30}}] {{per_sec}}, {{elapsed}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}
