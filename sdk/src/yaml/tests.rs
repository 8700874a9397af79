//! The fast reader against serde-saphyr: wherever it answers, the general
//! parser (as each flavour calls it) gives the same documents.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

const BOTH: [Flavour; 2] = [Flavour::Default, Flavour::Helm];

/// The general parser as each flavour stands for it, null documents
/// skipped by serde-saphyr itself.
fn general(text: &str, flavour: Flavour) -> Result<Vec<Value>, String> {
    match flavour {
        Flavour::Default => serde_saphyr::from_multiple(text).map_err(|e| e.to_string()),
        Flavour::Helm => {
            let opts = serde_saphyr::options! { legacy_octal_numbers: true };
            serde_saphyr::from_multiple_with_options::<Value>(text, opts)
                .map(|docs| docs.into_iter().map(yaml11_keys).collect())
                .map_err(|e| e.to_string())
        }
    }
}

/// Wherever the fast reader answers (one document or several), the
/// general parser answers the same; whether [`documents`] answered.
fn agrees(text: &str, flavour: Flavour) -> bool {
    let want = general(text, flavour);
    let many = documents(text, flavour);
    if let Some(docs) = &many {
        assert_eq!(Ok(docs), want.as_ref(), "{flavour:?} {text:?}");
    }
    if let Some(v) = document(text, flavour) {
        let docs = if v.is_null() { vec![] } else { vec![v] };
        assert_eq!(
            Ok(&docs),
            want.as_ref(),
            "{flavour:?} {text:?} (one document)"
        );
        assert_eq!(many.as_ref(), Some(&docs), "{flavour:?} {text:?}");
    }
    many.is_some()
}

#[test]
fn reads_values_as_the_general_parser_does() {
    let handled = [
        "x",
        "x y",
        "80",
        "-1",
        "0",
        "123456789012345678",
        "-123456789012345678",
        "true",
        "True",
        "FALSE",
        "tRue",
        "fALSE",
        "null",
        "Null",
        "NULL",
        "nUll",
        "nil",
        "~",
        "100m",
        "128Mi",
        "1.0.0",
        "0.1.0",
        "v1",
        "x:y",
        "http://a/b#c",
        "-web",
        "a-1",
        "+",
        "..",
        ".x",
        "e3",
        "E5",
        "1e3x",
        "'it''s'",
        "''''",
        "'a''''b'",
        "'a # b'",
        "'x' ",
        "\"\\u00e9\\n\\t\\\"\\/\\\\\"",
        "\"a: b\"",
        "\"plain\"",
        "'x'  # c",
        "x # c",
        "x#y",
        "\"\"",
        "''",
        "'null'",
        "\"~\"",
        "'yes'",
        "[]",
        "{}",
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "yEs",
        "on",
        "On",
        "ON",
        "oN",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "nO",
        "off",
        "Off",
        "OFF",
        "oFf",
        "{x: y}",
        "1079ca2e3b",
        "1-2-x",
        "1..2",
        "2001-01-01",
        "2001-12-14t21:59:43.10-05:00",
        "-x",
        "+x",
        "[1, b, \"c\", {x: 1}]",
        "{a: 1, b: [2, 3], c: {d: e}}",
        "[a,b]",
        "{a: }",
        "[a, ]",
        "{\"a\":1,\"b\":\"c\"}",
        "[yes, No, ~, null, 'on']",
        "9223372036854775",
        "nginx:1.25",
        "é",
        "\"日本\"",
    ];
    for flavour in BOTH {
        for s in handled {
            let text = format!("k: {s}");
            assert!(
                agrees(&text, flavour),
                "{flavour:?} {text:?} left to the general parser"
            );
        }
    }
    // Numbers other than plain decimal integers (where the two flavours
    // differ: `0777` is 777.0 by default and 511 in Helm's reading, `0_1`
    // a string and 1), special floats, and syntax this reader leaves alone.
    let general_only = [
        ".",
        "0777",
        "0_1",
        "007",
        "08",
        "00",
        "-0",
        "+0",
        "+1",
        "1_000",
        "1e3",
        "1E3",
        "1e+3",
        "1e-3",
        "1e",
        "0x1F",
        "0xff",
        "0XFF",
        "0o17",
        "0b11",
        ".5",
        "-.5",
        "1.",
        "1.0",
        "1.5",
        "0.0",
        "12:30",
        "1:2",
        ".inf",
        "-.Inf",
        ".NaN",
        "inf",
        "nan",
        "NaN",
        "Infinity",
        "-inf",
        "1234567890123456789",
        "18446744073709551616",
        "-9223372036854775809",
        "&a x",
        "*a",
        "!!str 1",
        "!x y",
        "@x",
        "`x",
        "%x",
        "- x",
        "-",
        "? x",
        "\"\\x41\"",
        "\"\\e\"",
        "\"\\ud83d\\ude00\"",
        "\"open",
        "'open",
        ">\n  x",
        "|+\n  x\n",
        "|2\n   x",
        "[a: b]",
        "{a:b}",
        "[a#b]",
        "a: b",
        "x\n  y",
        "\"x\n  y\"",
    ];
    for flavour in BOTH {
        for s in general_only {
            let text = format!("k: {s}");
            assert!(
                !agrees(&text, flavour),
                "{flavour:?} {text:?} read by the fast reader"
            );
        }
    }
    // The same scalars inside flow collections and as sequence items:
    // wherever the fast reader answers, it agrees.
    for flavour in BOTH {
        for s in handled.iter().chain(&general_only) {
            for text in [
                format!("k: [{s}]"),
                format!("k: {{a: {s}}}"),
                format!("- {s}"),
            ] {
                agrees(&text, flavour);
            }
        }
    }
}

