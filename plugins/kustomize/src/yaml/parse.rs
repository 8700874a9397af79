//! Reads a YAML stream into [`Node`]s, typing plain scalars as yaml.v3 does.

use super::breaks;
use super::resolve::resolve_v3;
use super::{Map, Node, Scalar, Tag};
use granit_parser::{Event, Parser, ScalarStyle};

/// A YAML syntax error.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

enum Frame {
    Seq(Vec<Node>, usize),
    Map(Map, Option<String>, usize),
}

/// Parses every document of `text`. Empty documents (only comments, or
/// nothing between two `---`) come back as null scalars.
///
/// # Errors
/// A [`ParseError`] with the line of the first syntax error.
pub fn parse(text: &str) -> Result<Vec<Node>, ParseError> {
    parse_with(text, false)
}

/// Parses Kubernetes objects as kustomize holds them: like [`parse`], with
/// folded scalars changed as kustomize's yaml.v3 write and read change
/// them (see [`super::roundtrip`]).
///
/// # Errors
/// A [`ParseError`] with the line of the first syntax error.
pub fn parse_objects(text: &str) -> Result<Vec<Node>, ParseError> {
    parse_with(text, true)
}

fn parse_with(text: &str, round_trip: bool) -> Result<Vec<Node>, ParseError> {
    // yaml.v3's YAML 1.1 line breaks: read a copy where they are `\n`, and
    // put the separators back into the values written with them.
    let normalized;
    let mut source: Vec<char> = Vec::new();
    let text = if breaks::has_v1_1_breaks(text) {
        if breaks::has_separators(text) {
            source = text.chars().collect();
        }
        normalized = breaks::normalize(text);
        normalized.as_str()
    } else {
        text
    };
    // A block scalar whose last line ends the text without a line break
    // has no final break to keep (yaml.v3); the parser adds one. Its
    // length in characters (as spans count), only when it matters.
    let mut tabs = text.contains('\t').then(|| Cursor::new(text));
    let ends_open = !text.trim_end_matches([' ', '\t']).ends_with(['\n', '\r']);
    let open_end = ends_open.then(|| text.chars().count());
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: Vec<Option<Node>> = Vec::new();
    let mut doc: Option<Node> = None;
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| ParseError {
            line: e.marker().line(),
            message: e.info(),
        })?;
        let line = span.start.line();
        let node = match ev {
            Event::StreamStart | Event::StreamEnd => continue,
            Event::DocumentStart(..) => {
                doc = None;
                anchors.clear();
                continue;
            }
            Event::DocumentEnd => {
                docs.push(doc.take().unwrap_or_else(Node::null));
                continue;
            }
            Event::Alias(id) => match anchors.get(id).cloned().flatten() {
                Some(n) => n,
                None => {
                    return Err(ParseError {
                        line,
                        message: "unknown anchor".into(),
                    });
                }
            },
            Event::Scalar(value, style, anchor, tag) => {
                let tag_was_none = tag.is_none();
                let tag = match (&tag, style) {
                    (Some(t), _) if t.is_yaml_core_schema() => match t.suffix() {
                        "null" => Tag::Null,
                        "bool" => Tag::Bool,
                        "int" => Tag::Int,
                        "float" => Tag::Float,
                        "timestamp" => Tag::Timestamp,
                        _ => Tag::Str,
                    },
                    (Some(t), ScalarStyle::Plain) if t.suffix() == "!" || t.suffix().is_empty() => {
                        Tag::Str
                    }
                    (_, ScalarStyle::Plain) => resolve_v3(&value),
                    _ => Tag::Str,
                };
                // yaml.v3 writes a folded key double-quoted: no change.
                let is_key = matches!(stack.last(), Some(Frame::Map(_, None, _)));
                let mut value = value.into_owned();
                let (start, end) = (span.start.index(), span.end.index());
                if let Some(raw) = source.get(start..end)
                    && raw.iter().any(|&c| matches!(c, '\u{2028}' | '\u{2029}'))
                {
                    let flow = match style {
                        ScalarStyle::Plain => Some(breaks::Flow::Plain),
                        ScalarStyle::SingleQuoted => Some(breaks::Flow::Single),
                        ScalarStyle::DoubleQuoted => Some(breaks::Flow::Double),
                        _ => None,
                    };
                    match flow {
                        Some(f) => {
                            let raw: String = raw.iter().collect();
                            value = breaks::flow(&raw, f)
                                .map_err(|message| ParseError { line, message })?;
                        }
                        None if style == ScalarStyle::Literal => {
                            value = breaks::literal(&value, &source, start);
                        }
                        None => {
                            if let Some(v) = breaks::folded(&source, start) {
                                value = v;
                            }
                        }
                    }
                }
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && open_end == Some(span.end.index())
                    && value.ends_with('\n')
                {
                    value.pop();
                }
                if let Some(cursor) = tabs.as_mut()
                    && matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && let Some(back) = block_tab(text, cursor.byte(start))
                {
                    return Err(ParseError {
                        line: line.saturating_sub(back),
                        message: "while scanning a block scalar: found a tab character where \
                                  an indentation space is expected"
                            .into(),
                    });
                }
                if round_trip
                    && matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && !is_key
                    && super::roundtrip::fails(&value)
                {
                    return Err(ParseError {
                        line,
                        message: "a block scalar that starts with a tab: kustomize cannot \
                                  write it back (yaml.v3 then finds a tab character where an \
                                  indentation space is expected); quote the value"
                            .into(),
                    });
                }
                if round_trip && style == ScalarStyle::Folded && !is_key {
                    value = super::roundtrip::folded(&value);
                }
                let n = Node::Scalar(Scalar {
                    value,
                    tag,
                    plain: style == ScalarStyle::Plain && tag_was_none,
                });
                if anchor > 0 {
                    set_anchor(&mut anchors, anchor, n.clone());
                }
                n
            }
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map(Map::new(), None, anchor));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => {
                    let n = Node::Seq(items);
                    if anchor > 0 {
                        set_anchor(&mut anchors, anchor, n.clone());
                    }
                    n
                }
                _ => {
                    return Err(ParseError {
                        line,
                        message: "unbalanced sequence end".into(),
                    });
                }
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(map, _, anchor)) => {
                    let n = Node::Map(map);
                    if anchor > 0 {
                        set_anchor(&mut anchors, anchor, n.clone());
                    }
                    n
                }
                _ => {
                    return Err(ParseError {
                        line,
                        message: "unbalanced mapping end".into(),
                    });
                }
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => doc = Some(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(map, key, _)) => match key.take() {
                None => {
                    let k = match node {
                        Node::Scalar(s) => s.value,
                        _ => {
                            return Err(ParseError {
                                line,
                                message: "mapping keys must be scalars".into(),
                            });
                        }
                    };
                    *key = Some(k);
                }
                Some(k) if k == "<<" => merge(map, node),
                Some(k) => map.insert(k, node),
            },
        }
    }
    Ok(docs)
}

