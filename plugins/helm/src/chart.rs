//! Charts: loading (directories and `.tgz` archives, `.helmignore`,
//! subcharts in `charts/`), and Helm's values processing: dependency
//! conditions and tags, aliases, `import-values`, globals, and coalescing
//! chart defaults with user values (a `null` deletes a key).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use serde_json::{Map as JMap, Value as J};

/// A chart loading or values error.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `.tgz` could not be unpacked.
    #[error("{path}: cannot unpack chart archive: {message}")]
    Archive {
        /// The archive.
        path: String,
        /// Why.
        message: String,
    },
    /// `Chart.yaml` is missing or wrong.
    #[error("{chart}: Chart.yaml: {message}")]
    Metadata {
        /// The chart's location.
        chart: String,
        /// What is wrong.
        message: String,
    },
    /// A YAML file (values, Chart.yaml) does not parse.
    #[error("{file}: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// Values do not fit together (a table where a value is expected).
    #[error("values: {0}")]
    Values(String),
}

/// A loaded chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`, as JSON data.
    pub metadata: JMap<String, J>,
    /// The templates (`templates/…`), path → source, sorted.
    pub templates: Vec<(String, Rc<str>)>,
    /// `values.yaml`.
    pub values: JMap<String, J>,
    /// `values.schema.json`.
    pub schema: Option<J>,
    /// Every other file (what `.Files` sees), path → bytes.
    pub files: BTreeMap<String, Rc<[u8]>>,
    /// Subcharts (after processing: only the enabled ones, aliases applied).
    pub deps: Vec<Chart>,
}

impl Chart {
    /// The chart's name (`metadata.name`).
    pub fn name(&self) -> &str {
        self.metadata.get("name").and_then(J::as_str).unwrap_or("")
    }

    /// `type: library`.
    pub fn is_library(&self) -> bool {
        self.metadata.get("type").and_then(J::as_str) == Some("library")
    }

    /// `Chart.yaml`'s `dependencies`.
    fn requirements(&self) -> Vec<JMap<String, J>> {
        self.metadata
            .get("dependencies")
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(|d| d.as_object().cloned()).collect())
            .unwrap_or_default()
    }

    /// The `crds/` files (`.yaml`, `.yml`, `.json`) of this chart, then of
    /// its subcharts, as (full path, content).
    pub fn crds(&self, full_path: &str) -> Vec<(String, Rc<[u8]>)> {
        let mut out: Vec<(String, Rc<[u8]>)> = self
            .files
            .iter()
            .filter(|(k, _)| {
                k.starts_with("crds/")
                    && (k.ends_with(".yaml") || k.ends_with(".yml") || k.ends_with(".json"))
            })
            .map(|(k, v)| (format!("{full_path}/{k}"), v.clone()))
            .collect();
        for d in &self.deps {
            out.extend(d.crds(&format!("{full_path}/charts/{}", d.name())));
        }
        out
    }
}

/// Loads the chart at `path`: a directory or a `.tgz` archive.
///
/// # Errors
/// Unreadable files, bad archives, bad `Chart.yaml` or values.
pub fn load(path: &Path) -> Result<Chart, ChartError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| ChartError::Read {
        path: shown.clone(),
        source,
    })?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, "", &mut files)?;
        apply_helmignore(files)
    } else {
        let data = std::fs::read(path).map_err(|source| ChartError::Read {
            path: shown.clone(),
            source,
        })?;
        untar(&shown, &data)?
    };
    from_files(&shown, files)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), ChartError> {
    let read_err = |source| ChartError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let p = e.path();
        let stat_err = |source| ChartError::Read {
            path: p.display().to_string(),
            source,
        };
        // The entry's own type saves a stat per file (a host call in the
        // component); symbolic links are followed as before.
        let ft = e.file_type().map_err(stat_err)?;
        let is_dir = if ft.is_symlink() {
            std::fs::metadata(&p).map_err(stat_err)?.is_dir()
        } else {
            ft.is_dir()
        };
        if is_dir {
            walk(&p, &r, out)?;
        } else {
            let data = std::fs::read(&p).map_err(|source| ChartError::Read {
                path: p.display().to_string(),
                source,
            })?;
            out.push((r, data));
        }
    }
    Ok(())
}