#[test]
fn reads_keys_as_each_flavour_does() {
    // Plain keys are strings as written; Helm's reading spells YAML 1.1
    // booleans as Go prints them.
    let handled = [
        "x", "y", "Y", "yes", "Yes", "yEs", "on", "ON", "n", "no", "off", "Off", "true", "True",
        "TRUE", "tRue", "false", "False", "1", "-1", "0777", "1e3", "1.0", "0x1F", ".inf", "nUll",
        "\"on\"", "'y'", "\"null\"", "'~'", "a b", "a.b/c", "-x",
    ];
    for flavour in BOTH {
        for k in handled {
            for text in [
                format!("{k}: 1"),
                format!("{{{k}: 1}}"),
                format!("- {k}: 1"),
            ] {
                let quoted_yaml11 = flavour == Flavour::Helm
                    && k.starts_with(['"', '\''])
                    && yaml11_key(&k[1..k.len() - 1]).is_some();
                // Helm's general reading rewrites quoted boolean keys too
                // (go-yaml does not): left to it.
                assert_eq!(
                    agrees(&text, flavour),
                    !quoted_yaml11,
                    "{flavour:?} {text:?}"
                );
            }
        }
    }
    // Null and merge keys are the general parser's (it refuses the one
    // and merges the other); so are keys that are not plain scalars.
    let general_only = [
        "~", "null", "Null", "NULL", "<<", "&a x", "!t x", "? x", "[a]", "{a: b}", "*a",
    ];
    for flavour in BOTH {
        for k in general_only {
            let text = format!("{k}: 1");
            assert!(!agrees(&text, flavour), "{flavour:?} {text:?}");
        }
    }
    // What the flavours give, spelled out.
    let text = "y: 1\n'on': 2\nTrue: 3\nyEs: 4\nx: yes\n";
    assert_eq!(
        document(text, Flavour::Default),
        Some(json!({"y": 1, "on": 2, "True": 3, "yEs": 4, "x": true}))
    );
    let text = "y: 1\nOff: 2\nyEs: 4\nx: yes\n";
    assert_eq!(
        document(text, Flavour::Helm),
        Some(json!({"true": 1, "false": 2, "yEs": 4, "x": true}))
    );
}