/// Character positions (as spans count) to byte offsets, for positions
/// met in increasing order.
struct Cursor<'a> {
    text: &'a str,
    chars: usize,
    bytes: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor {
            text,
            chars: 0,
            bytes: 0,
        }
    }

    /// The byte offset of character `at` (restarting when `at` is behind).
    fn byte(&mut self, at: usize) -> usize {
        if at < self.chars {
            (self.chars, self.bytes) = (0, 0);
        }
        for c in self.text[self.bytes..].chars() {
            if self.chars == at {
                break;
            }
            self.chars += 1;
            self.bytes += c.len_utf8();
        }
        self.bytes
    }
}

/// yaml.v3's refusal of a tab where a block scalar's indentation is read:
/// after the spaces of a line before the indentation is known (up to the
/// first content line), or after fewer spaces than the indentation. YAML
/// 1.2 takes such a tab for content. `start` is the byte offset of the
/// scalar's content; the answer, how many lines above it the header is.
/// A header with an explicit indentation indicator is not checked.
fn block_tab(text: &str, start: usize) -> Option<usize> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let head_end = text[..start].trim_end_matches(is_ws).len();
    let header_line = &text[text[..head_end].rfind('\n').map_or(0, |i| i + 1)..head_end];
    let header = header_line.split(" #").next().unwrap_or("").trim_end();
    let indicators = header.trim_end_matches(|c: char| c.is_ascii_digit() || c == '+' || c == '-');
    if header[indicators.len()..].contains(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let body_start = text[head_end..].find('\n').map(|i| head_end + i + 1)?;
    let back = text[body_start..start].matches('\n').count() + 1;
    let mut indent: Option<usize> = None;
    let mut max_empty = 0;
    for line in text[body_start..].split('\n') {
        let spaces = match indent {
            Some(n) => line.bytes().take(n).take_while(|&b| b == b' ').count(),
            None => line.bytes().take_while(|&b| b == b' ').count(),
        };
        let next = line[spaces..].chars().next();
        if next == Some('\t') && indent.is_none_or(|n| spaces < n) {
            return Some(back);
        }
        match (indent, next) {
            (_, None | Some('\r')) => max_empty = max_empty.max(spaces),
            (None, Some(_)) => indent = Some(max_empty.max(spaces).max(1)),
            (Some(n), Some(_)) if spaces < n => return None,
            _ => {}
        }
    }
    None
}

