//! The executor: walks trees with Go's `text/template` semantics as Helm
//! configures it (`missingkey=zero`), calling Sprig and Helm functions.

use std::collections::HashMap;
use std::rc::Rc;

use super::parse::{Arg, Branch, Node, Pipe, Tree, parse};
use super::value::{Obj, Value};
use crate::funcs;

/// The most nested template calls (`template`, `include`, `tpl`) allowed,
/// as a guard against unbounded recursion (Helm stops `include` at 1000).
pub const MAX_DEPTH: usize = 1000;

/// An error while executing, located at a template file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A template could not be parsed (also from `tpl`).
    #[error(transparent)]
    Parse(#[from] super::parse::ParseError),
    /// Execution failed: `template: FILE:LINE: executing "NAME" at <NODE>: MSG`.
    #[error("template: {file}:{line}: executing {name:?} at <{node}>: {message}")]
    Exec {
        /// The file the failing node is in.
        file: String,
        /// Its line.
        line: u32,
        /// The template being executed.
        name: String,
        /// The node, as written.
        node: String,
        /// The cause.
        message: String,
    },
    /// `fail` or `required`: Helm reports these as `execution error at`.
    #[error("execution error at ({file}:{line}): {message}")]
    Fail {
        /// The file.
        file: String,
        /// The line.
        line: u32,
        /// The chart's message.
        message: String,
    },
}

impl ExecError {
    /// The file and line the error points at.
    pub fn location(&self) -> (&str, u32) {
        match self {
            ExecError::Parse(p) => (&p.name, p.line),
            ExecError::Exec { file, line, .. } | ExecError::Fail { file, line, .. } => {
                (file, *line)
            }
        }
    }
}

/// Why a function failed; the executor adds where.
#[derive(Debug)]
pub enum FuncError {
    /// An ordinary error: `error calling NAME: MSG`.
    Msg(String),
    /// `fail`/`required`.
    Fail(String),
    /// An error from a nested template (include, tpl), passed on as is.
    Nested(ExecError),
}

impl<T: Into<String>> From<T> for FuncError {
    fn from(s: T) -> Self {
        FuncError::Msg(s.into())
    }
}

/// A set of named templates (every file of a chart and its `define`s).
#[derive(Default)]
pub struct Templates {
    trees: HashMap<Rc<str>, Tree>,
}

impl Templates {
    /// An empty set.
    pub fn new() -> Self {
        Templates::default()
    }

    /// Parses `src` as template `name` and adds it and its definitions. A
    /// definition replaces an earlier one of the same name unless its body is
    /// empty (Go's rule).
    ///
    /// # Errors
    /// The parse error.
    pub fn add_file(&mut self, name: &str, src: &str) -> Result<(), super::parse::ParseError> {
        for t in parse(name, src, &funcs::exists)? {
            self.add(t);
        }
        Ok(())
    }

    /// Adds one tree.
    pub fn add(&mut self, t: Tree) {
        if let Some(old) = self.trees.get(&t.name)
            && t.is_empty()
            && !old.is_empty()
        {
            return;
        }
        self.trees.insert(t.name.clone(), t);
    }

    /// The tree named `name`.
    pub fn get(&self, name: &str) -> Option<&Tree> {
        self.trees.get(name)
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, ExecError>;

/// Executes templates of one set; holds the state a render shares across
/// files (the `tpl` parse cache).
pub struct Exec<'a> {
    set: &'a Templates,
    /// Definitions made by `tpl` strings, innermost last.
    overlay: Vec<HashMap<Rc<str>, Tree>>,
    tpl_cache: HashMap<(String, String), Rc<Vec<Tree>>>,
    /// Variables of every template being executed, innermost last; the
    /// current template's start at `frame`. `$` is stored under the empty
    /// name (no allocation per template call; no other name is empty).
    vars: Vec<(String, Value)>,
    frame: usize,
    out: String,
    depth: usize,
    /// The tree being executed.
    name: Rc<str>,
    file: Rc<str>,
    line: u32,
}

impl<'a> Exec<'a> {
    /// An executor over `set`.
    pub fn new(set: &'a Templates) -> Self {
        Exec {
            set,
            overlay: Vec::new(),
            tpl_cache: HashMap::new(),
            vars: Vec::new(),
            frame: 0,
            out: String::new(),
            depth: 0,
            name: "".into(),
            file: "".into(),
            line: 0,
        }
    }

