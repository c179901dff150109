//! Colour for output people read: on for terminals unless `NO_COLOR` is set, or as
//! `--color always|never` says. Machine output (YAML, JSON, SARIF) is never coloured.

use console::Style;

use super::cli::ColorChoice;
use crate::rule::Decision;

/// Whether to colour, decided once per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Palette {
    enabled: bool,
}

impl Palette {
    /// Decide for a stream: `--color`, the `NO_COLOR` convention, and whether the stream
    /// is a terminal.
    pub(crate) fn new(choice: ColorChoice, no_color_set: bool, is_terminal: bool) -> Palette {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color_set,
        };
        Palette { enabled }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.enabled {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    /// Good news: verified, compliant.
    pub(crate) fn good(&self, text: &str) -> String {
        self.paint(Style::new().green(), text)
    }

    /// Needs a look: held, drifted, declined, unverified.
    pub(crate) fn warn(&self, text: &str) -> String {
        self.paint(Style::new().yellow(), text)
    }

    /// Something failed, or will change.
    pub(crate) fn bad(&self, text: &str) -> String {
        self.paint(Style::new().red().bold(), text)
    }

    /// A decision word, coloured by what it means for the account.
    pub(crate) fn decision(&self, decision: Decision, text: &str) -> String {
        match decision {
            Decision::Compliant => self.good(text),
            Decision::Deactivate | Decision::Rotate | Decision::Unreadable => self.bad(text),
            Decision::Hold => self.warn(text),
            Decision::Exempt => self.paint(Style::new().cyan(), text),
        }
    }
}

impl crate::plan::render::DecisionColour for Palette {
    fn decision(&self, decision: Decision, text: &str) -> String {
        Palette::decision(self, decision, text)
    }
}

/// True when `NO_COLOR` is set to anything but the empty string (no-color.org).
pub(crate) fn no_color_set() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_terminals_without_no_color() {
        assert!(Palette::new(ColorChoice::Auto, false, true).enabled);
        assert!(!Palette::new(ColorChoice::Auto, true, true).enabled);
        assert!(!Palette::new(ColorChoice::Auto, false, false).enabled);
        assert!(Palette::new(ColorChoice::Always, true, false).enabled);
        assert!(!Palette::new(ColorChoice::Never, false, true).enabled);
    }

    #[test]
    fn plain_text_stays_plain() {
        assert_eq!(Palette::new(ColorChoice::Never, false, true).bad("x"), "x");
        assert!(
            Palette::new(ColorChoice::Always, false, false)
                .bad("x")
                .contains("\u{1b}[")
        );
    }
}