/// A `<<` merge key: the merged mapping's keys, unless already set.
fn merge(map: &mut Map, node: Node) {
    let sources = match node {
        Node::Map(m) => vec![m],
        Node::Seq(items) => items
            .into_iter()
            .filter_map(|n| match n {
                Node::Map(m) => Some(m),
                _ => None,
            })
            .collect(),
        Node::Scalar(_) => return,
    };
    for m in sources {
        for (k, v) in m.0 {
            if map.get(&k).is_none() {
                map.insert(k, v);
            }
        }
    }
}

fn set_anchor(anchors: &mut Vec<Option<Node>>, id: usize, n: Node) {
    if anchors.len() <= id {
        anchors.resize(id + 1, None);
    }
    anchors[id] = Some(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_documents_with_types_and_styles() {
        let docs =
            parse("a: 1\nb: '1'\nc: [x, {d: ~}]\n---\n# only a comment\n---\n- &x 5\n- *x\n")
                .expect("parses");
        assert_eq!(docs.len(), 3);
        let m = docs[0].as_map().expect("map");
        assert!(matches!(
            m.get("a"),
            Some(Node::Scalar(Scalar { tag: Tag::Int, .. }))
        ));
        assert!(matches!(
            m.get("b"),
            Some(Node::Scalar(Scalar { tag: Tag::Str, .. }))
        ));
        assert!(docs[1].is_null());
        assert_eq!(docs[2].as_seq().map(Vec::len), Some(2));
    }

    #[test]
    fn a_block_scalar_ending_the_text_has_no_final_break() {
        let value = |t: &str| match parse(t).expect("parses").remove(0) {
            Node::Map(m) => m.str("a").map(str::to_string),
            _ => None,
        };
        assert_eq!(value("a: |\n  x").as_deref(), Some("x"));
        assert_eq!(value("a: |+\n  x\n\n  y").as_deref(), Some("x\n\ny"));
        assert_eq!(value("a: >\n  x\n   y").as_deref(), Some("x\n y"));
        assert_eq!(value("a: |\n  x\n").as_deref(), Some("x\n"));
        assert_eq!(value("a: |\n  x\n  ").as_deref(), Some("x\n"));
        assert_eq!(value("a: |\n  x\n# c").as_deref(), Some("x\n"));
    }

    #[test]
    fn a_tab_where_a_block_scalar_is_indented_is_an_error() {
        let err = parse("a: |\n    \tx\n    y\n").expect_err("tab first");
        assert_eq!(err.line, 1, "{err}");
        assert!(parse("a:\n  b: |\n    x\n  \ty\n").is_err());
        // After the indentation, a tab is content.
        let ok = parse("a: |\n    y\n    \tx\nb: \"\t\"\n").expect("parses");
        let m = ok[0].as_map().expect("map");
        assert_eq!(m.str("a"), Some("y\n\tx\n"));
        assert!(parse("a: |2\n   \tx\n").is_ok());
    }

    #[test]
    fn reports_the_line_of_a_syntax_error() {
        let err = parse("a: 1\nb: [\n").expect_err("fails");
        assert!(err.line >= 2, "{err}");
    }
}