/// Drops files `.helmignore` rules match (and hidden files under
/// `templates/`, Helm's default rule).
fn apply_helmignore(files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let rules: Vec<String> = files
        .iter()
        .find(|(n, _)| n == ".helmignore")
        .map(|(_, d)| {
            String::from_utf8_lossy(d)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    files
        .into_iter()
        .filter(|(name, _)| !ignored(&rules, name))
        .collect()
}

fn ignored(rules: &[String], name: &str) -> bool {
    if let Some(rest) = name.strip_prefix("templates/")
        && rest.split('/').any(|p| p.starts_with('.'))
    {
        return true;
    }
    let parts: Vec<&str> = name.split('/').collect();
    let mut hit = false;
    for rule in rules {
        let (neg, r) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule.as_str()),
        };
        let dir_only = r.ends_with('/');
        let r = r
            .trim_end_matches('/')
            .trim_start_matches("./")
            .trim_start_matches('/');
        let m = if r.contains('/') {
            // Against the path, or any leading directory of it.
            (1..=parts.len()).any(|n| {
                let prefix = parts[..n].join("/");
                (n < parts.len() || !dir_only) && glob_match(r, &prefix)
            })
        } else {
            parts
                .iter()
                .enumerate()
                .any(|(i, p)| (i + 1 < parts.len() || !dir_only) && glob_match(r, p))
        };
        if m {
            hit = !neg;
        }
    }
    hit
}