#[test]
fn reads_documents_as_the_general_parser_does() {
    // Read here (each checked against the general parser).
    let handled = [
        "a: |\n  x\n  y",
        "a: |\n  x\n  y\n",
        "a: |-\n  x\n\n",
        "a: |\n  x\n\n  y\n\n\nb: 1",
        "a: |\n    x\n\n  ",
        "a: |\n\n  x\n",
        "a: |\n  # not a comment\n  x\n# a comment\nb: 2",
        "a: |  # c\n  x\n",
        "a:\n- 1\n- b: 2\n  c: 3\n-   d: 4\n    e: 5",
        "a:\n  - x\n  -\n  - z\n",
        "a:\n  -\n    b: 1\n",
        "a:\nb:\n  c:\n",
        "# c\na: 1 # c\n\n  # indented comment\nb:\n  # c\n  c: d\n",
        "\"k\": 1\n'j': 2",
        "- a\n- b: c\n  d:\n  - e\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    app.kubernetes.io/name: x\ndata:\n  a.yaml: |\n    k: v\n    l:\n      - 1\n  b: \"2\"\n",
        "spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: \"nginx:1.25\"\n          ports:\n            - name: http\n              containerPort: 80\n          resources:\n            limits:\n              cpu: 100m\n",
        "x",
        "'x'",
        "[a, b]",
        "key:value",
        "x:y: 1",
        "x #c: 1",
        "a  : 1\nb:    2   # c\na#b: 3\n",
        "a: é\nü: \"日本\\u00e9\"\nc: [ä, {ö: ß}]\n",
        "a:\n  - name: x\n    value: \"1\"\n  -   name: y\n      value: '2'\nb: 3\n",
        "1: a",
        "a: {y: 1, n: [2], 'on': 3, True: 4}",
        "",
        "# only a comment\n",
        "\n\n",
        "~",
        "null\n# c",
        "''",
    ];
    for flavour in BOTH {
        for d in handled {
            // `'on'` as a key is Helm's general parser's.
            let quoted_on = flavour == Flavour::Helm && d.contains("'on'");
            assert_eq!(agrees(d, flavour), !quoted_on, "{flavour:?} {d:?}");
        }
    }
    // Duplicate keys, bad indentation, multi-line scalars, anchors and
    // the like are the general parser's (to read or to report).
    let general_only = [
        "a: b\na: c",
        "a: b\n  c",
        "a:\n  b: 1\n c: 2",
        "a:\n  - - z\n",
        "x\ny",
        "- x\n  y",
        "a: [1,\n  2]",
        "<<: {a: 1}",
        "a: b: c",
        "a: &x 1\nb: *x",
        "a: |+\n  x\n\n",
        "a: >\n  x\n  y\n",
        "a: |\n  x\n   \n  y",
        "a: 'x\n  y'",
        "a:\n\tb: 1",
        "a: 1\r\nb: 2\r\n",
        "\u{feff}a: 1",
        "a: 1\n...\n",
        "%YAML 1.2\n---\na: 1",
        "--- a: 1",
        "a: 1\n--- \nb: 2",
        "a: 1\n---  # c\nb: 2",
        "  a: 1\n b: 2",
        "a:\n  - 1\n - 2",
    ];
    for flavour in BOTH {
        for d in general_only {
            assert!(
                !agrees(d, flavour),
                "{flavour:?} {d:?} read by the fast reader"
            );
        }
    }
    // Both keys become "true" in Helm's reading: a duplicate.
    assert!(agrees("y: 1\nYes: 2", Flavour::Default));
    assert!(!agrees("y: 1\nYes: 2", Flavour::Helm));
}