    /// Executes template `name` with `data` as dot; returns its output.
    ///
    /// # Errors
    /// An unknown template, or the first execution error.
    pub fn execute(&mut self, name: &str, data: &Value) -> R<String> {
        let tree = self.lookup(name).ok_or_else(|| ExecError::Exec {
            file: self.file.to_string(),
            line: self.line,
            name: self.name.to_string(),
            node: format!("{{{{template {name:?}}}}}"),
            message: format!("template {name:?} not defined"),
        })?;
        self.run_tree(&tree, data)
    }

    fn lookup(&self, name: &str) -> Option<Tree> {
        for o in self.overlay.iter().rev() {
            if let Some(t) = o.get(name) {
                return Some(t.clone());
            }
        }
        self.set.get(name).cloned()
    }

    fn run_tree(&mut self, tree: &Tree, data: &Value) -> R<String> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(
                &tree.name,
                format!("exceeded maximum template depth ({MAX_DEPTH})"),
            ));
        }
        self.depth += 1;
        let saved_frame = std::mem::replace(&mut self.frame, self.vars.len());
        self.vars.push((String::new(), data.clone()));
        let saved_out = std::mem::take(&mut self.out);
        let saved_name = std::mem::replace(&mut self.name, tree.name.clone());
        let saved_file = std::mem::replace(&mut self.file, tree.file.clone());
        let saved_line = self.line;
        let root = tree.root.clone();
        let r = self.walk_list(&root, data);
        let out = std::mem::replace(&mut self.out, saved_out);
        self.vars.truncate(self.frame);
        self.frame = saved_frame;
        self.name = saved_name;
        self.file = saved_file;
        self.line = saved_line;
        self.depth -= 1;
        r.map(|_| out)
    }

    /// Helm's `tpl`: parses `text` as a template named `name` (the calling
    /// template's name), able to use and add definitions, and executes it.
    /// Parsed strings are cached, so a chart calling `tpl` on the same string
    /// in a loop parses it once.
    pub fn tpl(&mut self, name: &str, text: &str, data: &Value) -> Result<String, FuncError> {
        let key = (name.to_string(), text.to_string());
        let trees = match self.tpl_cache.get(&key) {
            Some(t) => t.clone(),
            None => {
                let t = Rc::new(
                    parse(name, text, &funcs::exists).map_err(|e| FuncError::Nested(e.into()))?,
                );
                self.tpl_cache.insert(key, t.clone());
                t
            }
        };
        let mut layer = HashMap::new();
        for t in trees.iter().skip(1) {
            layer.insert(t.name.clone(), t.clone());
        }
        self.overlay.push(layer);
        let r = self.run_tree(&trees[0], data);
        self.overlay.pop();
        r.map(super::value::strip_no_value)
            .map_err(FuncError::Nested)
    }

    /// Helm's `include`: executes a named template into a string.
    pub fn include(&mut self, name: &str, data: &Value) -> Result<String, FuncError> {
        let Some(tree) = self.lookup(name) else {
            return Err(FuncError::Msg(format!(
                "template: no template {name:?} associated with template \"gotpl\""
            )));
        };
        self.run_tree(&tree, data).map_err(FuncError::Nested)
    }

    /// The current template name (for `tpl` without a `.Template`).
    pub fn current_name(&self) -> &str {
        &self.name
    }

    fn error(&self, node: &str, message: impl Into<String>) -> ExecError {
        ExecError::Exec {
            file: self.file.to_string(),
            line: self.line,
            name: self.name.to_string(),
            node: node.to_string(),
            message: message.into(),
        }
    }

    fn walk_list(&mut self, list: &[Node], dot: &Value) -> R<Flow> {
        for n in list {
            match self.walk(n, dot)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, node: &Node, dot: &Value) -> R<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                self.line = p.line;
                let v = self.eval_pipe(p, dot)?;
                if p.decl.is_empty() {
                    match v {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => v.write_go(&mut self.out),
                    }
                }
            }
            Node::If(b) => return self.walk_if(b, dot, false),
            Node::With(b) => return self.walk_if(b, dot, true),
            Node::Range(b) => return self.walk_range(b, dot),
            Node::Template { line, name, pipe } => {
                self.line = *line;
                let data = match pipe {
                    Some(p) => self.eval_pipe(p, dot)?,
                    None => Value::Nil,
                };
                let Some(tree) = self.lookup(name) else {
                    return Err(self.error(
                        &format!("{{{{template {name:?}}}}}"),
                        format!("template {name:?} not defined"),
                    ));
                };
                let s = self.run_tree(&tree, &data)?;
                self.out.push_str(&s);
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_if(&mut self, b: &Branch, dot: &Value, with: bool) -> R<Flow> {
        self.line = b.line;
        let mark = self.vars.len();
        let v = self.eval_pipe(&b.pipe, dot)?;
        let r = if v.truthy() {
            if with {
                self.walk_list(&b.list, &v)
            } else {
                self.walk_list(&b.list, dot)
            }
        } else if let Some(e) = &b.else_list {
            self.walk_list(e, dot)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, b: &Branch, dot: &Value) -> R<Flow> {
        self.line = b.line;
        let mark = self.vars.len();
        // The pipeline's value, without its declarations (they name the
        // element and index, not the whole).
        let v = self.eval_cmds(&b.pipe, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                .collect(),
            Value::Map(m) => m
                .borrow()
                .iter()
                .map(|(k, x)| (Value::str(k.as_str()), x.clone()))
                .collect(),
            Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Int64(n) => (0..*n)
                .map(|i| (Value::Int64(i), Value::Int64(i)))
                .collect(),
            Value::Nil => Vec::new(),
            Value::Obj(o) => match &**o {
                Obj::ApiVersions(l) => l
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (Value::Int(i as i64), Value::str(x.as_str())))
                    .collect(),
                Obj::Files(f) => f
                    .iter()
                    .map(|(k, x)| {
                        (
                            Value::str(k.as_str()),
                            Value::str(String::from_utf8_lossy(x)),
                        )
                    })
                    .collect(),
                _ => {
                    return Err(self.error(
                        &b.pipe.to_string(),
                        format!("range can't iterate over {}", v.to_go_string()),
                    ));
                }
            },
            other => {
                return Err(self.error(
                    &b.pipe.to_string(),
                    format!("range can't iterate over {}", other.to_go_string()),
                ));
            }
        };
        if items.is_empty() {
            let r = match &b.else_list {
                Some(e) => self.walk_list(e, dot),
                None => Ok(Flow::Normal),
            };
            self.vars.truncate(mark);
            return r.map(|_| Flow::Normal);
        }
        for (k, x) in items {
            let inner = self.vars.len();
            match b.pipe.decl.len() {
                0 => {}
                1 => self.set_var(&b.pipe.decl[0], x.clone(), b.pipe.assign),
                _ => {
                    self.set_var(&b.pipe.decl[0], k, b.pipe.assign);
                    self.set_var(&b.pipe.decl[1], x.clone(), b.pipe.assign);
                }
            }
            let r = self.walk_list(&b.list, &x)?;
            self.vars.truncate(inner);
            if matches!(r, Flow::Break) {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value, assign: bool) {
        let name = if name == "$" { "" } else { name };
        if assign
            && let Some(slot) = self.vars[self.frame..]
                .iter_mut()
                .rev()
                .find(|(n, _)| n == name)
        {
            slot.1 = v;
            return;
        }
        self.vars.push((name.to_string(), v));
    }

    fn var(&self, name: &str) -> R<Value> {
        let key = if name == "$" { "" } else { name };
        self.vars[self.frame..]
            .iter()
            .rev()
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.error(name, format!("undefined variable: {name}")))
    }

    fn eval_pipe(&mut self, p: &Pipe, dot: &Value) -> R<Value> {
        let v = self.eval_cmds(p, dot)?;
        for d in &p.decl {
            self.set_var(d, v.clone(), p.assign);
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, p: &Pipe, dot: &Value) -> R<Value> {
        self.line = p.line;
        let mut val: Option<Value> = None;
        for c in &p.cmds {
            val = Some(self.eval_cmd(&c.args, dot, val)?);
        }
        Ok(val.unwrap_or_default())
    }

    fn eval_cmd(&mut self, args: &[Arg], dot: &Value, last: Option<Value>) -> R<Value> {
        let Some(first) = args.first() else {
            return Ok(Value::Nil);
        };
        let rest = &args[1..];
        match first {
            Arg::Field(path) => self.eval_chain(dot.clone(), path, first, rest, dot, last),
            Arg::Var(v, path) => {
                let val = self.var(v)?;
                if path.is_empty() {
                    self.no_args(first, rest, &last)?;
                    return Ok(val);
                }
                self.eval_chain(val, path, first, rest, dot, last)
            }
            Arg::Chain(inner, path) => {
                let val = self.eval_arg(inner, dot)?;
                self.eval_chain(val, path, first, rest, dot, last)
            }
            Arg::Func(name) => self.eval_func(name, rest, dot, last),
            Arg::Nil => Err(self.error("nil", "nil is not a command")),
            other => {
                self.no_args(other, rest, &last)?;
                self.eval_arg(other, dot)
            }
        }
    }

    fn no_args(&self, a: &Arg, rest: &[Arg], last: &Option<Value>) -> R<()> {
        if !rest.is_empty() || last.is_some() {
            return Err(self.error(
                &a.to_string(),
                format!("can't give argument to non-function {a}"),
            ));
        }
        Ok(())
    }

    fn eval_arg(&mut self, a: &Arg, dot: &Value) -> R<Value> {
        Ok(match a {
            Arg::Field(path) => self.eval_chain(dot.clone(), path, a, &[], dot, None)?,
            Arg::Var(v, path) => {
                let val = self.var(v)?;
                if path.is_empty() {
                    val
                } else {
                    self.eval_chain(val, path, a, &[], dot, None)?
                }
            }
            Arg::Chain(inner, path) => {
                let val = self.eval_arg(inner, dot)?;
                self.eval_chain(val, path, a, &[], dot, None)?
            }
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Func(name) => self.eval_func(name, &[], dot, None)?,
            Arg::Pipe(p) => {
                let mark = self.vars.len();
                let v = self.eval_pipe(p, dot);
                self.vars.truncate(mark);
                v?
            }
        })
    }

    fn eval_chain(
        &mut self,
        mut recv: Value,
        path: &[String],
        node: &Arg,
        args: &[Arg],
        dot: &Value,
        last: Option<Value>,
    ) -> R<Value> {
        let n = path.len();
        for (i, name) in path.iter().enumerate() {
            let is_last = i + 1 == n;
            let has_args = is_last && (!args.is_empty() || last.is_some());
            recv = match &recv {
                Value::Nil => {
                    return Err(self.error(
                        &node.to_string(),
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                Value::Map(_)
                    if funcs::VALUES_METHODS.contains(&name.as_str())
                        && super::value::is_values(&recv) =>
                {
                    let mut vals = Vec::new();
                    if is_last {
                        for a in args {
                            vals.push(self.eval_arg(a, dot)?);
                        }
                        if let Some(l) = &last {
                            vals.push(l.clone());
                        }
                    }
                    funcs::values_method(&recv, name, vals).map_err(|e| {
                        self.error(&node.to_string(), format!("error calling {name}: {e}"))
                    })?
                }
                Value::Map(m) => {
                    if has_args {
                        return Err(self.error(
                            &node.to_string(),
                            format!("{name} is not a method but has arguments"),
                        ));
                    }
                    m.borrow().get(name).cloned().unwrap_or_default()
                }
                Value::Obj(o) => {
                    let o = o.clone();
                    let mut vals = Vec::new();
                    if is_last {
                        for a in args {
                            vals.push(self.eval_arg(a, dot)?);
                        }
                        if let Some(l) = &last {
                            vals.push(l.clone());
                        }
                    }
                    match funcs::method(&o, name, vals) {
                        Some(Ok(v)) => v,
                        Some(Err(e)) => {
                            return Err(
                                self.error(&node.to_string(), format!("error calling {name}: {e}"))
                            );
                        }
                        None => {
                            return Err(self.error(
                                &node.to_string(),
                                format!("can't evaluate field {name} in type {}", recv.type_name()),
                            ));
                        }
                    }
                }
                other => {
                    return Err(self.error(
                        &node.to_string(),
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(recv)
    }

    fn eval_func(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Value,
        last: Option<Value>,
    ) -> R<Value> {
        if name == "and" || name == "or" {
            let want = name == "or";
            let mut v = Value::Nil;
            let total = args.len() + usize::from(last.is_some());
            if total == 0 {
                return Err(self.error(
                    name,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            for a in args {
                v = self.eval_arg(a, dot)?;
                if v.truthy() == want {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = l;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(a, dot)?);
        }
        if let Some(l) = last {
            vals.push(l);
        }
        // The node as written, for error messages only.
        let node = || {
            if args.is_empty() {
                name.to_string()
            } else {
                format!(
                    "{name} {}",
                    args.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        };
        match funcs::call(self, name, vals) {
            Ok(v) => Ok(v),
            Err(FuncError::Msg(m)) => {
                Err(self.error(&node(), format!("error calling {name}: {m}")))
            }
            Err(FuncError::Fail(m)) => Err(ExecError::Fail {
                file: self.file.to_string(),
                line: self.line,
                message: m,
            }),
            Err(FuncError::Nested(e)) => Err(match e {
                ExecError::Fail { .. } => e,
                other => self.error(&node(), format!("error calling {name}: {other}")),
            }),
        }
    }
}