fn untar(shown: &str, data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ChartError> {
    let err = |message: String| ChartError::Archive {
        path: shown.to_string(),
        message,
    };
    let gz = flate2::read::GzDecoder::new(data);
    let mut ar = tar::Archive::new(gz);
    let mut out = Vec::new();
    for entry in ar.entries().map_err(|e| err(e.to_string()))? {
        let mut entry = entry.map_err(|e| err(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| err(e.to_string()))?
            .to_string_lossy()
            .replace('\\', "/");
        // Archives hold one top directory, the chart's name.
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        if rel.split('/').any(|p| p == "..") {
            return Err(err(format!("{path}: path leaves the chart")));
        }
        let mut buf = Vec::new();
        entry
            .read_to_end(&mut buf)
            .map_err(|e| err(e.to_string()))?;
        out.push((rel.to_string(), buf));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn yaml_map(file: &str, data: &[u8]) -> Result<JMap<String, J>, ChartError> {
    let text = String::from_utf8_lossy(data);
    match crate::yaml::parse_json(&text) {
        Ok(J::Object(m)) => Ok(m),
        Ok(J::Null) => Ok(JMap::new()),
        Ok(_) => Err(ChartError::Yaml {
            file: file.to_string(),
            message: "not a map".into(),
        }),
        Err(message) => Err(ChartError::Yaml {
            file: file.to_string(),
            message,
        }),
    }
}

fn from_files(shown: &str, files: Vec<(String, Vec<u8>)>) -> Result<Chart, ChartError> {
    let mut metadata = None;
    let mut values = JMap::new();
    let mut schema = None;
    let mut templates = Vec::new();
    let mut other = BTreeMap::new();
    let mut sub: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut requirements = None;
    for (name, data) in files {
        match name.as_str() {
            "Chart.yaml" => metadata = Some(yaml_map(&format!("{shown}/Chart.yaml"), &data)?),
            "values.yaml" => values = yaml_map(&format!("{shown}/values.yaml"), &data)?,
            "values.schema.json" => {
                schema = Some(serde_json::from_slice(&data).map_err(|e| ChartError::Yaml {
                    file: format!("{shown}/values.schema.json"),
                    message: e.to_string(),
                })?)
            }
            "requirements.yaml" => {
                requirements = Some(yaml_map(&format!("{shown}/requirements.yaml"), &data)?)
            }
            "Chart.lock" | "requirements.lock" => {}
            n if n.starts_with("templates/") => templates.push((
                name.clone(),
                Rc::from(String::from_utf8_lossy(&data).into_owned()),
            )),
            n if n.starts_with("charts/") => {
                let rest = &n["charts/".len()..];
                let (cname, inner) = rest.split_once('/').unwrap_or((rest, ""));
                sub.entry(cname.to_string())
                    .or_default()
                    .push((inner.to_string(), data));
            }
            _ => {
                other.insert(name, Rc::from(data));
            }
        }
    }
    let mut metadata = metadata.ok_or_else(|| ChartError::Metadata {
        chart: shown.to_string(),
        message: "Chart.yaml file is missing".into(),
    })?;
    if let Some(req) = requirements
        && let Some(d) = req.get("dependencies")
    {
        metadata.entry("dependencies").or_insert(d.clone());
    }
    for key in ["name", "version"] {
        if metadata
            .get(key)
            .and_then(J::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ChartError::Metadata {
                chart: shown.to_string(),
                message: format!("validation: chart.metadata.{key} is required"),
            });
        }
    }
    if metadata
        .get("apiVersion")
        .and_then(J::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ChartError::Metadata {
            chart: shown.to_string(),
            message: "validation: chart.metadata.apiVersion is required".into(),
        });
    }
    let mut deps = Vec::new();
    for (cname, files) in sub {
        let where_ = format!("{shown}/charts/{cname}");
        if cname.ends_with(".prov") {
            continue;
        }
        if cname.ends_with(".tgz") {
            // A single file entry: the archive itself.
            if let Some((_, data)) = files.into_iter().find(|(inner, _)| inner.is_empty()) {
                deps.push(from_files(&where_, untar(&where_, &data)?)?);
            }
        } else {
            deps.push(from_files(&where_, files)?);
        }
    }
    templates.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Chart {
        metadata,
        templates,
        values,
        schema,
        files: other,
        deps,
    })
}

/// Matches `name` against a glob: `*` and `?` stop at `/`, `**` crosses
/// it, `[…]` classes (with `!`/`^` negation) and `{a,b}` alternatives.
pub fn glob_match(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    let Some(&c) = p.first() else {
        return n.is_empty();
    };
    match c {
        '*' => {
            let deep = p.get(1) == Some(&'*');
            let rest = if deep { &p[2..] } else { &p[1..] };
            for i in 0..=n.len() {
                if glob_at(rest, &n[i..]) {
                    return true;
                }
                if i < n.len() && n[i] == '/' && !deep {
                    return false;
                }
            }
            false
        }
        '?' => !n.is_empty() && n[0] != '/' && glob_at(&p[1..], &n[1..]),
        '[' => {
            let Some(end) = p.iter().position(|&x| x == ']') else {
                return !n.is_empty() && n[0] == '[' && glob_at(&p[1..], &n[1..]);
            };
            if n.is_empty() {
                return false;
            }
            let class = &p[1..end];
            let (neg, class) = match class.first() {
                Some('!' | '^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    if class[i] <= n[0] && n[0] <= class[i + 2] {
                        hit = true;
                    }
                    i += 3;
                } else {
                    if class[i] == n[0] {
                        hit = true;
                    }
                    i += 1;
                }
            }
            hit != neg && glob_at(&p[end + 1..], &n[1..])
        }
        '{' => {
            let Some(end) = p.iter().position(|&x| x == '}') else {
                return !n.is_empty() && n[0] == '{' && glob_at(&p[1..], &n[1..]);
            };
            let inner: String = p[1..end].iter().collect();
            inner.split(',').any(|alt| {
                let mut np: Vec<char> = alt.chars().collect();
                np.extend_from_slice(&p[end + 1..]);
                glob_at(&np, n)
            })
        }
        '\\' if p.len() > 1 => !n.is_empty() && n[0] == p[1] && glob_at(&p[2..], &n[1..]),
        c => !n.is_empty() && n[0] == c && glob_at(&p[1..], &n[1..]),
    }
}

// ------------------------------------------------------------ values

fn is_table(v: &J) -> bool {
    v.is_object()
}

/// Helm's `CoalesceValues(chart, vals)` (or `MergeValues` with `merge`):
/// `vals` over the chart's defaults, recursively into subcharts, with
/// globals passed down.
pub fn coalesce_values(
    c: &Chart,
    vals: &JMap<String, J>,
    merge: bool,
) -> Result<JMap<String, J>, ChartError> {
    let mut dest = vals.clone();
    coalesce(c, &mut dest, merge)?;
    Ok(dest)
}

fn coalesce(c: &Chart, dest: &mut JMap<String, J>, merge: bool) -> Result<(), ChartError> {
    coalesce_chart_values(c, dest, merge);
    coalesce_deps(c, dest, merge)
}

