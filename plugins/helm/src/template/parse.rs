//! The parser: tokens into trees, with Go's parse-time checks (undefined
//! functions and variables, `{{break}}` outside `{{range}}`, misplaced
//! `{{end}}`/`{{else}}`) and its `define`/`block` handling.

use std::rc::Rc;

use super::lex::{Tok, Token, lex};

/// A parsed template body.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The template's name.
    pub name: Rc<str>,
    /// The file (template) it was parsed from, for error messages.
    pub file: Rc<str>,
    /// Its nodes.
    pub root: Rc<Vec<Node>>,
}

impl Tree {
    /// Whether the body is only whitespace, so that it does not replace an
    /// earlier definition (Go's `IsEmptyTree`).
    pub fn is_empty(&self) -> bool {
        self.root.iter().all(|n| match n {
            Node::Text(t) => t.trim().is_empty(),
            _ => false,
        })
    }
}

/// A node of a template body.
#[derive(Debug)]
pub enum Node {
    /// Literal text.
    Text(Rc<str>),
    /// `{{ pipeline }}`.
    Action(Pipe),
    /// `{{ if }}`.
    If(Branch),
    /// `{{ range }}`.
    Range(Branch),
    /// `{{ with }}`.
    With(Branch),
    /// `{{ template "name" pipeline }}` (and the call part of `block`).
    Template {
        /// Line of the action.
        line: u32,
        /// The template called.
        name: String,
        /// Its data, or nil.
        pipe: Option<Pipe>,
    },
    /// `{{ break }}`.
    Break,
    /// `{{ continue }}`.
    Continue,
}