#[test]
fn splits_documents_as_the_general_parser_does() {
    let handled = [
        "---",
        "---\n",
        "a: 1\n---\n",
        "---\na: 1\n",
        "---\na: 1\n---\nb: 2\n",
        "a: 1\n---\n---\nb: 2\n",
        "a: 1\n---\n# c\n---\nb: 2\n",
        "a: 1\n---\n~\n---\nb: 2\n",
        "a: 1\n---\nnull\n",
        "a: 1\n---\nNULL\n---\nNull\n",
        "---\n---\n",
        "a: 1\n---\n\n\n",
        "---\n~\n---\na: 1\n",
        "a: 1\n---\n''\n",
        "a: 1\n---\n[]\n",
        "a: 1\n---\n---\n---\n",
        "a: |\n  x\n---\nb: |\n  y\n\n---\nc: |-\n  z\n",
        "a: |\n  x\n\n---\n",
        "a: |\n  x\n---\n  y",
        "- a\n---\n- b\n",
        "a:\n---\nb:\n",
        "a: 1\n---\na: 1\n",
        "# c\n---\na: 1\n",
        "# c\n---\n# d\n",
        "a: 1\n---\n\n  \n---\nb: 2\n",
    ];
    for flavour in BOTH {
        for d in handled {
            assert!(
                agrees(d, flavour),
                "{flavour:?} {d:?} left to the general parser"
            );
        }
    }
    // Counted as serde-saphyr counts them, spelled out: null and empty
    // documents are skipped.
    assert_eq!(
        documents(
            "---\na: 1\n---\n# c\n---\n~\n---\n'x'\n---\n",
            Flavour::Default
        ),
        Some(vec![json!({"a": 1}), json!("x")])
    );
    // Separators this reader does not split on send the whole text to
    // the general parser, even where one line alone would be read here.
    let general_only = [
        "a: 1\n...\n---\nb: 2\n",
        "a: 1\n...\nb: 2\n",
        "--- a\n",
        "---a\n",
        "a\n--- \n",
        "a: 1\n---  # c\nb: 2\n",
        "%YAML 1.2\n---\na: 1\n",
        "%TAG ! tag:x,2000:\n---\na: 1\n",
        "a: 1\n---\nb: [\n",
        "a: 1\n---\nb: 2\nb: 3\n",
    ];
    for flavour in BOTH {
        for d in general_only {
            assert!(
                !agrees(d, flavour),
                "{flavour:?} {d:?} read by the fast reader"
            );
        }
    }
    // One document at a time refuses separators.
    assert_eq!(document("a: 1\n---\nb: 2\n", Flavour::Default), None);
}

/// Every `.yaml`/`.yml` file under the repository (test data, examples),
/// hidden directories and build output skipped, in path order.
pub(crate) fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![root];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                && let Ok(text) = std::fs::read_to_string(&p)
            {
                files.push((p, text));
            }
        }
    }
    files.sort();
    files
}

/// `text` split on `---` lines.
fn split(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split('\n') {
        if line == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs
}

/// Every YAML file of the repository, whole and document by document:
/// where the fast reader answers, the general parser agrees; where the
/// general parser fails, the fast reader leaves the error to it; and the
/// fast reader takes most documents.
#[test]
fn agrees_with_the_general_parser_on_the_repository_yaml() {
    let files = corpus();
    assert!(files.len() > 100, "only {} YAML files found", files.len());
    for flavour in BOTH {
        let (mut whole, mut whole_fast) = (0, 0);
        let (mut docs, mut docs_fast) = (0, 0);
        for (path, text) in &files {
            let ok = general(text, flavour).is_ok();
            let fast = agrees(text, flavour);
            assert!(
                ok || !fast,
                "{flavour:?} {}: read an invalid file",
                path.display()
            );
            whole += usize::from(ok);
            whole_fast += usize::from(fast);
            // Document by document, split on `---` lines as `documents`
            // splits.
            for doc in split(text) {
                let ok = general(&doc, flavour).is_ok();
                let fast = agrees(&doc, flavour);
                assert!(
                    ok || !fast,
                    "{flavour:?} {}: read an invalid document",
                    path.display()
                );
                docs += usize::from(ok);
                docs_fast += usize::from(fast);
            }
        }
        eprintln!("{flavour:?}: {whole_fast} of {whole} files, {docs_fast} of {docs} documents");
        assert!(
            whole > 100 && whole_fast * 10 > whole * 6,
            "{flavour:?}: the fast reader took only {whole_fast} of {whole} files"
        );
        assert!(
            docs > 200 && docs_fast * 10 > docs * 6,
            "{flavour:?}: the fast reader took only {docs_fast} of {docs} documents"
        );
    }
}

/// A small deterministic generator (xorshift64*) for the randomised test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "name",
    "app.kubernetes.io/name",
    "y",
    "on",
    "True",
    "no",
    "1",
    "x y",
    "'q'",
    "\"on\"",
    "\"k\"",
    "null",
    "~",
    "<<",
    "-x",
    "a#b",
];
const SCALARS: &[&str] = &[
    "x",
    "hello world",
    "80",
    "-1",
    "0",
    "true",
    "yes",
    "Off",
    "null",
    "~",
    "nUll",
    "100m",
    "1.0.0",
    "v1",
    "nginx:1.25",
    "'it''s'",
    "\"a\\tb\"",
    "\"\"",
    "''",
    "[a, b]",
    "{k: v}",
    "[]",
    "{}",
    "1.5",
    "0777",
    "1e3",
    ".inf",
    "&a x",
    "*a",
    "- x",
    "x # c",
    "http://a/b#c",
];

