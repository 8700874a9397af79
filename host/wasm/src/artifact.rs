//! The `artifact` interface of API 0.2.1: a renderer's files in one call.
//!
//! Through WASI, reading one small manifest costs a renderer about eight
//! host calls and as many system calls (open beneath the preopen, two
//! stats, a stream, two reads, close), several times what the same read
//! costs natively; with a thousand files that was most of the difference
//! between a renderer in wasm and the same code run natively (see the
//! Performance section of docs/plugins.md). Here the host walks and reads
//! the tree itself, inside the same sandbox: paths are resolved beneath
//! the artifact directory by `cap-primitives` (what wasmtime-wasi's
//! preopens use), so `..` and symbolic links cannot leave it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use cap_primitives::ambient_authority;
use cap_primitives::fs::{FollowSymlinks, open_dir, read_base_dir, stat};

/// A renderer call's view of its artifact.
pub(crate) struct Artifact {
    /// The artifact directory, opened only when the plugin reads through
    /// this interface (most renderers never do).
    dir: PathBuf,
    /// The most bytes one `read-tree` may return: the plugin's memory
    /// limit, which the files must fit in anyway.
    max_bytes: u64,
    /// The plugin's name, for the hint when the limit is reached.
    plugin: String,
}

/// Why `read-tree` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TreeError {
    /// The path is not in the artifact.
    NotFound(String),
    /// A directory or file could not be read, or the files are too large;
    /// with the file (relative to the artifact) when one is to blame.
    Invalid(String, Option<String>),
}

impl Artifact {
    /// `dir` for a call whose plugin, `plugin`, may use `max_bytes` of
    /// memory. Nothing is opened until [`Artifact::read_tree`].
    pub(crate) fn new(dir: &Path, max_bytes: u64, plugin: &str) -> Self {
        Artifact {
            dir: dir.to_owned(),
            max_bytes,
            plugin: plugin.to_owned(),
        }
    }

