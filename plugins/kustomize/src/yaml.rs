//! The YAML document model, its reader and its writers.
//!
//! kustomize keeps resources as yaml.v3 nodes (scalars keep their text and
//! resolved tag), and prints them by marshalling to JSON and converting that
//! JSON to YAML with yaml.v2 (sigs.k8s.io/yaml `JSONToYAML`). So: keys come
//! out sorted, scalars are re-typed by their JSON value, and strings are
//! quoted by yaml.v2's rules. [`parse`] builds the node tree, [`emit`]
//! reproduces that printing, byte for byte.

mod breaks;
mod emit;
mod parse;
mod resolve;
mod roundtrip;

pub use emit::{emit, json, json_printed, json_string, v3_string};
pub use parse::{ParseError, parse, parse_objects};

/// The resolved type of a scalar, as yaml.v3 decides it when it reads one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `null`, `~`, empty.
    Null,
    /// `true`/`false` in their three spellings.
    Bool,
    /// A decimal, octal, hex or binary integer.
    Int,
    /// A float, `.inf`, `.nan`.
    Float,
    /// A date or date-time.
    Timestamp,
    /// Anything else, and every quoted scalar.
    Str,
}

/// A scalar: its text (after escape processing) and its resolved type.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text, as written (unescaped).
    pub value: String,
    /// What the text means.
    pub tag: Tag,
    /// Whether it was written plain (unquoted, untagged): YAML 1.1 readers
    /// such as kustomize's own for kustomization files type `yes`/`on`/`n`
    /// as booleans.
    pub plain: bool,
}

impl Scalar {
    /// Whether yaml.v2 (YAML 1.1) would read this scalar as a boolean.
    pub fn is_v1_1_bool(&self) -> bool {
        self.tag == Tag::Bool
            || (self.plain
                && matches!(
                    self.value.as_str(),
                    "y" | "Y"
                        | "yes"
                        | "Yes"
                        | "YES"
                        | "n"
                        | "N"
                        | "no"
                        | "No"
                        | "NO"
                        | "on"
                        | "On"
                        | "ON"
                        | "off"
                        | "Off"
                        | "OFF"
                ))
    }
}

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in the order read.
    Map(Map),
}

/// A mapping with string keys, in insertion order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(pub Vec<(String, Node)>);

impl Map {
    /// An empty mapping.
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, keeping its position when it exists.
    pub fn insert(&mut self, key: impl Into<String>, value: Node) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The mapping under `key`, created (or replaced, if not a mapping) when needed.
    pub fn map_entry(&mut self, key: &str) -> &mut Map {
        let i = match self.0.iter().position(|(k, _)| k == key) {
            Some(i) => {
                if !matches!(self.0[i].1, Node::Map(_)) {
                    self.0[i].1 = Node::Map(Map::new());
                }
                i
            }
            None => {
                self.0.push((key.to_string(), Node::Map(Map::new())));
                self.0.len() - 1
            }
        };
        match &mut self.0[i].1 {
            Node::Map(m) => m,
            _ => unreachable!("just made a mapping"),
        }
    }

    /// The string value of `key`, when it is a scalar.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Node::Scalar(s) if s.tag != Tag::Null => Some(&s.value),
            _ => None,
        }
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the entries.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Node {
    /// A string scalar.
    pub fn str(s: impl Into<String>) -> Node {
        Node::Scalar(Scalar {
            value: s.into(),
            tag: Tag::Str,
            plain: false,
        })
    }

    /// An integer scalar.
    pub fn int(i: i64) -> Node {
        Node::Scalar(Scalar {
            value: i.to_string(),
            tag: Tag::Int,
            plain: true,
        })
    }

    /// A null scalar.
    pub fn null() -> Node {
        Node::Scalar(Scalar {
            value: "null".into(),
            tag: Tag::Null,
            plain: true,
        })
    }

    /// A plain scalar resolved as yaml.v3 would read `text` unquoted.
    pub fn plain(text: &str) -> Node {
        Node::Scalar(Scalar {
            value: text.to_string(),
            tag: resolve::resolve_v3(text),
            plain: true,
        })
    }

    /// The mapping, when this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The mapping, mutably, when this is one.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence, when this is one.
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar's text, when this is a non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) if s.tag != Tag::Null => Some(&s.value),
            _ => None,
        }
    }

    /// Whether this is a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar(s) if s.tag == Tag::Null)
    }

    /// Follows `path` (mapping keys) down from this node.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        let mut n = self;
        for k in path {
            n = n.as_map()?.get(k)?;
        }
        Some(n)
    }
}
