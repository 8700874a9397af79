//! JSON Patch (RFC 6902) on YAML nodes: add, remove, replace, move, copy, test.

use crate::yaml::Node;

/// A failed operation.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The operation list is malformed.
    #[error("operation {index}: {message}")]
    Malformed {
        /// Index of the operation.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A path does not exist.
    #[error("operation {index} ({op} {path}): {message}")]
    Path {
        /// Index of the operation.
        index: usize,
        /// The operation.
        op: String,
        /// Its path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

fn split(path: &str) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    let rest = path.strip_prefix('/')?;
    Some(rest.split('/').map(unescape).collect())
}

fn get<'n>(n: &'n Node, segs: &[String]) -> Option<&'n Node> {
    let mut cur = n;
    for s in segs {
        cur = match cur {
            Node::Map(m) => m.get(s)?,
            Node::Seq(items) => items.get(s.parse::<usize>().ok()?)?,
            Node::Scalar(_) => return None,
        };
    }
    Some(cur)
}

fn get_mut<'n>(n: &'n mut Node, segs: &[String]) -> Option<&'n mut Node> {
    let mut cur = n;
    for s in segs {
        cur = match cur {
            Node::Map(m) => m.get_mut(s)?,
            Node::Seq(items) => items.get_mut(s.parse::<usize>().ok()?)?,
            Node::Scalar(_) => return None,
        };
    }
    Some(cur)
}

fn add(root: &mut Node, segs: &[String], value: Node) -> Result<(), String> {
    let Some((last, parent)) = segs.split_last() else {
        *root = value;
        return Ok(());
    };
    let p = get_mut(root, parent).ok_or("the parent path does not exist")?;
    match p {
        Node::Map(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Node::Seq(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid index {last:?}"))?;
            if i > items.len() {
                return Err(format!("index {i} is out of range"));
            }
            items.insert(i, value);
            Ok(())
        }
        Node::Scalar(_) => Err("the parent is not a mapping or a list".into()),
    }
}

fn remove(root: &mut Node, segs: &[String]) -> Result<Node, String> {
    let Some((last, parent)) = segs.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    let p = get_mut(root, parent).ok_or("the path does not exist")?;
    match p {
        Node::Map(m) => m
            .remove(last)
            .ok_or_else(|| "the path does not exist".into()),
        Node::Seq(items) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid index {last:?}"))?;
            if i >= items.len() {
                return Err(format!("index {i} is out of range"));
            }
            Ok(items.remove(i))
        }
        Node::Scalar(_) => Err("the path does not exist".into()),
    }
}

/// Applies the operations `ops` to `doc`, in order.
///
/// # Errors
/// The first operation that is malformed or fails.
pub fn apply(doc: &mut Node, ops: &[Node]) -> Result<(), OpError> {
    for (index, op) in ops.iter().enumerate() {
        let m = op.as_map().ok_or_else(|| OpError::Malformed {
            index,
            message: "expected a mapping".into(),
        })?;
        let name = m.str("op").ok_or_else(|| OpError::Malformed {
            index,
            message: "missing op".into(),
        })?;
        let path_s = m.str("path").unwrap_or("");
        let segs = split(path_s).ok_or_else(|| OpError::Malformed {
            index,
            message: format!("invalid path {path_s:?}"),
        })?;
        let fail = |message: String| OpError::Path {
            index,
            op: name.to_string(),
            path: path_s.to_string(),
            message,
        };
        let value = || {
            m.get("value").cloned().ok_or_else(|| OpError::Malformed {
                index,
                message: format!("{name} needs a value"),
            })
        };
        let from = || -> Result<Vec<String>, OpError> {
            let f = m.str("from").unwrap_or("");
            split(f).ok_or_else(|| OpError::Malformed {
                index,
                message: format!("invalid from {f:?}"),
            })
        };
        match name {
            "add" => add(doc, &segs, value()?).map_err(fail)?,
            "remove" => {
                remove(doc, &segs).map_err(fail)?;
            }
            "replace" => {
                let v = value()?;
                let target =
                    get_mut(doc, &segs).ok_or_else(|| fail("the path does not exist".into()))?;
                *target = v;
            }
            "move" => {
                let f = from()?;
                let v = remove(doc, &f).map_err(fail)?;
                add(doc, &segs, v).map_err(fail)?;
            }
            "copy" => {
                let f = from()?;
                let v = get(doc, &f)
                    .cloned()
                    .ok_or_else(|| fail("the from path does not exist".into()))?;
                add(doc, &segs, v).map_err(fail)?;
            }
            "test" => {
                let v = value()?;
                let cur = get(doc, &segs).ok_or_else(|| fail("the path does not exist".into()))?;
                if !same(cur, &v) {
                    return Err(fail("test failed: the value differs".into()));
                }
            }
            other => {
                return Err(OpError::Malformed {
                    index,
                    message: format!("unknown op {other:?}"),
                });
            }
        }
    }
    Ok(())
}

/// Equality by value (a string `1` is not the number 1).
fn same(a: &Node, b: &Node) -> bool {
    let mut x = String::new();
    let mut y = String::new();
    crate::yaml::json(a, &mut x);
    crate::yaml::json(b, &mut y);
    x == y
}
