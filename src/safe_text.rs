//! Strings from a plan or from IAM are data. This module owns how they are made safe
//! to show: on a terminal (no control sequence can reach it, no character hides) and in
//! Markdown for GitHub (no HTML, no broken table, no code span or emphasis started by
//! the data, and no mention, issue reference or link made from it).

use std::borrow::Cow;
use std::fmt::Write as _;

use icu_properties::CodePointSetData;
use icu_properties::props::{BidiControl, DefaultIgnorableCodePoint};

/// True for characters that change how text is shown rather than showing themselves:
/// every control (C0 and C1, ESC among them), the line and paragraph separators, and
/// all of Unicode's Bidi_Control (reordering marks, overrides, isolates, the Arabic
/// letter mark U+061C) and Default_Ignorable_Code_Point characters (zero-width spaces
/// and joiners, U+FEFF, variation selectors, tag characters, ...), as Unicode's own
/// property data lists them.
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || CodePointSetData::new::<BidiControl>().contains(c)
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
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

/// Characters GitHub reads as part of a link, mention or reference: a run of them is
/// judged whole, and shown in a code span when GitHub would make it live.
fn is_reference_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._~:/?#[]@!$'()*+,;=%-".contains(c)
}

/// True when GitHub would make `run` live in a comment, by its documented rules:
/// `@name` and `@org/team` mentions and `name@host` e-mail links, `#123`, `GH-123` and
/// `owner/repo#123` references, `scheme://` and `www.` links, and commit SHAs (7 to
/// 40 hex digits). Inside a code span GitHub makes none of these.
fn github_would_link(run: &str) -> bool {
    let lower = run.to_ascii_lowercase();
    let digit_after = |marker: &str| {
        lower.match_indices(marker).any(|(at, _)| {
            lower[at + marker.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    };
    let sha = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|piece| {
            (7..=40).contains(&piece.len()) && piece.chars().all(|c| c.is_ascii_hexdigit())
        });
    run.contains('@')
        || lower.contains("://")
        || lower.contains("www.")
        || digit_after("#")
        || digit_after("gh-")
        || sha
}

/// One character as literal Markdown text (see `markdown`).
fn push_markdown_char(out: &mut String, c: char) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        // `$` opens GitHub's math, which can hide or restyle text.
        '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
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

/// The string as literal Markdown text for GitHub, safe inside a table cell: `<`, `>`
/// and `&` as entities (no HTML, no comment), the punctuation that opens emphasis,
/// code spans, links, strike-through or a table cell behind a backslash, and hidden
/// controls (line breaks among them) written out as `\u{..}`. A run of characters that
/// GitHub would turn into a mention, a reference or a link is shown in a code span,
/// where GitHub turns nothing into anything: such a run holds no backtick, pipe,
/// space or `<>&`, so the code span shows it exactly. The data never starts a line, so
/// the punctuation that matters only there (`#`, `-`, `>`) needs nothing more.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if is_reference_char(c) {
            let end = rest
                .find(|c: char| !is_reference_char(c))
                .unwrap_or(rest.len());
            let run = &rest[..end];
            if github_would_link(run) {
                let _ = write!(out, "`{run}`");
            } else {
                let mut chars = run.chars().peekable();
                while let Some(c) = chars.next() {
                    // `:name:` is an emoji shortcode on GitHub: its opening colon is
                    // escaped, so the text shows as written.
                    let shortcode =
                        |next: &char| next.is_ascii_alphanumeric() || "_+-".contains(*next);
                    if c == ':' && chars.peek().is_some_and(shortcode) {
                        out.push('\\');
                    }
                    push_markdown_char(&mut out, c);
                }
            }
            rest = &rest[end..];
        } else {
            push_markdown_char(&mut out, c);
            rest = &rest[c.len_utf8()..];
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
        assert_eq!(
            markdown("2 active keys: keep AKIAEXAMPLEALICE0002 (10 day(s) old)"),
            "2 active keys: keep AKIAEXAMPLEALICE0002 (10 day(s) old)"
        );
    }

    #[test]
    fn terminal_controls_are_written_out() {
        assert_eq!(escape("a\u{1b}[8mhidden"), "a\\u{1b}[8mhidden");
        assert_eq!(escape("x\ny\r"), "x\\u{a}y\\u{d}");
        assert_eq!(escape("\u{202e}gnp.exe"), "\\u{202e}gnp.exe");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
    }

    /// Bidi_Control and Default_Ignorable_Code_Point, as Unicode lists them: the
    /// Arabic letter mark, zero-width space and joiner, the byte order mark, a
    /// variation selector, a tag character, the Hangul filler, the soft hyphen.
    #[test]
    fn every_invisible_character_is_written_out() {
        for c in [
            '\u{061c}',
            '\u{200b}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{fe0f}',
            '\u{e0041}',
            '\u{3164}',
            '\u{00ad}',
            '\u{180e}',
            '\u{2066}',
        ] {
            let text = format!("a{c}b");
            assert_eq!(escape(&text), format!("a\\u{{{:x}}}b", u32::from(c)));
            assert!(!markdown(&text).contains(c), "{c:?}");
        }
    }

    #[test]
    fn markdown_cannot_open_html_or_break_a_table() {
        assert_eq!(markdown("<!-- hide"), "&lt;!-- hide");
        assert_eq!(markdown("a | b"), "a \\| b");
        assert_eq!(markdown("`code` *em*"), "\\`code\\` \\*em\\*");
        assert_eq!(markdown("one\ntwo"), "one\\\\u{a}two");
        assert_eq!(markdown("[x](javascript:1)"), "\\[x\\](javascript\\:1)");
    }

    #[test]
    fn math_and_emoji_shortcodes_show_as_written() {
        assert_eq!(
            markdown("$\\color{white}{hidden}$ :white_check_mark:"),
            "\\$\\\\color{white}{hidden}\\$ \\:white\\_check\\_mark:"
        );
        assert_eq!(markdown("2 keys: keep"), "2 keys: keep");
    }

    #[test]
    fn mentions_references_and_links_go_in_code_spans() {
        assert_eq!(
            markdown("ask @security-team, see #123"),
            "ask `@security-team,` see `#123`"
        );
        assert_eq!(
            markdown("https://evil.example/x?a=1 or www.evil.example"),
            "`https://evil.example/x?a=1` or `www.evil.example`"
        );
        assert_eq!(
            markdown("GH-42 and octo/repo#7"),
            "`GH-42` and `octo/repo#7`"
        );
        assert_eq!(markdown("mail me@example.com"), "mail `me@example.com`");
        assert_eq!(markdown("commit 9fceb02d0ae5"), "commit `9fceb02d0ae5`");
    }

    /// Render Markdown as GitHub's parser does (cmark-gfm's extensions: tables,
    /// autolinks, strike-through; and `$` math, as GitHub renders it), as HTML.
    fn render_gfm(markdown: &str) -> String {
        let mut options = comrak::Options::default();
        options.extension.table = true;
        options.extension.autolink = true;
        options.extension.strikethrough = true;
        options.extension.math_dollars = true;
        comrak::markdown_to_html(markdown, &options)
    }

    /// The HTML outside `<code>` elements.
    fn outside_code(html: &str) -> String {
        let mut out = String::new();
        let mut rest = html;
        while let Some(start) = rest.find("<code>") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("</code>")
                .map_or(rest.len(), |end| start + end + 7);
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    /// The text a reader sees: tags dropped, the entities comrak writes decoded.
    fn shown_text(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&amp;", "&")
    }

    /// Data that mixes everything GitHub reacts to.
    fn hostile_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("@".to_string()),
            Just("#1".to_string()),
            Just("GH-2".to_string()),
            Just("www.".to_string()),
            Just("https://".to_string()),
            Just("deadbeef1".to_string()),
            Just("`".to_string()),
            Just("|".to_string()),
            Just("<b>".to_string()),
            Just("&amp;".to_string()),
            Just("\\".to_string()),
            Just("[x](y)".to_string()),
            Just("*_~".to_string()),
            Just("$".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            "[a-z0-9./:-]{1,6}",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(crate::proptest_config(256))]

        /// Whatever the input, nothing that a terminal would act on survives.
        #[test]
        fn escaped_text_has_no_hidden_control(text in any::<String>()) {
            prop_assert!(!escape(&text).chars().any(is_hidden_control));
        }

        /// Rendered by GitHub's Markdown rules inside a table cell, the data makes no
        /// link, no tag, no second cell, and leaves nothing outside code spans that
        /// GitHub turns into a mention or a reference; and the reader sees exactly the
        /// data, with its hidden characters written out.
        #[test]
        fn markdown_shows_the_data_and_nothing_more(text in hostile_text()) {
            let html = render_gfm(&format!("| data |\n|---|\n| {} |\n", markdown(&text)));
            prop_assert!(!html.contains("<a "), "{html}");
            prop_assert_eq!(html.matches("<td").count(), 1, "{}", html);
            let outside = outside_code(&html);
            let tags: Vec<&str> = outside
                .split('<')
                .skip(1)
                .map(|tag| tag.split(['>', ' ']).next().unwrap_or_default())
                .filter(|tag| !matches!(*tag, "table" | "/table" | "thead" | "/thead" | "tbody" | "/tbody" | "tr" | "/tr" | "th" | "/th" | "td" | "/td"))
                .collect();
            prop_assert!(tags.is_empty(), "{:?} in {}", tags, html);
            let lower = outside.to_ascii_lowercase();
            prop_assert!(!lower.contains('@') && !lower.contains("www.") && !lower.contains("://"), "{html}");
            for marker in ["#", "gh-"] {
                for (at, _) in lower.match_indices(marker) {
                    let next = lower[at + marker.len()..].chars().next();
                    prop_assert!(!next.is_some_and(|c| c.is_ascii_digit()), "{html}");
                }
            }
            let cell = html.split("<td>").nth(1).and_then(|rest| rest.split("</td>").next()).unwrap_or_default();
            let mut expected = escape(&text).into_owned();
            // The cell is one line: GitHub trims the spaces around it.
            expected = expected.trim_matches(' ').to_string();
            let shown = shown_text(cell);
            prop_assert_eq!(shown.trim_matches(' '), expected.as_str(), "{}", html);
        }
    }
}