    /// Every regular file under `path` whose name ends with one of
    /// `suffixes` (all when empty), hidden entries and symbolic links
    /// skipped, in path order; or `path` alone when it names a file. As
    /// `weir:plugin/artifact.read-tree` documents it.
    pub(crate) fn read_tree(
        &self,
        path: &str,
        suffixes: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, TreeError> {
        let root = cap_primitives::fs::open_ambient_dir(&self.dir, ambient_authority())
            .map_err(|e| TreeError::Invalid(format!("cannot open the artifact: {e}"), None))?;
        let rel = path.trim_start_matches("./").trim_matches('/');
        let rel = if rel == "." { "" } else { rel };
        let shown = if rel.is_empty() { "." } else { rel };
        let not_found = |e: std::io::Error| {
            TreeError::NotFound(format!("path {shown:?} not found in the artifact: {e}"))
        };
        let is_dir = if rel.is_empty() {
            root.metadata().map_err(not_found)?.is_dir()
        } else {
            let m = stat(&root, Path::new(rel), FollowSymlinks::Yes).map_err(not_found)?;
            if m.is_file() {
                let file = cap_primitives::fs::open(
                    &root,
                    Path::new(rel),
                    cap_primitives::fs::OpenOptions::new().read(true),
                )
                .map_err(|e| TreeError::Invalid(format!("cannot read: {e}"), Some(rel.into())))?;
                let mut total = 0;
                let bytes = self.read_file(file, rel, &mut total)?;
                return Ok(vec![(rel.to_owned(), bytes)]);
            }
            m.is_dir()
        };
        if !is_dir {
            return Err(TreeError::NotFound(format!(
                "path {shown:?} in the artifact is neither a file nor a directory"
            )));
        }
        let dir = if rel.is_empty() {
            root.try_clone()
        } else {
            open_dir(&root, Path::new(rel))
        }
        .map_err(|e| TreeError::Invalid(format!("cannot list {shown:?}: {e}"), None))?;
        let mut out = Vec::new();
        let mut total = 0;
        self.walk(&dir, rel, suffixes, &mut out, &mut total)?;
        out.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
        Ok(out)
    }

    fn walk(
        &self,
        dir: &File,
        prefix: &str,
        suffixes: &[String],
        out: &mut Vec<(String, Vec<u8>)>,
        total: &mut u64,
    ) -> Result<(), TreeError> {
        let shown = if prefix.is_empty() { "." } else { prefix };
        let list_err =
            |e: std::io::Error| TreeError::Invalid(format!("cannot list {shown:?}: {e}"), None);
        for entry in read_base_dir(dir).map_err(list_err)? {
            let entry = entry.map_err(list_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let ty = entry.file_type().map_err(list_err)?;
            if ty.is_dir() {
                let sub = entry
                    .open_dir()
                    .map_err(|e| TreeError::Invalid(format!("cannot list {rel:?}: {e}"), None))?;
                self.walk(&sub, &rel, suffixes, out, total)?;
            } else if ty.is_file()
                && (suffixes.is_empty() || suffixes.iter().any(|s| name.ends_with(s.as_str())))
            {
                let file = entry.open().map_err(|e| {
                    TreeError::Invalid(format!("cannot read: {e}"), Some(rel.clone()))
                })?;
                let bytes = self.read_file(file, &rel, total)?;
                out.push((rel, bytes));
            }
        }
        Ok(())
    }

    /// Reads one file, counting its bytes against the limit.
    fn read_file(&self, file: File, rel: &str, total: &mut u64) -> Result<Vec<u8>, TreeError> {
        // Room for a small manifest at once (a read, then one that finds the
        // end), without holding much for each of a thousand small files.
        let left = self.max_bytes.saturating_sub(*total);
        let mut bytes = Vec::with_capacity(usize::try_from(left.min(8191) + 1).unwrap_or(8192));
        // One byte past what is left, to see that the limit was crossed
        // without reading a huge file whole.
        file.take(left.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| TreeError::Invalid(format!("cannot read: {e}"), Some(rel.into())))?;
        *total += bytes.len() as u64;
        if *total > self.max_bytes {
            return Err(TreeError::Invalid(
                format!(
                    "the files read reach more than the plugin's {} memory limit (raise host.plugins.{}.maxMemory if the input is really that large)",
                    crate::manifest::size(weir_config::ByteSize(self.max_bytes)),
                    self.plugin
                ),
                Some(rel.into()),
            ));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
        files.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn walks_in_component_order_skipping_hidden_entries_links_and_other_suffixes() {
        let d = tempfile::tempdir().expect("tmp");
        write(d.path(), "app/a-b.yaml", "1");
        write(d.path(), "app/a/b.yaml", "2");
        write(d.path(), "app/a/c.txt", "3");
        write(d.path(), "app/.git/x.yaml", "4");
        write(d.path(), "app/.hidden.yaml", "5");
        std::os::unix::fs::symlink(d.path().join("app/a-b.yaml"), d.path().join("app/l.yaml"))
            .expect("symlink");
        let a = Artifact::new(d.path(), 1 << 20, "p");
        let files = a.read_tree("./app/", &[".yaml".into()]).expect("read");
        assert_eq!(names(&files), ["app/a/b.yaml", "app/a-b.yaml"]);
        assert_eq!(files[0].1, b"2");
        let all = a.read_tree("app/a", &[]).expect("read");
        assert_eq!(names(&all), ["app/a/b.yaml", "app/a/c.txt"]);
        let one = a.read_tree("app/a/c.txt", &[".yaml".into()]).expect("read");
        assert_eq!(names(&one), ["app/a/c.txt"]);
        for root in ["", ".", "/", "./"] {
            let n = a.read_tree(root, &[".yaml".into()]).expect("root").len();
            assert_eq!(n, 2, "{root:?}");
        }
    }

    #[test]
    fn nothing_outside_the_artifact_is_reachable() {
        let outside = tempfile::tempdir().expect("tmp");
        write(outside.path(), "secret.yaml", "s");
        let d = tempfile::tempdir().expect("tmp");
        write(d.path(), "in.yaml", "i");
        std::os::unix::fs::symlink(outside.path(), d.path().join("out")).expect("symlink");
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), d.path().join("s.yaml"))
            .expect("symlink");
        let a = Artifact::new(d.path(), 1 << 20, "p");
        let escape = format!("../{}", outside.path().display());
        for path in ["out", "s.yaml", "../", "..", escape.as_str(), "/etc/passwd"] {
            match a.read_tree(path, &[]) {
                Err(TreeError::NotFound(m)) => assert!(m.contains("not found"), "{m}"),
                other => panic!("{path:?} reached: {other:?}"),
            }
        }
        assert_eq!(names(&a.read_tree("", &[]).expect("root")), ["in.yaml"]);
        let missing = a.read_tree("nope", &[]).expect_err("missing");
        assert!(
            matches!(&missing, TreeError::NotFound(m) if m.starts_with("path \"nope\" not found in the artifact")),
            "{missing:?}"
        );
    }

    #[test]
    fn more_than_the_memory_limit_is_refused_naming_the_file() {
        let d = tempfile::tempdir().expect("tmp");
        write(d.path(), "a.yaml", &"a".repeat(600));
        write(d.path(), "b.yaml", &"b".repeat(600));
        let a = Artifact::new(d.path(), 1000, "p");
        match a.read_tree("", &[]) {
            Err(TreeError::Invalid(m, Some(file))) => {
                assert!(m.contains("1000B memory limit"), "{m}");
                assert!(file == "a.yaml" || file == "b.yaml", "{file}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            a.read_tree("a.yaml", &[]).expect("one fits")[0].1.len(),
            600
        );
    }
}
