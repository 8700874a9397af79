//! What kustomize's trip through yaml.v3 does to a scalar before it is
//! printed.
//!
//! kustomize reads resources into yaml.v3 nodes and writes them back out
//! with yaml.v3's encoder, which keeps each scalar's style, and reads that
//! text again. The trip is lossless except for folded scalars (`>`): the
//! encoder's folded writer decides whether a line break needs a second one
//! (so that it survives folding) by looking at the start of the *value*
//! rather than at the text after the break (a misplaced index in its port
//! of libyaml's `yaml_emitter_write_folded_scalar`). So a break that ends a
//! line followed by a more-indented line, by blank lines at the end of a
//! `>+` scalar, or by the end of the value gets one line break too many,
//! and the value read back has one more `\n` there; and when the value
//! starts with a blank (after any line breaks), no break gets its
//! companion, so single breaks between plain lines fold into spaces. [`folded`] replays the writer
//! and the reading, observable with `kubectl kustomize`.

use super::Node;
use super::parse::parse;

/// The value a folded scalar holding `value` has after kustomize's
/// yaml.v3 write and read.
pub fn folded(value: &str) -> String {
    if !block_allowed(value) {
        // Written double-quoted: read back unchanged.
        return value.to_string();
    }
    let text = write_folded(value);
    match parse(&text).ok().and_then(|docs| docs.into_iter().next()) {
        Some(Node::Map(m)) => match m.get("v") {
            Some(Node::Scalar(s)) => s.value.clone(),
            _ => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// Whether kustomize's trip fails on a block scalar (`|` or `>`) holding
/// `value`: yaml.v3 writes a block that starts with a tab without an
/// indentation indicator (it gives one for a space), and reading it back
/// meets the tab where the indentation is.
pub fn fails(value: &str) -> bool {
    value.starts_with('\t') && block_allowed(value)
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// yaml.v3's `analyze_scalar` verdict on block styles: no space before a
/// line break, no trailing space, no character it would escape.
fn block_allowed(value: &str) -> bool {
    if value.is_empty() || value.ends_with(' ') || value.starts_with('\u{feff}') {
        return false;
    }
    let mut prev_space = false;
    for c in value.chars() {
        if prev_space && is_break(c) {
            return false;
        }
        prev_space = c == ' ';
        let printable = matches!(c, '\n' | '\t' | '\u{20}'..='\u{7e}')
            || matches!(c, '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
                && c != '\u{feff}';
        if !printable {
            return false;
        }
    }
    true
}

/// The scalar as yaml.v3 writes it in folded style, as the value of key
/// `v` (indentation 2, given as an indicator when the value starts with a
/// blank or a break, as yaml.v3 gives it).
fn write_folded(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::from("v: >");
    if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
        out.push('2');
    }
    // Chomping: strip without a final break, keep with two (or only one).
    match chars.as_slice() {
        [.., last] if !is_break(*last) => out.push('-'),
        [only] if is_break(*only) => out.push('+'),
        [.., before, last] if is_break(*last) && is_break(*before) => out.push('+'),
        _ => {}
    }
    out.push('\n');
    // The misplaced check: whether the value (not the text after the
    // break), past its leading breaks, starts with a non-blank.
    let extra_breaks = chars
        .iter()
        .find(|&&c| !is_break(c))
        .is_some_and(|&c| !is_blank(c));
    let mut breaks = true;
    let mut leading_spaces = true;
    for &c in &chars {
        if is_break(c) {
            if !breaks && !leading_spaces && c == '\n' && extra_breaks {
                out.push('\n');
            }
            out.push(if c == '\n' { '\n' } else { c });
            breaks = true;
        } else {
            if breaks {
                out.push_str("  ");
                leading_spaces = is_blank(c);
            }
            out.push(c);
            breaks = false;
        }
    }
    if !breaks {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_chomping_gains_a_trailing_break() {
        assert_eq!(folded("x\n\n"), "x\n\n\n");
        assert_eq!(folded("x\n\nx\n\n"), "x\n\nx\n\n\n");
    }

    #[test]
    fn a_break_before_a_more_indented_line_is_doubled() {
        assert_eq!(folded("x\n y\n"), "x\n\n y\n");
        assert_eq!(folded("x y\n w\nv\n"), "x y\n\n w\nv\n");
    }

    #[test]
    fn plain_folding_and_single_trailing_breaks_survive() {
        assert_eq!(folded("x y\n"), "x y\n");
        assert_eq!(folded("x\ny\n"), "x\ny\n");
        assert_eq!(folded("x"), "x");
        assert_eq!(folded("x\n"), "x\n");
    }

    #[test]
    fn the_first_line_decides_for_the_whole_value() {
        // Leading breaks are skipped: the first line is `x`.
        assert_eq!(folded("\nx\n\n"), "\nx\n\n\n");
        // A more-indented first line: no break is doubled, so `y` and `z`
        // fold into one line.
        assert_eq!(folded(" x\ny\nz\n"), " x\ny z\n");
    }

    #[test]
    fn a_block_starting_with_a_tab_cannot_be_read_back() {
        assert!(fails("\tx\n"));
        assert!(!fails(" \tx\n"));
        assert!(!fails("\tx \n"), "written double-quoted");
    }

    #[test]
    fn values_written_double_quoted_are_unchanged() {
        assert_eq!(folded("x \ny\n"), "x \ny\n");
        assert_eq!(folded("x\r\n"), "x\r\n");
        assert_eq!(folded(""), "");
    }
}