/// A block mapping at column `indent`.
fn gen_map(rng: &mut Rng, indent: usize, depth: usize, out: &mut String) {
    for _ in 0..1 + rng.below(4) {
        if rng.below(8) == 0 {
            out.push_str(&" ".repeat(rng.below(6)));
            out.push_str(["# comment\n", "\n"][rng.below(2)]);
        }
        out.push_str(&" ".repeat(indent));
        out.push_str(rng.pick(KEYS));
        out.push(':');
        gen_value(rng, indent, depth, out);
    }
}

/// A block sequence with its dashes at column `indent`.
fn gen_seq(rng: &mut Rng, indent: usize, depth: usize, out: &mut String) {
    for _ in 0..1 + rng.below(3) {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match rng.below(4) {
            0 if depth < 4 => {
                // `- key: value` and more keys under it.
                let gap = 1 + rng.below(3);
                out.push_str(&" ".repeat(gap));
                out.push_str(rng.pick(KEYS));
                out.push(':');
                gen_value(rng, indent + 1 + gap, depth + 1, out);
                if rng.below(2) == 0 {
                    gen_map(rng, indent + 1 + gap, depth + 1, out);
                }
            }
            1 if depth < 4 => {
                out.push('\n');
                let step = 1 + rng.below(3);
                gen_map(rng, indent + step, depth + 1, out);
            }
            _ => {
                out.push(' ');
                out.push_str(rng.pick(SCALARS));
                out.push('\n');
            }
        }
    }
}

/// What follows `key:` on its line and below, for a key at `indent`.
fn gen_value(rng: &mut Rng, indent: usize, depth: usize, out: &mut String) {
    match rng.below(7) {
        0 if depth < 4 => {
            out.push('\n');
            let step = [1, 2, 4][rng.below(3)];
            gen_map(rng, indent + step, depth + 1, out);
        }
        1 if depth < 4 => {
            out.push('\n');
            let step = [0, 2][rng.below(2)];
            gen_seq(rng, indent + step, depth + 1, out);
        }
        2 => {
            out.push_str([" |", " |-", " |+", " >", " |2"][rng.below(5)]);
            out.push('\n');
            let inner = indent + 1 + rng.below(3);
            for _ in 0..1 + rng.below(3) {
                if rng.below(4) == 0 {
                    out.push_str(&" ".repeat(rng.below(inner + 2)));
                    out.push('\n');
                }
                out.push_str(&" ".repeat(inner + rng.below(2)));
                out.push_str(rng.pick(SCALARS));
                out.push('\n');
            }
        }
        3 => out.push('\n'),
        _ => {
            out.push(' ');
            out.push_str(rng.pick(SCALARS));
            if rng.below(6) == 0 {
                out.push_str(" # note");
            }
            out.push('\n');
        }
    }
}

