//! Go's `text/template`, as Helm uses it: [`lex`] and [`parse`] turn a
//! template file into trees (its `define`s become their own trees),
//! [`exec`] runs them over [`value`]s, [`gofmt`] is `fmt.Sprintf`.

pub mod exec;
pub mod gofmt;
pub mod lex;
pub mod parse;
pub mod value;