/// `if`/`range`/`with`: the pipeline, the body and the `else` body.
#[derive(Debug)]
pub struct Branch {
    /// Line of the action.
    pub line: u32,
    /// The condition (or ranged-over value).
    pub pipe: Pipe,
    /// The body.
    pub list: Vec<Node>,
    /// The `{{ else }}` body (a nested `if`/`with` for `else if`).
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline: optional variable declarations and `|`-separated commands.
#[derive(Debug)]
pub struct Pipe {
    /// Line of the pipeline.
    pub line: u32,
    /// Declared (or assigned) variables.
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub assign: bool,
    /// The commands.
    pub cmds: Vec<Cmd>,
}

/// One command: a function (or value) and its arguments.
#[derive(Debug)]
pub struct Cmd {
    /// The operands; the first is what is called.
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.a.b`.
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// `.`.
    Dot,
    /// `nil`.
    Nil,
    /// `true`/`false`.
    Bool(bool),
    /// An integer constant.
    Int(i64),
    /// A float constant.
    Float(f64),
    /// A string constant.
    Str(Rc<str>),
    /// A function name.
    Func(String),
    /// `( pipeline )`.
    Pipe(Box<Pipe>),
    /// `( pipeline ).a.b`.
    Chain(Box<Arg>, Vec<String>),
}

impl std::fmt::Display for Arg {
    /// The operand as written (for error messages: `at <.Values.x>`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Field(p) => {
                for s in p {
                    write!(f, ".{s}")?;
                }
                Ok(())
            }
            Arg::Var(v, p) => {
                f.write_str(v)?;
                for s in p {
                    write!(f, ".{s}")?;
                }
                Ok(())
            }
            Arg::Dot => f.write_str("."),
            Arg::Nil => f.write_str("nil"),
            Arg::Bool(b) => write!(f, "{b}"),
            Arg::Int(i) => write!(f, "{i}"),
            Arg::Float(x) => write!(f, "{x}"),
            Arg::Str(s) => write!(f, "{s:?}"),
            Arg::Func(n) => f.write_str(n),
            Arg::Pipe(p) => write!(f, "({p})"),
            Arg::Chain(a, p) => {
                write!(f, "{a}")?;
                for s in p {
                    write!(f, ".{s}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.assign { "=" } else { ":=" }
            )?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            for (j, a) in c.args.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

/// A parse error: `template: NAME:LINE: message`, as Go words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {name}:{line}: {message}")]
pub struct ParseError {
    /// The template (file) name.
    pub name: String,
    /// 1-based line.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

/// Parses `src` as template `name`; returns the main tree and every
/// `define`d or `block` tree, in source order. `is_func` says which
/// function names exist.
///
/// # Errors
/// The first syntax error, with its line.
pub fn parse(
    name: &str,
    src: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Vec<Tree>, ParseError> {
    let toks = lex(src).map_err(|(line, message)| ParseError {
        name: name.to_string(),
        line,
        message,
    })?;
    let file: Rc<str> = name.into();
    let mut p = Parser {
        toks,
        pos: 0,
        name: file.clone(),
        vars: vec!["$".to_string()],
        range_depth: 0,
        defs: Vec::new(),
        is_func,
    };
    let root = p.top()?;
    let mut out = vec![Tree {
        name: file.clone(),
        file: file.clone(),
        root: Rc::new(root),
    }];
    out.append(&mut p.defs);
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    name: Rc<str>,
    vars: Vec<String>,
    range_depth: u32,
    defs: Vec<Tree>,
    is_func: &'a dyn Fn(&str) -> bool,
}

/// What ended a list.
enum Stop {
    /// `{{end}}`.
    End,
    /// `{{else}}`.
    Else,
    /// The end of the input.
    Eof,
}

type R<T> = Result<T, ParseError>;

impl Parser<'_> {
    fn err<T>(&self, line: u32, message: impl Into<String>) -> R<T> {
        Err(ParseError {
            name: self.name.to_string(),
            line,
            message: message.into(),
        })
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)]
    }

    /// Takes the current token and moves on (the parser never goes back,
    /// so tokens are moved out rather than cloned; the final `Eof` stays).
    fn next(&mut self) -> Token {
        if self.pos + 1 >= self.toks.len() {
            self.pos = self.toks.len();
            return self.peek().clone();
        }
        let line = self.toks[self.pos].line;
        let t = std::mem::replace(
            &mut self.toks[self.pos],
            Token {
                tok: Tok::Eof,
                line,
                spaced: false,
            },
        );
        self.pos += 1;
        t
    }

    fn expect_right(&mut self, context: &str) -> R<()> {
        let t = self.next();
        if t.tok != Tok::Right {
            return self.err(
                t.line,
                format!("unexpected {} in {context}", describe(&t.tok)),
            );
        }
        Ok(())
    }

    fn top(&mut self) -> R<Vec<Node>> {
        let mut out = Vec::new();
        loop {
            match &self.peek().tok {
                Tok::Eof => return Ok(out),
                Tok::Left if self.peek_at(1).tok == Tok::Keyword("define") => {
                    self.next();
                    self.next();
                    self.define()?;
                }
                _ => match self.text_or_action()? {
                    Step::Node(n) => out.push(n),
                    Step::End(line) => return self.err(line, "unexpected {{end}}"),
                    Step::Else(line) => return self.err(line, "unexpected {{else}}"),
                },
            }
        }
    }

    fn define(&mut self) -> R<()> {
        let t = self.next();
        let Tok::Str(name) = t.tok else {
            return self.err(t.line, "unexpected name in define clause");
        };
        self.expect_right("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        match end {
            Stop::End => {}
            Stop::Else => return self.err(t.line, "unexpected {{else}} in define clause"),
            Stop::Eof => return self.err(self.peek().line, "unexpected EOF"),
        }
        self.defs.push(Tree {
            name: name.into(),
            file: self.name.clone(),
            root: Rc::new(list),
        });
        Ok(())
    }

    /// Parses nodes until `{{end}}`, `{{else}}` (the action's `}}` not yet
    /// consumed for else) or EOF.
    fn item_list(&mut self) -> R<(Vec<Node>, Stop)> {
        let mut out = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                return Ok((out, Stop::Eof));
            }
            if self.peek().tok == Tok::Left && self.peek_at(1).tok == Tok::Keyword("define") {
                let line = self.peek().line;
                return self.err(line, "unexpected <define> in command");
            }
            match self.text_or_action()? {
                Step::Node(n) => out.push(n),
                Step::End(_) => return Ok((out, Stop::End)),
                Step::Else(_) => return Ok((out, Stop::Else)),
            }
        }
    }

    fn text_or_action(&mut self) -> R<Step> {
        let t = self.next();
        match t.tok {
            Tok::Text(s) => Ok(Step::Node(Node::Text(s.into()))),
            Tok::Left => self.action(),
            Tok::Eof => self.err(t.line, "unexpected EOF"),
            other => self.err(t.line, format!("unexpected {}", describe(&other))),
        }
    }

    fn action(&mut self) -> R<Step> {
        let t = self.peek();
        if let Tok::Keyword(k) = t.tok {
            let t = self.next();
            return match k {
                "end" => {
                    self.expect_right("end")?;
                    Ok(Step::End(t.line))
                }
                "else" => Ok(Step::Else(t.line)),
                "if" => Ok(Step::Node(Node::If(self.branch("if")?))),
                "with" => Ok(Step::Node(Node::With(self.branch("with")?))),
                "range" => {
                    self.range_depth += 1;
                    let b = self.branch("range");
                    self.range_depth -= 1;
                    Ok(Step::Node(Node::Range(b?)))
                }
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return self.err(t.line, format!("{{{{{k}}}}} outside {{{{range}}}}"));
                    }
                    self.expect_right(k)?;
                    Ok(Step::Node(if k == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    }))
                }
                "template" | "block" => self.template(k, t.line).map(Step::Node),
                _ => self.err(t.line, format!("unexpected <{k}> in command")),
            };
        }
        let pipe = self.pipeline("command", Tok::Right)?;
        Ok(Step::Node(Node::Action(pipe)))
    }

    fn template(&mut self, kind: &str, line: u32) -> R<Node> {
        let t = self.next();
        let Tok::Str(name) = t.tok else {
            return self.err(
                t.line,
                format!("unexpected {} in {kind} clause", describe(&t.tok)),
            );
        };
        let pipe = if self.peek().tok == Tok::Right {
            self.next();
            None
        } else {
            Some(self.pipeline(kind, Tok::Right)?)
        };
        if kind == "block" {
            let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
            let (list, end) = self.item_list()?;
            self.vars = saved;
            if !matches!(end, Stop::End) {
                return self.err(self.peek().line, "unexpected EOF");
            }
            self.defs.push(Tree {
                name: name.as_str().into(),
                file: self.name.clone(),
                root: Rc::new(list),
            });
        }
        Ok(Node::Template { line, name, pipe })
    }

    fn branch(&mut self, kind: &'static str) -> R<Branch> {
        let line = self.peek().line;
        let nvars = self.vars.len();
        let pipe = self.pipeline(kind, Tok::Right)?;
        let (list, end) = self.item_list()?;
        let else_list = match end {
            Stop::End => None,
            Stop::Eof => return self.err(self.peek().line, "unexpected EOF"),
            Stop::Else => {
                let nested = match self.peek().tok {
                    Tok::Keyword("if") => Some("if"),
                    Tok::Keyword("with") => Some("with"),
                    _ => None,
                };
                if let Some(k) = nested {
                    // `{{else if}}`: a nested branch sharing this {{end}}.
                    self.next();
                    let b = self.branch(k)?;
                    Some(vec![if k == "if" {
                        Node::If(b)
                    } else {
                        Node::With(b)
                    }])
                } else {
                    self.expect_right("else")?;
                    let (l, end) = self.item_list()?;
                    match end {
                        Stop::End => {}
                        Stop::Else => return self.err(line, "expected end; found {{else}}"),
                        Stop::Eof => return self.err(self.peek().line, "unexpected EOF"),
                    }
                    Some(l)
                }
            }
        };
        self.vars.truncate(nvars);
        Ok(Branch {
            line,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> R<Pipe> {
        let line = self.peek().line;
        let mut decl = Vec::new();
        let mut assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $v :=`.
        if let Tok::Var(v) = &self.peek().tok {
            let v = v.clone();
            match self.peek_at(1).tok {
                Tok::Declare | Tok::Assign => {
                    assign = self.peek_at(1).tok == Tok::Assign;
                    self.next();
                    self.next();
                    decl.push(v);
                }
                Tok::Comma if context == "range" => {
                    if let (Tok::Var(v2), Tok::Declare | Tok::Assign) =
                        (&self.peek_at(2).tok, &self.peek_at(3).tok)
                    {
                        assign = self.peek_at(3).tok == Tok::Assign;
                        let v2 = v2.clone();
                        self.pos += 4;
                        decl.push(v);
                        decl.push(v2);
                    } else {
                        return self.err(line, "range can only initialize variables");
                    }
                }
                _ => {}
            }
        }
        for v in &decl {
            if assign {
                if !self.vars.contains(v) {
                    return self.err(line, format!("undefined variable {v:?}"));
                }
            } else {
                self.vars.push(v.clone());
            }
        }
        let mut cmds = Vec::new();
        loop {
            let t = self.peek();
            if t.tok == end {
                self.next();
                break;
            }
            match t.tok {
                Tok::Pipe if !cmds.is_empty() => {
                    self.next();
                    continue;
                }
                Tok::Eof | Tok::Right | Tok::RParen => {
                    let message = format!("unexpected {} in {context}", describe(&t.tok));
                    return self.err(t.line, message);
                }
                _ => {}
            }
            let cmd = self.command()?;
            cmds.push(cmd);
            let t = self.peek();
            if t.tok != Tok::Pipe && t.tok != end {
                let t = t.clone();
                return self.err(
                    t.line,
                    format!("unexpected {} in operand", describe(&t.tok)),
                );
            }
        }
        if cmds.is_empty() {
            return self.err(line, format!("missing value for {context}"));
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if !matches!(
                c.args.first(),
                Some(Arg::Field(_) | Arg::Var(..) | Arg::Func(_) | Arg::Chain(..) | Arg::Pipe(_))
            ) {
                return self.err(
                    line,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(Pipe {
            line,
            decl,
            assign,
            cmds,
        })
    }

    fn command(&mut self) -> R<Cmd> {
        let mut args = Vec::new();
        loop {
            match self.peek().tok {
                Tok::Pipe | Tok::Right | Tok::RParen | Tok::Eof => break,
                _ => {}
            }
            if !args.is_empty() && !self.peek().spaced {
                let t = self.peek().clone();
                return self.err(
                    t.line,
                    format!("missing space? unexpected {}", describe(&t.tok)),
                );
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            let line = self.peek().line;
            return self.err(line, "empty command");
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> R<Arg> {
        let term = self.term()?;
        let mut fields = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            if self.peek().spaced {
                break;
            }
            fields.push(f.clone());
            self.next();
        }
        if fields.is_empty() {
            return Ok(term);
        }
        Ok(match term {
            Arg::Field(mut p) => {
                p.extend(fields);
                Arg::Field(p)
            }
            Arg::Var(v, mut p) => {
                p.extend(fields);
                Arg::Var(v, p)
            }
            Arg::Dot => Arg::Field(fields),
            Arg::Bool(_) | Arg::Nil | Arg::Int(_) | Arg::Float(_) | Arg::Str(_) => {
                let line = self.peek().line;
                return self.err(line, format!("unexpected . after term {term:?}"));
            }
            other => Arg::Chain(Box::new(other), fields),
        })
    }

    fn term(&mut self) -> R<Arg> {
        let t = self.next();
        Ok(match t.tok {
            Tok::Ident(name) => {
                if !(self.is_func)(&name) {
                    return self.err(t.line, format!("function {name:?} not defined"));
                }
                Arg::Func(name)
            }
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return self.err(t.line, format!("undefined variable {v:?}"));
                }
                Arg::Var(v, Vec::new())
            }
            Tok::Field(f) => Arg::Field(vec![f]),
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Number(n) => parse_number(&n)
                .ok_or(())
                .or_else(|()| self.err(t.line, format!("illegal number syntax: {n:?}")))?,
            Tok::Str(s) => Arg::Str(s.into()),
            Tok::LParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", Tok::RParen)?,
            )),
            other => {
                return self.err(
                    t.line,
                    format!("unexpected {} in operand", describe(&other)),
                );
            }
        })
    }
}

