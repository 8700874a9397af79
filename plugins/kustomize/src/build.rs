//! The build: reads a kustomization, accumulates its resources (recursing
//! into bases and components), runs its generators and transformers in
//! kustomize's order, then, once at the top, appends content hashes, fixes
//! name references, resolves vars and sorts.

use crate::error::Error;
use crate::fieldspec::{self, COMMON_LABELS, FieldSpec, REPLICAS, TEMPLATE_LABELS};
use crate::fsys::{self, Root};
use crate::generate::{self, Kind};
use crate::resource::{Behavior, Gvk, Resource};
use crate::yaml::{self, Map, Node, Tag};
use crate::{nameref, patch, replace, transform};
use std::collections::{HashMap, HashSet};

/// The file names kustomize looks for, in its order.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Build options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Flux's behaviour: a root directory without a kustomization file is
    /// built as if it had one listing every manifest below it.
    pub generate_missing: bool,
}

const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "crds",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "imageTags",
    "replicas",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "replacements",
    "vars",
    "openapi",
    "buildMetadata",
    "sortOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
];

/// A loaded kustomization.
pub struct Kustomization {
    /// The file, relative to the root.
    pub file: String,
    /// Its directory, relative to the root.
    pub dir: String,
    /// Its content.
    pub map: Map,
    /// Merge keys from its `openapi: {path: …}` document.
    pub schema: Option<crate::patch::schema::Schema>,
}

impl Kustomization {
    /// A list of strings at `key`.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, Error> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(n) if n.is_null() => Ok(Vec::new()),
            Some(Node::Seq(items)) => items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    n.as_str().map(str::to_string).ok_or_else(|| {
                        Error::invalid(&self.file, format!("{key}[{i}]"), "expected a string")
                    })
                })
                .collect(),
            Some(_) => Err(Error::invalid(&self.file, key, "expected a list")),
        }
    }

    /// A list at `key`.
    pub fn list(&self, key: &str) -> Result<&[Node], Error> {
        match self.map.get(key) {
            None => Ok(&[]),
            Some(n) if n.is_null() => Ok(&[]),
            Some(Node::Seq(items)) => Ok(items),
            Some(_) => Err(Error::invalid(&self.file, key, "expected a list")),
        }
    }

    /// A string-to-string mapping at `key`.
    pub fn pairs(&self, key: &str) -> Result<Vec<(String, String)>, Error> {
        pairs(&self.file, key, self.map.get(key))
    }
}

/// The fields kustomize's typed decoding accepts in list entries and
/// nested objects; anything else is an "unknown field" error there too.
const NESTED_FIELDS: &[(&str, &[&str])] = &[
    ("patches", &["path", "patch", "target", "options"]),
    ("patchesJson6902", &["path", "patch", "target", "options"]),
    (
        "configMapGenerator",
        &[
            "name",
            "namespace",
            "behavior",
            "files",
            "literals",
            "envs",
            "env",
            "options",
        ],
    ),
    (
        "secretGenerator",
        &[
            "name",
            "namespace",
            "behavior",
            "files",
            "literals",
            "envs",
            "env",
            "options",
            "type",
        ],
    ),
    (
        "images",
        &["name", "newName", "newTag", "digest", "tagSuffix"],
    ),
    ("replicas", &["name", "count"]),
    (
        "labels",
        &["pairs", "includeSelectors", "includeTemplates", "fields"],
    ),
];

const TARGET_FIELDS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
];

const STRING_FIELDS: &[&str] = &["namespace", "namePrefix", "nameSuffix"];

/// String fields inside list entries (an unquoted `newTag: 1.27` is a number
/// to kustomize, and an error).
const NESTED_STRINGS: &[(&str, &[&str])] = &[
    ("images", &["name", "newName", "newTag", "digest"]),
    ("replicas", &["name"]),
    ("configMapGenerator", &["name", "namespace", "behavior"]),
    (
        "secretGenerator",
        &["name", "namespace", "behavior", "type"],
    ),
];

/// Whether a scalar is not a string to a YAML 1.1, typed reader.
fn not_a_string(n: &Node) -> bool {
    matches!(n, Node::Scalar(s) if matches!(s.tag, Tag::Int | Tag::Float) || s.is_v1_1_bool())
}

