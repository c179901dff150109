//! Progress on stderr for long runs (audit and apply): users done out of the total, and
//! the rate. Shown only when stderr is a terminal and `--quiet` is off. Part of the
//! shell: the core reports through `progress::Progress`, implemented here with indicatif.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{NoProgress, Progress, SharedProgress};

impl Progress for ProgressBar {
    fn set_total(&self, total: u64) {
        self.set_length(total);
    }

    fn add_to_total(&self, more: u64) {
        self.inc_length(more);
    }

    fn advance(&self) {
        self.inc(1);
    }

    fn finish(&self) {
        self.finish_and_clear();
    }
}

/// A bar for `what` ("users"), or nothing unless stderr is a terminal and not quiet.
pub(crate) fn bar(what: &str, quiet: bool) -> SharedProgress {
    if quiet || !std::io::stderr().is_terminal() {
        return Arc::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let template =
        format!("{{spinner}} {{pos}}/{{len}} {what} [{{bar:30}}] {{per_sec}}, {{elapsed}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    Arc::new(bar)
}