enum Step {
    Node(Node),
    End(u32),
    Else(u32),
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Right => "\"}}\"".into(),
        Tok::Left => "\"{{\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::Eof => "EOF".into(),
        Tok::Keyword(k) => format!("<{k}>"),
        Tok::Ident(s) | Tok::Number(s) => format!("<{s}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Var(v) => format!("<{v}>"),
        other => format!("{other:?}"),
    }
}

/// Go's number constant rules: integers (decimal, `0x`, `0o`, `0b`, legacy
/// octal, `_` separators, character constants) stay integers; anything with
/// `.`, `e` or `p` (outside hex digits) is a float.
fn parse_number(s: &str) -> Option<Arg> {
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') || h.contains('.') {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|c| c.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    let f: f64 = body.parse().ok()?;
    Some(Arg::Float(if neg { -f } else { f }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &str) -> bool {
        true
    }

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn defines_become_their_own_trees() {
        let trees = parse("t", "a{{define \"x\"}}b{{end}}c", &all).unwrap();
        let names: Vec<&str> = trees.iter().map(|t| &*t.name).collect();
        assert_eq!(names, ["t", "x"]);
        assert_eq!(trees[0].root.len(), 2);
    }

    #[test]
    fn unknown_functions_fail_with_the_line() {
        let e = parse("t", "\n{{ nope 1 }}", &none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template: t:2: function \"nope\" not defined"
        );
    }

    #[test]
    fn undefined_variables_fail() {
        let e = parse("t", "{{ $x }}", &all).unwrap_err();
        assert_eq!(e.to_string(), "template: t:1: undefined variable \"$x\"");
    }

    #[test]
    fn variables_end_with_their_block() {
        assert!(parse("t", "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", &all).is_err());
        assert!(parse("t", "{{ with $x := 1 }}{{ $x }}{{ end }}", &all).is_ok());
    }

    #[test]
    fn break_outside_range_is_an_error() {
        assert!(parse("t", "{{ break }}", &all).is_err());
        assert!(parse("t", "{{ range .a }}{{ break }}{{ end }}", &all).is_ok());
    }

    #[test]
    fn numbers_follow_go_rules() {
        assert!(matches!(parse_number("0x1F"), Some(Arg::Int(31))));
        assert!(matches!(parse_number("017"), Some(Arg::Int(15))));
        assert!(matches!(parse_number("1e3"), Some(Arg::Float(_))));
        assert!(matches!(parse_number("-2"), Some(Arg::Int(-2))));
    }
}