/// One change that may or may not break the text: a byte dropped or
/// doubled, a YAML indicator inserted, a space added at a line start, a line
/// duplicated.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let b = text.as_bytes();
    if b.is_empty() {
        return String::new();
    }
    let at = rng.below(b.len());
    let mut out = b.to_vec();
    match rng.below(5) {
        0 => {
            out.remove(at);
        }
        4 => {
            let indicators = b":#-'\"[]{},| \n!&*?>%";
            out.insert(at, indicators[rng.below(indicators.len())]);
        }
        1 => out.insert(at, b[at]),
        2 => {
            let start = b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            out.insert(start, b' ');
        }
        _ => {
            let start = b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |p| p + 1);
            let end = b[at..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| at + p + 1);
            let line = b[start..end].to_vec();
            out.splice(start..start, line);
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Generated documents (block mappings and sequences, literal and folded
/// blocks, flow collections, comments, tricky keys and scalars, several
/// documents per text) and mutated copies of them: wherever the fast
/// reader answers, serde-saphyr gives the same, in both flavours.
#[test]
fn agrees_with_the_general_parser_on_generated_documents() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut answered, mut mutated_answered, mut valid) = (0, 0, 0);
    let total = 3000;
    for _ in 0..total {
        let mut text = String::new();
        for d in 0..1 + rng.below(3) {
            if d > 0 {
                text.push_str("---\n");
            }
            if rng.below(5) == 0 {
                gen_seq(&mut rng, 0, 0, &mut text);
            } else {
                gen_map(&mut rng, 0, 0, &mut text);
            }
        }
        let mutated = mutate(&mut rng, &text);
        for flavour in BOTH {
            valid += usize::from(general(&text, flavour).is_ok());
            answered += usize::from(agrees(&text, flavour));
            mutated_answered += usize::from(agrees(&mutated, flavour));
        }
    }
    eprintln!(
        "fast reader answered {answered} of {valid} valid generated texts, {mutated_answered} mutated ones"
    );
    assert!(
        answered * 4 > valid && mutated_answered > total / 10,
        "the fast reader answered too rarely to test it: {answered} of {valid}, {mutated_answered} mutated"
    );
}

/// What serde-saphyr itself makes of the spellings the fast reader must
/// agree with or leave alone, as found (pinned so that an upgrade that
/// changes them shows up here first).
#[test]
fn serde_saphyr_reads_these_spellings_so() {
    let value = |s: &str, flavour| general(&format!("k: {s}"), flavour).map(|d| d[0]["k"].clone());
    for flavour in BOTH {
        for (s, want) in [
            ("yes", json!(true)),
            ("yEs", json!(true)),
            ("on", json!(true)),
            ("y", json!(true)),
            ("N", json!(false)),
            ("True", json!(true)),
            ("tRue", json!(true)),
            ("~", Value::Null),
            ("NULL", Value::Null),
            ("nUll", json!("nUll")),
            ("1e3", json!(1000.0)),
            ("0x1F", json!(31)),
            ("0XFF", json!("0XFF")),
            ("12:30", json!("12:30")),
            ("inf", json!("inf")),
        ] {
            assert_eq!(value(s, flavour), Ok(want), "{flavour:?} {s}");
        }
        assert!(value(".inf", flavour).is_err(), "{flavour:?}");
        // Null keys are refused; other keys are strings as written (Helm's
        // reading then rewrites the YAML 1.1 booleans).
        assert!(general("~: 1", flavour).is_err());
        assert!(general("null: 1", flavour).is_err());
    }
    // Where the flavours differ: legacy octal.
    assert_eq!(value("0777", Flavour::Default), Ok(json!(777.0)));
    assert_eq!(value("0777", Flavour::Helm), Ok(json!(511)));
    assert_eq!(value("0_1", Flavour::Default), Ok(json!("0_1")));
    assert_eq!(value("0_1", Flavour::Helm), Ok(json!(1)));
    assert_eq!(
        general("y: 1\n1e3: 2\nTrue: 3\n", Flavour::Default),
        Ok(vec![json!({"y": 1, "1e3": 2, "True": 3})])
    );
    assert_eq!(
        general("y: 1\n1e3: 2\nOff: 3\n", Flavour::Helm),
        Ok(vec![json!({"true": 1, "1e3": 2, "false": 3})])
    );
}