fn coalesce_deps(c: &Chart, dest: &mut JMap<String, J>, merge: bool) -> Result<(), ChartError> {
    for sub in &c.deps {
        let name = sub.name().to_string();
        match dest.get(&name) {
            None => {
                dest.insert(name.clone(), J::Object(JMap::new()));
            }
            Some(v) if !is_table(v) => {
                return Err(ChartError::Values(format!("type mismatch on {name}: {v}")));
            }
            _ => {}
        }
        let mut dv = match dest.remove(&name) {
            Some(J::Object(m)) => m,
            _ => JMap::new(),
        };
        coalesce_globals(&mut dv, dest);
        coalesce(sub, &mut dv, merge)?;
        dest.insert(name, J::Object(dv));
    }
    Ok(())
}

/// Copies the globals of `src` into `dest`'s, parent's winning.
fn coalesce_globals(dest: &mut JMap<String, J>, src: &JMap<String, J>) {
    let mut dg = match dest.get("global") {
        None => JMap::new(),
        Some(J::Object(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src.get("global") {
        None => JMap::new(),
        Some(J::Object(m)) => m.clone(),
        Some(_) => return,
    };
    for (k, v) in sg {
        if let J::Object(vm) = &v {
            let mut vv = vm.clone();
            match dg.get(&k) {
                None => {
                    dg.insert(k, J::Object(vv));
                }
                Some(J::Object(destv)) => {
                    coalesce_tables(&mut vv, destv, true);
                    dg.insert(k, J::Object(vv));
                }
                Some(_) => {}
            }
        } else if dg.get(&k).is_some_and(is_table) {
            // A table in the subchart is not replaced by a scalar.
        } else {
            dg.insert(k, v);
        }
    }
    dest.insert("global".into(), J::Object(dg));
}

fn coalesce_chart_values(c: &Chart, v: &mut JMap<String, J>, merge: bool) {
    for (key, val) in &c.values {
        match v.get_mut(key) {
            Some(value) => {
                if value.is_null() && !merge {
                    v.remove(key);
                } else if let J::Object(dest) = value
                    && let J::Object(src) = val
                {
                    let child_merge = merge || c.deps.iter().any(|d| d.name() == key);
                    coalesce_tables(dest, src, child_merge);
                }
            }
            None => {
                // A chart default of null is no value at all (unless merging).
                if merge {
                    v.insert(key.clone(), val.clone());
                } else if let Some(t) = trim_nulls(val) {
                    v.insert(key.clone(), t);
                }
            }
        }
    }
}

/// The value without null map entries, recursively; `None` for null.
fn trim_nulls(v: &J) -> Option<J> {
    match v {
        J::Null => None,
        J::Object(m) => Some(J::Object(
            m.iter()
                .filter_map(|(k, x)| trim_nulls(x).map(|x| (k.clone(), x)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Helm's `coalesceTablesFullKey`: `src` under `dst` (`dst` wins); a null
/// in `dst` deletes a key `src` has, unless merging (a null for a key `src`
/// lacks stays); nulls `src` brings in are dropped unless merging.
fn coalesce_tables(dst: &mut JMap<String, J>, src: &JMap<String, J>, merge: bool) {
    for (key, val) in src {
        match dst.get_mut(key) {
            Some(dv) if !merge && dv.is_null() => {
                dst.remove(key);
            }
            None => {
                if merge {
                    dst.insert(key.clone(), val.clone());
                } else if let Some(t) = trim_nulls(val) {
                    dst.insert(key.clone(), t);
                }
            }
            Some(dv) => {
                if let J::Object(sv) = val
                    && let J::Object(dm) = dv
                {
                    coalesce_tables(dm, sv, merge);
                }
            }
        }
    }
}

/// Helm's `CoalesceTables(dst, src)` (merge=false) or `MergeTables`.
fn tables(mut dst: JMap<String, J>, src: &JMap<String, J>, merge: bool) -> JMap<String, J> {
    coalesce_tables(&mut dst, src, merge);
    dst
}

/// `Values.PathValue`: a dotted path to a non-table value.
fn path_value<'a>(v: &'a JMap<String, J>, path: &str) -> Option<&'a J> {
    let parts: Vec<&str> = path.split('.').collect();
    let (last, dirs) = parts.split_last()?;
    let mut cur = v;
    for d in dirs {
        cur = cur.get(*d)?.as_object()?;
    }
    let x = cur.get(*last)?;
    if x.is_object() { None } else { Some(x) }
}

/// `Values.Table`: a dotted path to a table.
fn table<'a>(v: &'a JMap<String, J>, path: &str) -> Option<&'a JMap<String, J>> {
    let mut cur = v;
    for p in path.split('.') {
        cur = cur.get(p)?.as_object()?;
    }
    Some(cur)
}

/// Helm's `ProcessDependenciesWithMerge`: drops disabled subcharts
/// (conditions, tags), applies aliases and imports values.
///
/// # Errors
/// Values that do not coalesce.
pub fn process_dependencies(c: &mut Chart, vals: &JMap<String, J>) -> Result<(), ChartError> {
    process_enabled(c, vals, "")?;
    process_imports(c)
}

fn process_enabled(c: &mut Chart, vals: &JMap<String, J>, path: &str) -> Result<(), ChartError> {
    let mut reqs = c.requirements();
    if !c.metadata.contains_key("dependencies") {
        return Ok(());
    }
    let existing = std::mem::take(&mut c.deps);
    let compatible = |req: &JMap<String, J>, ch: &Chart| -> bool {
        let v = req.get("version").and_then(J::as_str).unwrap_or("");
        let cv = ch.metadata.get("version").and_then(J::as_str).unwrap_or("");
        crate::funcs::semver_check(v, cv)
    };
    // Which existing subchart each dependency is (with its alias): those
    // that no requirement names stay, then one per matching requirement.
    // A subchart is moved into its last use and cloned only for earlier
    // ones (the same chart under two aliases).
    let mut plan: Vec<(usize, Option<String>)> = Vec::new();
    for (i, e) in existing.iter().enumerate() {
        let named = reqs
            .iter()
            .any(|r| r.get("name").and_then(J::as_str) == Some(e.name()) && compatible(r, e));
        if !named {
            plan.push((i, None));
        }
    }
    for r in reqs.iter_mut() {
        let rname = r.get("name").and_then(J::as_str).unwrap_or("").to_string();
        let version = r
            .get("version")
            .and_then(J::as_str)
            .unwrap_or("")
            .to_string();
        let found = existing
            .iter()
            .position(|e| e.name() == rname && (version.is_empty() || compatible(r, e)));
        let alias = r
            .get("alias")
            .and_then(J::as_str)
            .filter(|a| !a.is_empty())
            .map(String::from);
        if let Some(f) = found {
            plan.push((f, alias.clone()));
        }
        if let Some(a) = alias {
            r.insert("name".into(), J::String(a));
        }
    }
    let mut uses = vec![0usize; existing.len()];
    for (i, _) in &plan {
        uses[*i] += 1;
    }
    let mut slots: Vec<Option<Chart>> = existing.into_iter().map(Some).collect();
    let mut deps: Vec<Chart> = Vec::with_capacity(plan.len());
    for (i, alias) in plan {
        uses[i] -= 1;
        let ch = if uses[i] == 0 {
            slots[i].take()
        } else {
            slots[i].clone()
        };
        let Some(mut ch) = ch else { continue };
        if let Some(a) = alias {
            ch.metadata.insert("name".into(), J::String(a));
        }
        deps.push(ch);
    }
    c.deps = deps;
    let cvals = coalesce_values(c, vals, false)?;
    // Tags, then conditions (a condition that resolves wins).
    let tags = table(&cvals, "tags");
    let mut enabled: Vec<bool> = Vec::new();
    for r in &reqs {
        let mut en = true;
        if let (Some(tags), Some(rt)) = (tags, r.get("tags").and_then(J::as_array)) {
            let (mut has_true, mut has_false) = (false, false);
            for t in rt.iter().filter_map(J::as_str) {
                match tags.get(t) {
                    Some(J::Bool(true)) => has_true = true,
                    Some(J::Bool(false)) => has_false = true,
                    _ => {}
                }
            }
            if !has_true && has_false {
                en = false;
            }
        }
        if let Some(cond) = r.get("condition").and_then(J::as_str) {
            for cpath in cond.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if let Some(J::Bool(b)) = path_value(&cvals, &format!("{path}{cpath}")) {
                    en = *b;
                    break;
                }
            }
        }
        enabled.push(en);
    }
    let disabled: Vec<String> = reqs
        .iter()
        .zip(&enabled)
        .filter(|(_, e)| !**e)
        .filter_map(|(r, _)| r.get("name").and_then(J::as_str).map(String::from))
        .collect();
    c.deps.retain(|d| !disabled.iter().any(|n| n == d.name()));
    let kept: Vec<J> = reqs
        .into_iter()
        .filter(|r| {
            !disabled
                .iter()
                .any(|n| Some(n.as_str()) == r.get("name").and_then(J::as_str))
        })
        .map(J::Object)
        .collect();
    for d in c.deps.iter_mut() {
        let sub = format!("{path}{}.", d.name());
        process_enabled(d, &cvals, &sub)?;
    }
    c.metadata.insert("dependencies".into(), J::Array(kept));
    Ok(())
}

fn process_imports(c: &mut Chart) -> Result<(), ChartError> {
    for d in c.deps.iter_mut() {
        process_imports(d)?;
    }
    let reqs = c.requirements();
    if !c.metadata.contains_key("dependencies") {
        return Ok(());
    }
    let cvals = coalesce_values(c, &JMap::new(), true)?;
    let mut b = JMap::new();
    for r in &reqs {
        let rname = r.get("name").and_then(J::as_str).unwrap_or("");
        for iv in r
            .get("import-values")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
        {
            match iv {
                J::Object(m) => {
                    let child = m.get("child").and_then(J::as_str).unwrap_or("");
                    let parent = m.get("parent").and_then(J::as_str).unwrap_or("");
                    if let Some(vv) = table(&cvals, &format!("{rname}.{child}")) {
                        b = tables(b, &path_to_map(parent, vv.clone()), true);
                    }
                }
                J::String(s) => {
                    if let Some(vm) = table(&cvals, &format!("{rname}.exports.{s}")) {
                        b = tables(b, vm, true);
                    }
                }
                _ => {}
            }
        }
    }
    c.values = tables(cvals, &b, true);
    Ok(())
}

/// `pathToMap("a.b", data)` = `{a: {b: data}}`; `.` is the data itself.
fn path_to_map(path: &str, data: JMap<String, J>) -> JMap<String, J> {
    if path == "." || path.is_empty() {
        return data;
    }
    let mut cur = data;
    for p in path.split('.').rev() {
        let mut m = JMap::new();
        m.insert(p.to_string(), J::Object(cur));
        cur = m;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> JMap<String, J> {
        serde_json::from_str(s).unwrap_or_default()
    }

    fn chart(values: &str, deps: Vec<Chart>, name: &str) -> Chart {
        Chart {
            metadata: j(&format!(
                "{{\"name\":\"{name}\",\"version\":\"1.0.0\",\"apiVersion\":\"v2\"}}"
            )),
            templates: Vec::new(),
            values: j(values),
            schema: None,
            files: BTreeMap::new(),
            deps,
        }
    }

    #[test]
    fn null_in_user_values_deletes_a_default() {
        let c = chart(r#"{"a":{"b":1,"c":2},"d":3}"#, vec![], "x");
        let v = coalesce_values(&c, &j(r#"{"a":{"b":null},"d":null}"#), false).unwrap_or_default();
        assert_eq!(J::Object(v), serde_json::json!({"a":{"c":2}}));
    }

    #[test]
    fn globals_flow_down_to_subcharts() {
        let sub = chart(r#"{"global":{"x":1},"y":2}"#, vec![], "sub");
        let c = chart(r#"{"global":{"x":5,"z":1}}"#, vec![sub], "top");
        let v = coalesce_values(&c, &JMap::new(), false).unwrap_or_default();
        assert_eq!(v["sub"], serde_json::json!({"global":{"x":5,"z":1},"y":2}));
    }

    #[test]
    fn globs_match_like_gobwas() {
        assert!(glob_match("files/*.txt", "files/a.txt"));
        assert!(!glob_match("files/*.txt", "files/x/a.txt"));
        assert!(glob_match("files/**.txt", "files/x/a.txt"));
        assert!(glob_match("{a,b}.yaml", "b.yaml"));
    }
}
