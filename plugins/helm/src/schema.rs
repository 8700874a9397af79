//! `values.schema.json` validation: the JSON Schema keywords charts use
//! (`type`, `properties`, `required`, `additionalProperties`, `items`,
//! `enum`, `const`, bounds, `pattern`, `allOf`/`anyOf`/`oneOf`/`not`,
//! local `$ref`), checked per chart against its own (coalesced) values as
//! Helm does.

use serde_json::{Map as JMap, Value as J};

use crate::chart::Chart;

/// Validates `values` against `chart`'s schema and each subchart's values
/// against its own. The error lists every failing chart with its problems.
///
/// # Errors
/// The problems found, as text.
pub fn validate_chart(chart: &Chart, values: &JMap<String, J>) -> Result<(), String> {
    let mut out = String::new();
    if let Some(schema) = &chart.schema {
        let mut errs = Vec::new();
        check(schema, schema, &J::Object(values.clone()), "", &mut errs);
        if !errs.is_empty() {
            out.push_str(&format!("{}:\n", chart.name()));
            for e in errs {
                out.push_str(&format!("- {e}\n"));
            }
        }
    }
    for d in &chart.deps {
        let sub = values
            .get(d.name())
            .and_then(J::as_object)
            .cloned()
            .unwrap_or_default();
        if let Err(e) = validate_chart(d, &sub) {
            out.push_str(&e);
        }
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

fn type_ok(t: &str, v: &J) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn resolve<'a>(root: &'a J, r: &str) -> Option<&'a J> {
    let path = r.strip_prefix("#")?;
    if path.is_empty() {
        return Some(root);
    }
    root.pointer(path)
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "at '/'".into()
    } else {
        format!("at '{path}'")
    }
}

fn check(root: &J, schema: &J, v: &J, path: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema == &J::Bool(false) {
            errs.push(format!("{}: false schema", at(path)));
        }
        return;
    };
    if let Some(r) = s.get("$ref").and_then(J::as_str)
        && let Some(target) = resolve(root, r)
    {
        check(root, target, v, path, errs);
    }
    match s.get("type") {
        Some(J::String(t)) if !type_ok(t, v) => {
            errs.push(format!("{}: got {}, want {t}", at(path), json_type(v)));
            return;
        }
        Some(J::Array(ts)) if !ts.iter().filter_map(J::as_str).any(|t| type_ok(t, v)) => {
            let want: Vec<&str> = ts.iter().filter_map(J::as_str).collect();
            errs.push(format!(
                "{}: got {}, want {}",
                at(path),
                json_type(v),
                want.join(" or ")
            ));
            return;
        }
        _ => {}
    }
    if let Some(e) = s.get("enum").and_then(J::as_array)
        && !e.iter().any(|x| num_eq(x, v))
    {
        errs.push(format!(
            "{}: value must be one of {}",
            at(path),
            e.iter().map(J::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(c) = s.get("const")
        && !num_eq(c, v)
    {
        errs.push(format!("{}: value must be {c}", at(path)));
    }
    if let Some(f) = v.as_f64() {
        let b = |k: &str| s.get(k).and_then(J::as_f64);
        if b("minimum").is_some_and(|m| f < m) {
            errs.push(format!(
                "{}: minimum: got {f}, want {}",
                at(path),
                s["minimum"]
            ));
        }
        if b("maximum").is_some_and(|m| f > m) {
            errs.push(format!(
                "{}: maximum: got {f}, want {}",
                at(path),
                s["maximum"]
            ));
        }
        if b("exclusiveMinimum").is_some_and(|m| f <= m) {
            errs.push(format!("{}: exclusiveMinimum: got {f}", at(path)));
        }
        if b("exclusiveMaximum").is_some_and(|m| f >= m) {
            errs.push(format!("{}: exclusiveMaximum: got {f}", at(path)));
        }
    }
    if let Some(st) = v.as_str() {
        let n = st.chars().count() as u64;
        if s.get("minLength")
            .and_then(J::as_u64)
            .is_some_and(|m| n < m)
        {
            errs.push(format!(
                "{}: minLength: got {n}, want {}",
                at(path),
                s["minLength"]
            ));
        }
        if s.get("maxLength")
            .and_then(J::as_u64)
            .is_some_and(|m| n > m)
        {
            errs.push(format!(
                "{}: maxLength: got {n}, want {}",
                at(path),
                s["maxLength"]
            ));
        }
        if let Some(p) = s.get("pattern").and_then(J::as_str)
            && regex::Regex::new(p).is_ok_and(|re| !re.is_match(st))
        {
            errs.push(format!("{}: '{st}' does not match pattern '{p}'", at(path)));
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(req) = s.get("required").and_then(J::as_array) {
            let missing: Vec<&str> = req
                .iter()
                .filter_map(J::as_str)
                .filter(|k| !o.contains_key(*k))
                .collect();
            if !missing.is_empty() {
                errs.push(format!(
                    "{}: missing property '{}'",
                    at(path),
                    missing.join("', '")
                ));
            }
        }
        let props = s.get("properties").and_then(J::as_object);
        for (k, x) in o {
            let sub = format!("{path}/{k}");
            if let Some(ps) = props.and_then(|p| p.get(k)) {
                check(root, ps, x, &sub, errs);
            } else {
                match s.get("additionalProperties") {
                    Some(J::Bool(false)) => errs.push(format!(
                        "{}: additional properties '{k}' not allowed",
                        at(path)
                    )),
                    Some(ap @ J::Object(_)) => check(root, ap, x, &sub, errs),
                    _ => {}
                }
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(items) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                check(root, items, x, &format!("{path}/{i}"), errs);
            }
        }
        if s.get("minItems")
            .and_then(J::as_u64)
            .is_some_and(|m| (a.len() as u64) < m)
        {
            errs.push(format!(
                "{}: minItems: got {}, want {}",
                at(path),
                a.len(),
                s["minItems"]
            ));
        }
        if s.get("maxItems")
            .and_then(J::as_u64)
            .is_some_and(|m| (a.len() as u64) > m)
        {
            errs.push(format!(
                "{}: maxItems: got {}, want {}",
                at(path),
                a.len(),
                s["maxItems"]
            ));
        }
    }
    let passes = |sub: &J| {
        let mut e = Vec::new();
        check(root, sub, v, path, &mut e);
        e.is_empty()
    };
    if let Some(all) = s.get("allOf").and_then(J::as_array) {
        for sub in all {
            check(root, sub, v, path, errs);
        }
    }
    if let Some(any) = s.get("anyOf").and_then(J::as_array)
        && !any.iter().any(passes)
    {
        errs.push(format!("{}: anyOf failed", at(path)));
    }
    if let Some(one) = s.get("oneOf").and_then(J::as_array)
        && one.iter().filter(|x| passes(x)).count() != 1
    {
        errs.push(format!("{}: oneOf failed", at(path)));
    }
    if let Some(not) = s.get("not")
        && passes(not)
    {
        errs.push(format!("{}: not failed", at(path)));
    }
}

fn num_eq(a: &J, b: &J) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn json_type(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "boolean",
        J::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_type_and_required_problems() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["image"],
            "properties": {"replicas": {"type": "integer", "minimum": 1}}
        });
        let mut errs = Vec::new();
        check(
            &schema,
            &schema,
            &serde_json::json!({"replicas": 0}),
            "",
            &mut errs,
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        let mut ok = Vec::new();
        check(
            &schema,
            &schema,
            &serde_json::json!({"replicas": 2, "image": "x"}),
            "",
            &mut ok,
        );
        assert!(ok.is_empty());
    }
}
