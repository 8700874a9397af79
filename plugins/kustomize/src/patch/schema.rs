//! Merge keys from an OpenAPI document (a kustomization's `openapi: {path}`):
//! for each kind the document defines (`x-kubernetes-group-version-kind`),
//! the list fields with `x-kubernetes-patch-merge-key` /
//! `x-kubernetes-patch-strategy`, by path. Read once per kustomization, so
//! no schema is parsed per patch.

use super::smp::ListMerge;
use crate::yaml::{Map, Node};
use std::borrow::Cow;
use std::collections::HashMap;

/// List strategies by (kind, `/`-joined path of the list field).
#[derive(Debug, Default, Clone)]
pub struct Schema {
    lists: HashMap<(String, String), ListMerge>,
}

/// How deep a schema is followed (recursive types such as JSONSchemaProps).
const MAX_DEPTH: usize = 16;

impl Schema {
    /// Reads the definitions of an OpenAPI v2 document (`definitions`) or a
    /// bare mapping of definitions.
    pub fn from_document(doc: &Node) -> Schema {
        let mut s = Schema::default();
        let Some(m) = doc.as_map() else { return s };
        let defs = m.get("definitions").and_then(Node::as_map).unwrap_or(m);
        for (_, def) in defs.iter() {
            let Some(d) = def.as_map() else { continue };
            let Some(Node::Seq(gvks)) = d.get("x-kubernetes-group-version-kind") else {
                continue;
            };
            for g in gvks {
                let Some(kind) = g.as_map().and_then(|g| g.str("kind")) else {
                    continue;
                };
                let mut path = Vec::new();
                s.walk(defs, d, kind, &mut path, 0);
            }
        }
        s
    }

    /// The strategy of list `field` under `path` in `kind`, when the
    /// document says.
    pub fn list(&self, kind: &str, path: &[String], field: &str) -> Option<ListMerge> {
        let mut p = path.join("/");
        if !p.is_empty() {
            p.push('/');
        }
        p.push_str(field);
        self.lists.get(&(kind.to_string(), p)).cloned()
    }

    fn walk(&mut self, defs: &Map, node: &Map, kind: &str, path: &mut Vec<String>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let node = resolve(defs, node);
        let Some(props) = node.get("properties").and_then(Node::as_map) else {
            return;
        };
        for (name, prop) in props.iter() {
            let Some(p) = prop.as_map() else { continue };
            let p = resolve(defs, p);
            path.push(name.clone());
            if p.str("type") == Some("array") || p.get("items").is_some() {
                let key = p.str("x-kubernetes-patch-merge-key");
                let merge = p
                    .str("x-kubernetes-patch-strategy")
                    .is_some_and(|s| s.split(',').any(|x| x == "merge"));
                let strategy = match (merge, key) {
                    (true, Some(k)) => ListMerge::Key(Cow::Owned(k.to_string())),
                    (true, None) => ListMerge::Set,
                    _ => ListMerge::Replace,
                };
                self.lists
                    .insert((kind.to_string(), path.join("/")), strategy);
                if let Some(items) = p.get("items").and_then(Node::as_map) {
                    self.walk(defs, items, kind, path, depth + 1);
                }
            } else {
                self.walk(defs, p, kind, path, depth + 1);
            }
            path.pop();
        }
    }
}

/// Follows a `$ref: '#/definitions/<name>'`.
fn resolve<'a>(defs: &'a Map, node: &'a Map) -> &'a Map {
    let mut cur = node;
    for _ in 0..MAX_DEPTH {
        let Some(r) = cur.str("$ref") else { break };
        let name = r.rsplit('/').next().unwrap_or(r);
        match defs.get(name).and_then(Node::as_map) {
            Some(d) => cur = d,
            None => break,
        }
    }
    cur
}