fn check_fields(file: &str, map: &Map) -> Result<(), Error> {
    for key in STRING_FIELDS {
        // Kustomization files are read as YAML 1.1: `n`, `on`, `yes` are
        // booleans there.
        if let Some(Node::Scalar(s)) = map.get(key)
            && (matches!(s.tag, Tag::Int | Tag::Float) || s.is_v1_1_bool())
        {
            return Err(Error::invalid(
                file,
                *key,
                "expected a string (quote numbers and booleans)",
            ));
        }
    }
    for (list, fields) in NESTED_STRINGS {
        let Some(Node::Seq(items)) = map.get(list) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let Some(m) = item.as_map() else { continue };
            if let Some(f) = fields.iter().find(|f| m.get(f).is_some_and(not_a_string)) {
                return Err(Error::invalid(
                    file,
                    format!("{list}[{i}].{f}"),
                    "expected a string (quote numbers and booleans)",
                ));
            }
        }
    }
    for (list, allowed) in NESTED_FIELDS {
        let Some(Node::Seq(items)) = map.get(list) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let Some(m) = item.as_map() else { continue };
            for (k, v) in m.iter() {
                if !allowed.contains(&k.as_str()) {
                    return Err(Error::invalid(
                        file,
                        format!("{list}[{i}]"),
                        format!("unknown field {k:?}"),
                    ));
                }
                if k == "target"
                    && let Some(t) = v.as_map()
                    && let Some((bad, _)) = t
                        .iter()
                        .find(|(tk, _)| !TARGET_FIELDS.contains(&tk.as_str()))
                {
                    return Err(Error::invalid(
                        file,
                        format!("{list}[{i}].target"),
                        format!("unknown field {bad:?}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A string-to-string mapping.
pub fn pairs(file: &str, field: &str, n: Option<&Node>) -> Result<Vec<(String, String)>, Error> {
    match n {
        None => Ok(Vec::new()),
        Some(n) if n.is_null() => Ok(Vec::new()),
        // kustomize decodes these into map[string]string: a number or a
        // boolean is an error, not a string.
        Some(Node::Map(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Node::Scalar(s)
                    if matches!(s.tag, Tag::Str | Tag::Timestamp) && !s.is_v1_1_bool() =>
                {
                    Ok((k.clone(), s.value.clone()))
                }
                Node::Scalar(s) if s.tag == Tag::Null => Ok((k.clone(), String::new())),
                _ => Err(Error::invalid(
                    file,
                    format!("{field}.{k}"),
                    "expected a string value (quote numbers and booleans)",
                )),
            })
            .collect(),
        Some(_) => Err(Error::invalid(file, field, "expected a mapping")),
    }
}

/// Field specs added by `configurations` files, for the kustomization that
/// reads them and those above it (kustomize merges them upward).
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// Extra `commonLabels` (and `includeSelectors`) fields.
    pub labels: Vec<FieldSpec>,
    /// Extra `commonAnnotations` fields.
    pub annotations: Vec<FieldSpec>,
    /// Extra `images` fields (each holds an image reference).
    pub images: Vec<FieldSpec>,
    /// Extra name references: (referenced kind, referring field).
    pub name_refs: Vec<(String, FieldSpec)>,
    /// Extra fields where `$(VAR)` is expanded.
    pub var_refs: Vec<FieldSpec>,
}

/// The builder for one root.
pub struct Builder {
    /// Field specs from `configurations`.
    pub config: Config,
    /// The root directory.
    pub root: Root,
    /// Options.
    pub opts: Options,
    /// Kustomization directories being built, to report cycles.
    stack: Vec<String>,
    /// Vars declared anywhere, in order.
    pub vars: Vec<(String, Node)>,
    /// Whether transformers record themselves on the resources they run
    /// over: the top kustomization has `buildMetadata` (kustomize then
    /// tracks origins through the whole tree, whatever the bases ask for).
    record: bool,
    /// The top kustomization's directory: origins are relative to it.
    top: String,
}

impl Builder {
    /// A builder over `root`.
    pub fn new(root: Root, opts: Options) -> Builder {
        Builder {
            config: Config::default(),
            root,
            opts,
            stack: Vec::new(),
            vars: Vec::new(),
            record: false,
            top: String::new(),
        }
    }

    /// Builds directory `dir` (relative to the root) completely.
    ///
    /// # Errors
    /// The first [`Error`] met.
    pub fn build(&mut self, dir: &str) -> Result<Vec<Resource>, Error> {
        let k = match self.load(dir)? {
            Some(k) => k,
            None if self.opts.generate_missing => self.generated(dir)?,
            None => {
                return Err(Error::NoKustomization {
                    dir: display_dir(dir),
                });
            }
        };
        // Only the top kustomization's buildMetadata counts: kustomize
        // gives it to every base and component, replacing their own.
        let meta = k.strings("buildMetadata")?;
        self.record = !meta.is_empty();
        self.top = k.dir.clone();
        let mut res = Vec::new();
        self.accumulate(&k, &mut res, false)?;
        finish(&k, &mut res, &self.config)?;
        crate::vars::resolve(&self.vars, &mut res, &self.config.var_refs)?;
        res.retain(|r| {
            !r.annotations()
                .iter()
                .any(|(k, _)| k == "config.kubernetes.io/local-config")
        });
        sort(&k, &mut res)?;
        build_metadata(&meta, &mut res);
        for r in &res {
            if let Some((text, is_key)) = unprintable(&r.node) {
                let file = r.origin.split('#').next().unwrap_or("");
                let what = if is_key { "key" } else { "value" };
                let why = if text.chars().any(is_c1) {
                    "a C1 control character, which yaml.v2 refuses"
                } else {
                    "U+0085 (next line), which yaml.v2 reads as a line break in a key"
                };
                return Err(Error::invalid(
                    file,
                    format!("{} {what} {text:?}", r.describe()),
                    format!(
                        "holds {why}: kubectl kustomize cannot print it (it goes through JSON \
                         and yaml.v2): use another character"
                    ),
                ));
            }
        }
        Ok(res)
    }

    /// Reads the kustomization file of `dir`, if it has one.
    fn load(&self, dir: &str) -> Result<Option<Kustomization>, Error> {
        let present: Vec<&str> = KUSTOMIZATION_FILES
            .iter()
            .copied()
            .filter(|f| self.root.is_file(&fsys::child(dir, f)))
            .collect();
        let Some(name) = present.first() else {
            return Ok(None);
        };
        if present.len() > 1 {
            return Err(Error::invalid(
                &display_dir(dir),
                "",
                format!(
                    "found multiple kustomization files ({}): keep one",
                    present.join(", ")
                ),
            ));
        }
        let file = fsys::child(dir, name);
        let docs = self.read_yaml(&file)?;
        let map = match docs.into_iter().next() {
            Some(Node::Map(m)) => m,
            Some(n) if n.is_null() => Map::new(),
            None => Map::new(),
            Some(_) => return Err(Error::invalid(&file, "", "expected a mapping")),
        };
        for (key, _) in map.iter() {
            if !KNOWN_FIELDS.contains(&key.as_str()) {
                return Err(Error::invalid(
                    &file,
                    key,
                    format!("unknown field {key:?} in the kustomization"),
                ));
            }
        }
        for key in [
            "helmCharts",
            "helmGlobals",
            "helmChartInflationGenerator",
            "generators",
            "transformers",
            "validators",
        ] {
            if map.get(key).is_some_and(|n| match n {
                Node::Seq(s) => !s.is_empty(),
                Node::Map(m) => !m.is_empty(),
                n => !n.is_null(),
            }) {
                return Err(Error::Unsupported {
                    file: file.clone(),
                    field: key.to_string(),
                    message: format!("{key} is not supported by weir's kustomize renderer yet"),
                });
            }
        }
        if map.str("kind") != Some("Component")
            && map.iter().all(|(k, _)| k == "apiVersion" || k == "kind")
        {
            return Err(Error::invalid(
                &file,
                "",
                format!("{name} is empty: it needs at least one field besides apiVersion and kind"),
            ));
        }
        let schema = self.openapi(&file, dir, &map)?;
        check_fields(&file, &map)?;
        Ok(Some(Kustomization {
            file,
            dir: dir.to_string(),
            map,
            schema,
        }))
    }

    /// `openapi`: `path` names a schema document whose merge keys apply to
    /// the kustomization's strategic merge patches; `version` selects a
    /// built-in schema (weir has one).
    fn openapi(
        &self,
        file: &str,
        dir: &str,
        map: &Map,
    ) -> Result<Option<crate::patch::schema::Schema>, Error> {
        let Some(o) = map.get("openapi").and_then(Node::as_map) else {
            return Ok(None);
        };
        let Some(p) = o.str("path") else {
            return Ok(None);
        };
        let rel = self.root.join(dir, p).ok_or_else(|| Error::OutsideRoot {
            file: file.to_string(),
            field: "openapi.path".into(),
            path: p.to_string(),
            root: self.root.dir().to_path_buf(),
        })?;
        if !self.root.is_file(&rel) {
            return Err(Error::NotFound {
                file: file.to_string(),
                field: "openapi.path".into(),
                path: rel,
            });
        }
        let doc = self
            .read_yaml(&rel)?
            .into_iter()
            .next()
            .unwrap_or_else(Node::null);
        Ok(Some(crate::patch::schema::Schema::from_document(&doc)))
    }

    /// Flux's generated kustomization (fluxcd/pkg kustomize generator): the
    /// directory is walked in lexical order; a subdirectory holding a
    /// kustomization file is listed as a resource and not entered; every
    /// `*.yaml`/`*.yml` file is listed, and one that does not decode as
    /// Kubernetes objects is an error.
    fn generated(&self, dir: &str) -> Result<Kustomization, Error> {
        let mut resources = Vec::new();
        self.scan(dir, dir, &mut resources)?;
        let mut map = Map::new();
        map.insert(
            "resources",
            Node::Seq(resources.into_iter().map(Node::str).collect()),
        );
        Ok(Kustomization {
            file: fsys::child(dir, "kustomization.yaml"),
            dir: dir.to_string(),
            map,
            schema: None,
        })
    }

    fn scan(&self, top: &str, dir: &str, out: &mut Vec<String>) -> Result<(), Error> {
        let entries = self.root.list(dir).map_err(|e| Error::Io {
            path: display_dir(dir),
            source: e,
        })?;
        let rel_to_top = |p: &str| -> String {
            match p.strip_prefix(top) {
                Some(s) if !top.is_empty() => s.trim_start_matches('/').to_string(),
                _ => p.to_string(),
            }
        };
        for (name, is_dir) in entries {
            let path = fsys::child(dir, &name);
            if is_dir {
                if KUSTOMIZATION_FILES
                    .iter()
                    .any(|f| self.root.is_file(&fsys::child(&path, f)))
                {
                    out.push(rel_to_top(&path));
                } else {
                    self.scan(top, &path, out)?;
                }
                continue;
            }
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            let docs = self.read_yaml(&path)?;
            for (i, d) in docs.iter().enumerate() {
                let ok = d.is_null()
                    || d.as_map().is_some_and(|m| {
                        m.is_empty() || (m.str("kind").is_some() && m.str("apiVersion").is_some())
                    });
                if !ok {
                    return Err(Error::invalid(
                        &path,
                        format!("document {i}"),
                        "failed to decode Kubernetes YAML (no apiVersion/kind): \
                         a directory without kustomization.yaml may hold only manifests",
                    ));
                }
            }
            out.push(rel_to_top(&path));
        }
        Ok(())
    }

    fn read_yaml(&self, file: &str) -> Result<Vec<Node>, Error> {
        self.read_with(file, yaml::parse)
    }

    /// Reads a manifest file as kustomize holds its objects.
    fn read_objects(&self, file: &str) -> Result<Vec<Node>, Error> {
        self.read_with(file, yaml::parse_objects)
    }

    fn read_with(
        &self,
        file: &str,
        parse: fn(&str) -> Result<Vec<Node>, yaml::ParseError>,
    ) -> Result<Vec<Node>, Error> {
        let bytes = self.root.read(file).map_err(|e| Error::Io {
            path: file.to_string(),
            source: e,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        parse(&text).map_err(|e| Error::Yaml {
            path: file.to_string(),
            source: e,
        })
    }

    /// Reads the resources of manifest file `file`.
    fn load_file(&self, file: &str) -> Result<Vec<Resource>, Error> {
        let docs = self.read_objects(file)?;
        let mut out = Vec::new();
        let multi = docs.len() > 1;
        for (i, doc) in docs.into_iter().enumerate() {
            if doc.is_null() {
                continue;
            }
            let origin = if multi {
                format!("{file}#{i}")
            } else {
                file.to_string()
            };
            let Node::Map(m) = doc else {
                return Err(Error::invalid(
                    file,
                    format!("document {i}"),
                    "expected a Kubernetes object (a mapping)",
                ));
            };
            if m.is_empty() {
                continue;
            }
            // A `List` expands to its items.
            let kind = m.str("kind").unwrap_or("");
            if kind.ends_with("List") && m.get("items").is_some() {
                if let Some(Node::Seq(items)) = m.get("items") {
                    for item in items {
                        out.push(self.object(file, &origin, item.clone())?);
                    }
                }
                continue;
            }
            out.push(self.object(file, &origin, Node::Map(m))?);
        }
        Ok(out)
    }

    fn object(&self, file: &str, origin: &str, mut node: Node) -> Result<Resource, Error> {
        let Some(m) = node.as_map_mut() else {
            return Err(Error::invalid(file, "items", "expected a mapping"));
        };
        if m.str("kind").is_none() {
            return Err(Error::invalid(
                file,
                "kind",
                "missing kind: a resource needs apiVersion, kind and metadata.name",
            ));
        }
        // kustomize rewrites annotations as strings (their text as written).
        if let Some(Node::Map(meta)) = m.get_mut("metadata")
            && let Some(Node::Map(ann)) = meta.get_mut("annotations")
        {
            for (_, v) in ann.0.iter_mut() {
                if let Node::Scalar(s) = v {
                    if s.tag == yaml::Tag::Null {
                        s.value = String::new();
                    }
                    s.tag = yaml::Tag::Str;
                }
            }
        }
        let mut r = Resource::new(node, origin.to_string());
        if self.record {
            let path = yaml::v3_string(&relative(&self.top, file));
            r.set_annotation(ORIGIN, format!("path: {path}\n"));
        }
        if r.name().is_empty() && r.kind() != "" {
            return Err(Error::invalid(
                file,
                "metadata.name",
                format!("missing metadata.name in {} object", r.kind()),
            ));
        }
        Ok(r)
    }

    /// Accumulates kustomization `k` into `res`. For a component, `res`
    /// holds the parent's resources, which its transformers also change.
    fn accumulate(
        &mut self,
        k: &Kustomization,
        res: &mut Vec<Resource>,
        as_component: bool,
    ) -> Result<(), Error> {
        if self.stack.contains(&k.dir) {
            return Err(Error::invalid(
                &k.file,
                "resources",
                format!("cycle: {} includes itself", display_dir(&k.dir)),
            ));
        }
        let kind = k.map.str("kind").unwrap_or("Kustomization");
        if as_component && kind != "Component" {
            return Err(Error::invalid(
                &k.file,
                "kind",
                format!("expected kind 'Component' for a component, found {kind:?}"),
            ));
        }
        if !as_component && kind == "Component" {
            return Err(Error::invalid(
                &k.file,
                "kind",
                "a Component can only be used under `components`, not as a resource or the root",
            ));
        }
        self.stack.push(k.dir.clone());
        let r = self.accumulate_inner(k, res);
        self.stack.pop();
        r
    }

    fn accumulate_inner(
        &mut self,
        k: &Kustomization,
        res: &mut Vec<Resource>,
    ) -> Result<(), Error> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (i, r) in k.strings("resources")?.into_iter().enumerate() {
            entries.push((format!("resources[{i}]"), r));
        }
        for (i, r) in k.strings("bases")?.into_iter().enumerate() {
            entries.push((format!("bases[{i}]"), r));
        }
        let mut ids: HashSet<String> = res.iter().map(Resource::id_key).collect();
        for (field, entry) in entries {
            let added = self.resource_entry(k, &field, &entry)?;
            for r in added {
                add_unique(res, &mut ids, r, &k.file, &field)?;
            }
        }
        self.configurations(k)?;
        // Generators run before components (kustomize PR 5170): a component
        // may merge into a ConfigMap its parent generates.
        self.generators(k, res)?;
        for (i, c) in k.strings("components")?.into_iter().enumerate() {
            let field = format!("components[{i}]");
            let dir = self.entry_path(k, &field, &c)?;
            if !self.root.is_dir(&dir) {
                return Err(Error::NotFound {
                    file: k.file.clone(),
                    field,
                    path: dir,
                });
            }
            let Some(ck) = self.load(&dir)? else {
                return Err(Error::NoKustomization {
                    dir: display_dir(&dir),
                });
            };
            self.accumulate(&ck, res, true)?;
        }
        self.transformers(k, res)?;
        // Transformers may make two resources one id (two namespaces
        // merged into one): kustomize refuses that.
        let mut seen: HashSet<String> = HashSet::with_capacity(res.len());
        for r in res.iter() {
            if !seen.insert(r.id_key()) {
                return Err(Error::invalid(
                    &k.file,
                    "",
                    format!(
                        "after its transformations, two resources have the same id {}: \
                         may not add resource with an already registered id",
                        r.describe()
                    ),
                ));
            }
        }
        self.check_crds(k)?;
        for (i, v) in k.list("vars")?.iter().enumerate() {
            let name = v
                .as_map()
                .and_then(|m| m.str("name"))
                .ok_or_else(|| Error::invalid(&k.file, format!("vars[{i}].name"), "missing"))?;
            if self.vars.iter().any(|(n, _)| n == name) {
                return Err(Error::invalid(
                    &k.file,
                    format!("vars[{i}]"),
                    format!("var {name:?} is already defined"),
                ));
            }
            self.vars.push((name.to_string(), v.clone()));
        }
        Ok(())
    }

    fn entry_path(&self, k: &Kustomization, field: &str, entry: &str) -> Result<String, Error> {
        if entry.contains("://") || entry.starts_with("git@") || entry.starts_with("github.com/") {
            return Err(Error::Unsupported {
                file: k.file.clone(),
                field: field.to_string(),
                message: format!("remote resource {entry:?}: remote bases are disabled"),
            });
        }
        self.root
            .join(&k.dir, entry)
            .ok_or_else(|| Error::OutsideRoot {
                file: k.file.clone(),
                field: field.to_string(),
                path: entry.to_string(),
                root: self.root.dir().to_path_buf(),
            })
    }

    fn resource_entry(
        &mut self,
        k: &Kustomization,
        field: &str,
        entry: &str,
    ) -> Result<Vec<Resource>, Error> {
        let path = self.entry_path(k, field, entry)?;
        if self.root.is_file(&path) {
            return self.load_file(&path);
        }
        if self.root.is_dir(&path) {
            // kustomize refuses a base that contains a kustomization being
            // built (`..` from an overlay inside it).
            if let Some(inner) = self.stack.iter().find(|d| {
                path.is_empty() || d.as_str() == path || d.starts_with(&format!("{path}/"))
            }) {
                return Err(Error::invalid(
                    &k.file,
                    field,
                    format!(
                        "cycle detected: {} contains {}, which is being built",
                        display_dir(&path),
                        display_dir(inner)
                    ),
                ));
            }
            let Some(sub) = self.load(&path)? else {
                return Err(Error::NoKustomization {
                    dir: display_dir(&path),
                });
            };
            let mut res = Vec::new();
            self.accumulate(&sub, &mut res, false)?;
            return Ok(res);
        }
        Err(Error::NotFound {
            file: k.file.clone(),
            field: field.to_string(),
            path,
        })
    }

    fn generators(&mut self, k: &Kustomization, res: &mut Vec<Resource>) -> Result<(), Error> {
        let global = generate::Options::read(k.map.get("generatorOptions"));
        let mut ids: HashSet<String> = res.iter().map(Resource::id_key).collect();
        // (kind, any name it had) -> positions, for merge and replace.
        let mut by_name: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, r) in res.iter().enumerate() {
            if matches!(r.kind(), "ConfigMap" | "Secret") {
                by_name
                    .entry((r.kind().into(), r.name().into()))
                    .or_default()
                    .push(i);
                for (n, _) in &r.prev {
                    by_name
                        .entry((r.kind().into(), n.clone()))
                        .or_default()
                        .push(i);
                }
            }
        }
        for (field, kind) in [
            ("configMapGenerator", Kind::ConfigMap),
            ("secretGenerator", Kind::Secret),
        ] {
            for (i, entry) in k.list(field)?.iter().enumerate() {
                let mut g = generate::generate(
                    &self.root,
                    &k.file,
                    &k.dir,
                    &format!("{field}[{i}]"),
                    entry,
                    kind,
                    &global,
                )?;
                if self.record
                    && let Some(by) = g.generated_by
                {
                    let text = configured(&relative(&self.top, &k.file), by);
                    g.set_annotation(ORIGIN, text);
                }
                let (kind, name) = (g.kind().to_string(), g.name().to_string());
                let before = res.len();
                join_generated(
                    res,
                    &mut ids,
                    &by_name,
                    g,
                    &k.file,
                    &format!("{field}[{i}]"),
                )?;
                if res.len() > before {
                    by_name.entry((kind, name)).or_default().push(before);
                }
            }
        }
        Ok(())
    }

    /// The builtin transformers, in kustomize's order. With `record`, each
    /// one kustomize configures is noted on every resource it runs over
    /// (all of them: kustomize does not check what changed), including
    /// empty `labels` entries and `commonLabels: {}` next to `labels`.
    fn transformers(&mut self, k: &Kustomization, res: &mut [Resource]) -> Result<(), Error> {
        patch::strategic_merge_legacy(&self.root, k, res)?;
        let legacy_smp = usize::from(!k.list("patchesStrategicMerge")?.is_empty());
        self.note(k, res, "PatchStrategicMergeTransformer", legacy_smp);
        patch::patches(&self.root, k, res)?;
        self.note(k, res, "PatchTransformer", k.list("patches")?.len());
        if let Some(ns) = k.map.str("namespace")
            && !ns.is_empty()
        {
            for r in res.iter_mut() {
                transform::namespace(r, ns);
            }
            self.note(k, res, "NamespaceTransformer", 1);
        }
        let prefix = k.map.str("namePrefix").unwrap_or("");
        let suffix = k.map.str("nameSuffix").unwrap_or("");
        if !prefix.is_empty() || !suffix.is_empty() {
            for r in res.iter_mut().filter(|r| transform::takes_prefix(r)) {
                let name = format!("{prefix}{}{suffix}", r.name());
                r.rename(&name);
                if !prefix.is_empty() {
                    r.prefixes.push(prefix.to_string());
                }
                if !suffix.is_empty() {
                    r.suffixes.push(suffix.to_string());
                }
            }
            self.note(k, res, "PrefixTransformer", usize::from(!prefix.is_empty()));
            self.note(k, res, "SuffixTransformer", usize::from(!suffix.is_empty()));
        }
        // `labels` entries first, then `commonLabels` (which wins a key
        // both set), as kustomize configures its label transformers.
        let labels = k.list("labels")?;
        for (i, l) in labels.iter().enumerate() {
            let field = format!("labels[{i}]");
            let m = l
                .as_map()
                .ok_or_else(|| Error::invalid(&k.file, &field, "expected a mapping"))?;
            let pairs = pairs(&k.file, &format!("{field}.pairs"), m.get("pairs"))?;
            let selectors = m.str("includeSelectors") == Some("true");
            let templates = m.str("includeTemplates") == Some("true");
            let mut specs: Vec<FieldSpec> = if selectors {
                let mut v = COMMON_LABELS.to_vec();
                v.extend(self.config.labels.iter().cloned());
                v
            } else {
                let mut v = vec![COMMON_LABELS[0].clone()];
                if templates {
                    v.extend_from_slice(TEMPLATE_LABELS);
                }
                v
            };
            specs.extend(custom_specs(
                &k.file,
                &format!("{field}.fields"),
                m.get("fields"),
            )?);
            for r in res.iter_mut() {
                transform::set_pairs(r, &specs, &pairs);
            }
        }
        let common = k.pairs("commonLabels")?;
        if !common.is_empty() {
            for r in res.iter_mut() {
                transform::set_pairs(r, COMMON_LABELS, &common);
                transform::set_pairs(r, &self.config.labels, &common);
            }
        }
        if !labels.is_empty() || !common.is_empty() {
            self.note(k, res, "LabelTransformer", labels.len() + 1);
        }
        let ann = k.pairs("commonAnnotations")?;
        if !ann.is_empty() {
            for r in res.iter_mut() {
                transform::annotations(r, &ann);
                transform::set_pairs(r, &self.config.annotations, &ann);
            }
            self.note(k, res, "AnnotationsTransformer", 1);
        }
        patch::json6902_legacy(&self.root, k, res)?;
        let json6902 = k.list("patchesJson6902")?.len();
        self.note(k, res, "PatchJson6902Transformer", json6902);
        self.replicas(k, res)?;
        self.note(k, res, "ReplicaCountTransformer", k.list("replicas")?.len());
        let mut images = Vec::new();
        for field in ["images", "imageTags"] {
            for (i, n) in k.list(field)?.iter().enumerate() {
                let m = n.as_map().ok_or_else(|| {
                    Error::invalid(&k.file, format!("{field}[{i}]"), "expected a mapping")
                })?;
                let s = |key: &str| m.get(key).and_then(Node::as_str).map(str::to_string);
                images.push(transform::Image {
                    name: s("name").unwrap_or_default(),
                    new_name: s("newName"),
                    new_tag: s("newTag"),
                    digest: s("digest"),
                });
            }
        }
        if !images.is_empty() {
            for r in res.iter_mut() {
                transform::images(r, &images, &self.config.images);
            }
        }
        self.note(k, res, "ImageTagTransformer", images.len());
        replace::replacements(&self.root, k, res)?;
        let replacements = usize::from(!k.list("replacements")?.is_empty());
        self.note(k, res, "ReplacementTransformer", replacements);
        Ok(())
    }

    /// Notes `times` transformers of `kind`, configured in `k`, on every
    /// resource of `res` when origins are recorded, as kustomize's
    /// `AddTransformerAnnotation` does: one more entry in the
    /// transformations annotation, or the origin itself for a resource
    /// without one (kustomize takes it for made by the transformer).
    fn note(&self, k: &Kustomization, res: &mut [Resource], kind: &'static str, times: usize) {
        if !self.record || times == 0 {
            return;
        }
        let text = configured(&relative(&self.top, &k.file), kind);
        for r in res.iter_mut() {
            for _ in 0..times {
                if r.annotation(ORIGIN).is_none() {
                    r.set_annotation(ORIGIN, text.clone());
                    continue;
                }
                let mut list = r.annotation(TRANSFORMATIONS).unwrap_or("").to_string();
                for (i, line) in text.lines().enumerate() {
                    list.push_str(if i == 0 { "- " } else { "  " });
                    list.push_str(line);
                    list.push('\n');
                }
                r.set_annotation(TRANSFORMATIONS, list);
            }
        }
    }

    /// `configurations`: transformer configuration files.
    fn configurations(&mut self, k: &Kustomization) -> Result<(), Error> {
        for (i, c) in k.strings("configurations")?.into_iter().enumerate() {
            let field = format!("configurations[{i}]");
            let rel = self.entry_path(k, &field, &c)?;
            if !self.root.is_file(&rel) {
                return Err(Error::NotFound {
                    file: k.file.clone(),
                    field,
                    path: rel,
                });
            }
            for doc in self.read_yaml(&rel)? {
                let Some(m) = doc.as_map() else { continue };
                for (key, v) in m.iter() {
                    let at = format!("{field}: {key}");
                    match key.as_str() {
                        "commonLabels" => {
                            self.config.labels.extend(custom_specs(&rel, key, Some(v))?)
                        }
                        "commonAnnotations" => {
                            self.config
                                .annotations
                                .extend(custom_specs(&rel, key, Some(v))?)
                        }
                        "images" => self.config.images.extend(custom_specs(&rel, key, Some(v))?),
                        "varReference" => {
                            self.config
                                .var_refs
                                .extend(custom_specs(&rel, key, Some(v))?)
                        }
                        "nameReference" => {
                            for (j, r) in v
                                .as_seq()
                                .map(Vec::as_slice)
                                .unwrap_or(&[])
                                .iter()
                                .enumerate()
                            {
                                let target = r
                                    .as_map()
                                    .and_then(|m| m.str("kind"))
                                    .ok_or_else(|| {
                                        Error::invalid(
                                            &rel,
                                            format!("nameReference[{j}].kind"),
                                            "missing",
                                        )
                                    })?
                                    .to_string();
                                let specs = custom_specs(
                                    &rel,
                                    &format!("nameReference[{j}].fieldSpecs"),
                                    r.as_map().and_then(|m| m.get("fieldSpecs")),
                                )?;
                                self.config
                                    .name_refs
                                    .extend(specs.into_iter().map(|s| (target.clone(), s)));
                            }
                        }
                        _ => {
                            return Err(Error::Unsupported {
                                file: k.file.clone(),
                                field: at,
                                message: format!(
                                    "{key} in configurations is not supported yet (nameReference, commonLabels, commonAnnotations, images and varReference are)"
                                ),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `crds`: files of OpenAPI definitions (a mapping of definition name to
    /// schema). They only inform name references of custom kinds in
    /// kustomize; weir checks that they parse as such.
    fn check_crds(&self, k: &Kustomization) -> Result<(), Error> {
        for (i, c) in k.strings("crds")?.into_iter().enumerate() {
            let field = format!("crds[{i}]");
            let rel = self.entry_path(k, &field, &c)?;
            if !self.root.is_file(&rel) {
                return Err(Error::NotFound {
                    file: k.file.clone(),
                    field,
                    path: rel,
                });
            }
            let docs = self.read_yaml(&rel)?;
            let ok = docs.iter().all(|d| {
                d.is_null()
                    || d.as_map()
                        .is_some_and(|m| m.iter().all(|(_, v)| matches!(v, Node::Map(_))))
            });
            if !ok {
                return Err(Error::invalid(
                    &k.file,
                    field,
                    format!(
                        "unable to parse open API definition from {rel:?}: expected a mapping of definition names to schemas"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn replicas(&self, k: &Kustomization, res: &mut [Resource]) -> Result<(), Error> {
        for (i, n) in k.list("replicas")?.iter().enumerate() {
            let field = format!("replicas[{i}]");
            let m = n
                .as_map()
                .ok_or_else(|| Error::invalid(&k.file, &field, "expected a mapping"))?;
            let name = m
                .str("name")
                .ok_or_else(|| Error::invalid(&k.file, format!("{field}.name"), "missing"))?;
            let count = match m.get("count") {
                Some(Node::Scalar(s)) if s.tag == yaml::Tag::Int => s.clone(),
                _ => {
                    return Err(Error::invalid(
                        &k.file,
                        format!("{field}.count"),
                        "expected an integer",
                    ));
                }
            };
            let mut found = false;
            for r in res.iter_mut().filter(|r| r.was_named(name)) {
                let gvk = r.gvk();
                for spec in REPLICAS.iter().filter(|s| s.applies(&gvk)) {
                    found = true;
                    let path: Vec<&str> = spec.path.split('/').collect();
                    let make = || Node::Scalar(count.clone());
                    fieldspec::walk(&mut r.node, &path, Some(&make), &mut |n| {
                        *n = Node::Scalar(count.clone());
                    });
                }
            }
            // kustomize refuses a count that changes nothing.
            if !found {
                return Err(Error::invalid(
                    &k.file,
                    format!("{field}.name"),
                    format!(
                        "resource with name {name} does not match a config with the following \
                         GVK: no Deployment, ReplicationController, ReplicaSet or StatefulSet \
                         is named {name:?}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Text kustomize cannot print, if any, and whether it is a key:
/// kustomize prints objects through JSON (Go writes U+0080 to U+009F as
/// themselves) and yaml.v2, which refuses C1 control characters and reads
/// U+0085 (NEL) as a line break, fatal in a key. A NEL in a value folds
/// (see the emitter).
fn unprintable(node: &Node) -> Option<(&str, bool)> {
    let c1 = |t: &str| t.chars().any(is_c1);
    match node {
        Node::Map(m) => m.iter().find_map(|(k, v)| {
            if k.contains('\u{85}') || c1(k) {
                Some((k.as_str(), true))
            } else {
                unprintable(v)
            }
        }),
        Node::Seq(items) => items.iter().find_map(unprintable),
        Node::Scalar(s) if c1(&s.value) => Some((s.value.as_str(), false)),
        Node::Scalar(_) => None,
    }
}

/// A C1 control character other than NEL.
fn is_c1(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}') && c != '\u{85}'
}

/// The annotation that says where a resource came from.
const ORIGIN: &str = "config.kubernetes.io/origin";
/// The annotation that lists the transformers that ran over a resource.
const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

/// An origin naming the builtin generator or transformer `kind` configured
/// in `file` (kustomize's `Origin` as YAML).
fn configured(file: &str, kind: &str) -> String {
    let file = yaml::v3_string(file);
    format!("configuredIn: {file}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n")
}

/// The top kustomization's `buildMetadata`, applied once the build is done
/// as kustomize's `kustomizer` does: `managedByLabel` labels every
/// resource; the origin and transformations annotations (recorded during
/// the build) stay only if asked for, and are removed otherwise, even
/// when a manifest wrote them itself. Other values are ignored, as
/// kustomize ignores them.
fn build_metadata(meta: &[String], res: &mut [Resource]) {
    let has = |opt: &str| meta.iter().any(|m| m == opt);
    if has("managedByLabel") {
        let pair = [(
            "app.kubernetes.io/managed-by".to_string(),
            "kustomize-(devel)".to_string(),
        )];
        for r in res.iter_mut() {
            transform::set_pairs(r, &COMMON_LABELS[..1], &pair);
        }
    }
    for (opt, key) in [
        ("originAnnotations", ORIGIN),
        ("transformerAnnotations", TRANSFORMATIONS),
    ] {
        if !has(opt) {
            for r in res.iter_mut() {
                r.remove_annotation(key);
            }
        }
    }
}

/// `path` relative to directory `dir` (both relative to the root).
fn relative(dir: &str, path: &str) -> String {
    let d: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let common = d.iter().zip(&p).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; d.len() - common];
    out.extend(&p[common..]);
    out.join("/")
}

/// Reads a list of field specs (`path`, `kind`, `group`, `create`).
pub fn custom_specs(file: &str, field: &str, n: Option<&Node>) -> Result<Vec<FieldSpec>, Error> {
    let Some(items) = n.and_then(Node::as_seq) else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let m = n.as_map().ok_or_else(|| {
                Error::invalid(file, format!("{field}[{i}]"), "expected a mapping")
            })?;
            let path = m
                .str("path")
                .ok_or_else(|| Error::invalid(file, format!("{field}[{i}].path"), "missing"))?;
            Ok(FieldSpec::owned(
                m.str("group").unwrap_or(""),
                m.str("kind").unwrap_or(""),
                path,
                m.str("create") == Some("true"),
            ))
        })
        .collect()
}

fn display_dir(dir: &str) -> String {
    if dir.is_empty() {
        ".".to_string()
    } else {
        dir.to_string()
    }
}

fn add_unique(
    res: &mut Vec<Resource>,
    ids: &mut HashSet<String>,
    r: Resource,
    file: &str,
    field: &str,
) -> Result<(), Error> {
    if !ids.insert(r.id_key()) {
        let key = r.id_key();
        let old = res
            .iter()
            .find(|o| o.id_key() == key)
            .map_or("", |o| o.origin.as_str());
        return Err(Error::invalid(
            file,
            field,
            format!(
                "may not add resource with an already registered id: {} (from {} and {})",
                r.describe(),
                old,
                r.origin
            ),
        ));
    }
    res.push(r);
    Ok(())
}

/// Adds a generated ConfigMap/Secret, merging or replacing per its behavior.
fn join_generated(
    res: &mut Vec<Resource>,
    ids: &mut HashSet<String>,
    by_name: &HashMap<(String, String), Vec<usize>>,
    g: Resource,
    file: &str,
    field: &str,
) -> Result<(), Error> {
    let gvk = g.gvk();
    let existing = by_name
        .get(&(g.kind().to_string(), g.name().to_string()))
        .and_then(|cands| {
            cands.iter().copied().find(|&i| {
                let r = &res[i];
                r.group() == gvk.group
                    && (g.namespace().is_empty() || r.namespace() == g.namespace())
            })
        });
    match (g.behavior.unwrap_or(Behavior::Create), existing) {
        (Behavior::Create, _) => add_unique(res, ids, g, file, field),
        (Behavior::Merge | Behavior::Replace, None) => Err(Error::invalid(
            file,
            field,
            format!(
                "behavior {} needs an existing {} named {:?}; none found",
                if g.behavior == Some(Behavior::Merge) {
                    "merge"
                } else {
                    "replace"
                },
                gvk.kind,
                g.name()
            ),
        )),
        (Behavior::Merge, Some(i)) => {
            let old = &mut res[i];
            let gm = g.map();
            for key in ["data", "binaryData"] {
                if let Some(Node::Map(newd)) = gm.get(key) {
                    let d = old.map_mut().map_entry(key);
                    for (k, v) in newd.iter() {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
            for key in ["labels", "annotations"] {
                if let Some(Node::Map(newd)) = g.node.at(&["metadata", key]) {
                    let d = old.meta_mut().map_entry(key);
                    // The merged resource keeps the origin it had.
                    for (k, v) in newd.iter().filter(|(k, _)| *k != ORIGIN) {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
            if let Some(imm) = gm.get("immutable") {
                old.map_mut().insert("immutable", imm.clone());
            }
            if !g.hash_suffix {
                old.hash_suffix = false;
            }
            Ok(())
        }
        (Behavior::Replace, Some(i)) => {
            let old = &mut res[i];
            let (name, ns) = (old.name().to_string(), old.namespace().to_string());
            let mut node = g.node.clone();
            if let Some(m) = node.as_map_mut() {
                let meta = m.map_entry("metadata");
                meta.insert("name", Node::str(name));
                if !ns.is_empty() {
                    meta.insert("namespace", Node::str(ns));
                }
                // The replacement keeps the labels and annotations of the
                // replaced resource that it does not set itself
                // (kustomize's `CopyMergeMetaDataFieldsFrom`).
                for key in ["labels", "annotations"] {
                    if let Some(Node::Map(oldd)) = old.node.at(&["metadata", key]) {
                        let mut merged = oldd.clone();
                        if let Some(Node::Map(newd)) = meta.get(key) {
                            for (k, v) in newd.iter() {
                                merged.insert(k.clone(), v.clone());
                            }
                        }
                        meta.insert(key, Node::Map(merged));
                    }
                }
            }
            old.node = node;
            old.hash_suffix = g.hash_suffix;
            Ok(())
        }
    }
}

/// The top-level steps that kustomize runs once, after the whole tree is
/// accumulated: content hashes, then name references.
fn finish(_k: &Kustomization, res: &mut [Resource], config: &Config) -> Result<(), Error> {
    for r in res.iter_mut() {
        if r.hash_suffix && r.behavior.is_some() {
            let h = generate::content_hash(r);
            let name = format!("{}-{h}", r.name());
            r.rename(&name);
        }
    }
    nameref::fix(res, &config.name_refs)
}

/// kustomize's legacy kind order.
const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn sort(k: &Kustomization, res: &mut [Resource]) -> Result<(), Error> {
    let opts = k.map.get("sortOptions").and_then(Node::as_map);
    let order = opts.and_then(|m| m.str("order")).unwrap_or("legacy");
    match order {
        "fifo" => return Ok(()),
        "legacy" => {}
        other => {
            return Err(Error::invalid(
                &k.file,
                "sortOptions.order",
                format!("unknown order {other:?}: use legacy or fifo"),
            ));
        }
    }
    let legacy = opts
        .and_then(|m| m.get("legacySortOptions"))
        .and_then(Node::as_map);
    let list = |key: &str, default: &[&str]| -> Vec<String> {
        legacy
            .and_then(|m| m.get(key))
            .and_then(Node::as_seq)
            .map(|s| {
                s.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
    };
    let first = list("orderFirst", ORDER_FIRST);
    let last = list("orderLast", ORDER_LAST);
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| k == kind) {
            return 1 + i as i64;
        }
        0
    };
    let key = |r: &Resource| {
        let gvk: Gvk = r.gvk();
        let ns = if r.namespace().is_empty() {
            "~X".to_string()
        } else {
            r.namespace().to_string()
        };
        // kustomize compares `ResId.String()`: `gvk|namespace|name`.
        let id = format!("{}|{ns}|{}", gvk.sort_string(), r.name());
        (rank(&gvk.kind), gvk.sort_string(), id)
    };
    res.sort_by_cached_key(key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
        for (p, c) in files {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, c).expect("write");
        }
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\n";

    #[test]
    fn flux_generates_a_kustomization_from_manifests_and_sub_kustomizations() {
        let tmp = tempfile::tempdir().expect("tmp");
        let cm = |n: &str| CM.replace("NAME", n);
        write(
            tmp.path(),
            &[
                ("app/b.yaml", &cm("b")),
                ("app/a.yml", &cm("a")),
                ("app/notes.txt", "not yaml"),
                ("app/data.json", "{}"),
                ("app/nested/deeper/c.yaml", &cm("c")),
                (
                    "app/base/kustomization.yaml",
                    "resources: [d.yaml]\nnamePrefix: k-\n",
                ),
                ("app/base/d.yaml", &cm("d")),
                ("app/base/ignored.yaml", &cm("not-listed")),
            ],
        );
        let opts = Options {
            generate_missing: true,
        };
        let res = crate::build(tmp.path(), "app", &opts).expect("builds");
        let names: Vec<&str> = res.iter().map(Resource::name).collect();
        assert_eq!(names, vec!["a", "b", "c", "k-d"]);
        let err = crate::build(tmp.path(), "app", &Options::default()).expect_err("no generation");
        assert!(err.to_string().contains("unable to find"), "{err}");
    }

    #[test]
    fn flux_generation_refuses_yaml_that_is_not_a_manifest() {
        let tmp = tempfile::tempdir().expect("tmp");
        write(tmp.path(), &[("values.yaml", "replicaCount: 2\n")]);
        let opts = Options {
            generate_missing: true,
        };
        let err = crate::build(tmp.path(), "", &opts).expect_err("fails");
        assert!(err.to_string().contains("values.yaml"), "{err}");
    }

    #[test]
    fn paths_may_not_leave_the_root() {
        let tmp = tempfile::tempdir().expect("tmp");
        write(
            tmp.path(),
            &[("app/kustomization.yaml", "resources: [../../etc/passwd]\n")],
        );
        let err = crate::build(tmp.path(), "app", &Options::default()).expect_err("refused");
        assert!(matches!(err, Error::OutsideRoot { .. }), "{err}");
        let err = crate::build(tmp.path(), "../x", &Options::default()).expect_err("refused");
        assert!(matches!(err, Error::OutsideRoot { .. }), "{err}");
    }
}
