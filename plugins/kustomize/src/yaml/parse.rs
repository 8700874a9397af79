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
                        // A folded block keeps the value the `\n` reading
                        // gives (yaml.v3 would not fold at a separator).
                        None => {}
                    }
                }
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && open_end == Some(span.end.index())
                    && value.ends_with('\n')
                {
                    value.pop();
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
    fn reports_the_line_of_a_syntax_error() {
        let err = parse("a: 1\nb: [\n").expect_err("fails");
        assert!(err.line >= 2, "{err}");
    }
}
