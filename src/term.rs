//! Strings from a plan or from IAM are data. This module owns how they are made safe
//! to show: on a terminal (no control sequence can reach it) and in Markdown (no HTML,
//! no broken table, no code span or emphasis started by the data).

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for characters that change how a terminal shows text rather than showing
/// themselves: C0 and C1 controls (ESC among them), and the Unicode marks that reorder
/// or separate text invisibly (bidirectional overrides and isolates, line and paragraph
/// separators).
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// The string with every hidden control written out as `\u{..}`, so it shows and does
/// nothing. Unchanged (and not copied) when there is none.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden_control(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The string as literal Markdown text, safe inside a table cell: `<`, `>` and `&` as
/// entities (no HTML, no comment), the punctuation that opens emphasis, code spans,
/// links, strike-through or a table cell behind a backslash, and hidden controls (line
/// breaks among them) written out as `\u{..}`. The data never starts a line, so the
/// punctuation that matters only there (`#`, `-`, `>`) needs nothing more.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if is_hidden_control(c) => {
                // A backslash before a letter is shown as is.
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_left_alone() {
        assert!(matches!(
            escape("alice: rotated 2026-11-01"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn terminal_controls_are_written_out() {
        assert_eq!(escape("a\u{1b}[8mhidden"), "a\\u{1b}[8mhidden");
        assert_eq!(escape("x\ny\r"), "x\\u{a}y\\u{d}");
        assert_eq!(escape("\u{202e}gnp.exe"), "\\u{202e}gnp.exe");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn markdown_cannot_open_html_or_break_a_table() {
        assert_eq!(markdown("<!-- hide"), "&lt;!-- hide");
        assert_eq!(markdown("a | b"), "a \\| b");
        assert_eq!(markdown("`code` *em*"), "\\`code\\` \\*em\\*");
        assert_eq!(markdown("one\ntwo"), "one\\\\u{a}two");
        assert_eq!(markdown("[x](javascript:1)"), "\\[x\\](javascript:1)");
    }

    proptest! {
        /// Whatever the input, nothing that a terminal would act on survives.
        #[test]
        fn escaped_text_has_no_hidden_control(text in any::<String>()) {
            prop_assert!(!escape(&text).chars().any(is_hidden_control));
        }

        /// Whatever the input, the Markdown has no tag, no comment, no line break, no
        /// unescaped pipe or backtick.
        #[test]
        fn markdown_text_is_inert(text in any::<String>()) {
            let out = markdown(&text);
            prop_assert!(!out.contains('<') && !out.contains('>'));
            prop_assert!(!out.chars().any(is_hidden_control));
            let bytes = out.as_bytes();
            for (index, byte) in bytes.iter().enumerate() {
                if matches!(byte, b'|' | b'`' | b'*' | b'_' | b'[') {
                    // Preceded by an odd number of backslashes: escaped.
                    let backslashes = bytes[..index].iter().rev().take_while(|b| **b == b'\\').count();
                    prop_assert!(backslashes % 2 == 1, "unescaped {} in {out}", *byte as char);
                }
            }
        }
    }
}
