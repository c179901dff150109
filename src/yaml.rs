//! What keytrim accepts of YAML, for plans and the exemptions file alike, checked on
//! the text before serde builds anything: no flow collections nested beyond a bound
//! (the scanner's cost grows with the square of the depth), and no anchors, aliases
//! or tags (an alias is how a small file expands to gigabytes).

/// Flow collections (`[...]`, `{...}`) nested deeper than this are refused before
/// parsing: the YAML scanner's cost grows with the square of that depth, and a plan
/// never needs more than two levels.
pub(crate) const MAX_FLOW_DEPTH: usize = 64;

/// An upper bound of how deep flow collections nest in YAML text, found without
/// parsing it: brackets inside quoted scalars and comments are passed over, and a quote
/// counts as opening a scalar only where YAML would start one. Pure and linear.
pub(crate) fn max_flow_depth(text: &str) -> usize {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Single,
        Double,
        Comment,
    }
    let mut state = State::Plain;
    let (mut depth, mut deepest) = (0usize, 0usize);
    // The character before this one, and the last one that was not a space.
    let (mut previous, mut significant) = ('\n', '\n');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match state {
            State::Comment => {
                if c == '\n' {
                    state = State::Plain;
                }
            }
            State::Single => {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        state = State::Plain;
                    }
                }
            }
            State::Double => match c {
                '\\' => {
                    chars.next();
                }
                '"' => state = State::Plain,
                _ => {}
            },
            State::Plain => {
                let after_space = previous.is_whitespace() || "[{,".contains(previous);
                let starts_scalar = after_space
                    && (significant == '\n'
                        || significant == ':'
                        || (depth > 0 && "[{,".contains(significant))
                        || (significant == '-' && previous.is_whitespace()));
                match c {
                    '#' if previous.is_whitespace() => state = State::Comment,
                    '\'' if starts_scalar => state = State::Single,
                    '"' if starts_scalar => state = State::Double,
                    '[' | '{' => {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        if c == '\n' {
            significant = '\n';
        } else if !c.is_whitespace() {
            significant = c;
        }
        previous = c;
    }
    deepest
}

/// The first YAML anchor, alias or tag in `text`, as a problem naming its line; or a
/// text that is not YAML at all. A plan has no use for any of them, and an alias is how
/// a small file expands to gigabytes (yaml_serde expands aliases without a bound), so
/// they are refused before serde builds anything. The scan is one pass over the events
/// and keeps no document: linear in time, and in memory bounded by the file's size.
pub(crate) fn yaml_extras(text: &str) -> Option<String> {
    // yaml_serde's parser (libyaml, YAML 1.1) also breaks lines at NEL, LS and PS;
    // saphyr (YAML 1.2) does not. Scanning the text with those as line feeds shows
    // saphyr the lines libyaml reads, so nothing hides on what looks like one line
    // (a comment, say) and line numbers agree.
    let text = text.replace(['\u{85}', '\u{2028}', '\u{2029}'], "\n");
    for event in saphyr_parser::Parser::new_from_str(&text) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(err) => return Some(format!("not YAML: {err}")),
        };
        let line = span.start.line();
        let (anchor, tagged) = match event {
            saphyr_parser::Event::Alias(_) => {
                return Some(format!(
                    "YAML aliases (`*name`) are not accepted in a plan (line {line})"
                ));
            }
            saphyr_parser::Event::Scalar(_, _, anchor, tag)
            | saphyr_parser::Event::SequenceStart(anchor, tag)
            | saphyr_parser::Event::MappingStart(anchor, tag) => (anchor, tag.is_some()),
            _ => continue,
        };
        if anchor != 0 {
            return Some(format!(
                "YAML anchors (`&name`) are not accepted in a plan (line {line})"
            ));
        }
        if tagged {
            return Some(format!(
                "YAML tags (`!tag`) are not accepted in a plan (line {line})"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_depth_counts_real_nesting_only() {
        assert_eq!(max_flow_depth("a: [b, {c: [d]}]\n"), 3);
        assert_eq!(max_flow_depth("a: '[[[[' # [[[\nb: \"[[\\\"[\"\n"), 0);
        assert_eq!(max_flow_depth("reason: don't [stop]\n"), 1);
        assert_eq!(max_flow_depth("deactivate: []\nkeys: []\n"), 1);
        assert_eq!(max_flow_depth(&"[".repeat(100)), 100);
        // A quote in the middle of a plain scalar opens nothing.
        assert_eq!(max_flow_depth("a: it's [[[\n"), 3);
    }
}
