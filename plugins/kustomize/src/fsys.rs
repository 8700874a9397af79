//! Paths under the build root. Everything is read through `std::fs` below
//! one root directory (in the component, the `/artifact` preopen), and no
//! path written in a kustomization may leave it: `..` is resolved lexically
//! and checked. Symbolic links are not resolved here; in the component the
//! WASI preopen (cap-std) refuses links that point outside the artifact.

use std::path::{Component, Path, PathBuf};

/// The root every path is resolved under.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

/// A path relative to the root, `/`-separated, never starting with `/` or
/// containing `..`; empty for the root itself.
pub type Rel = String;

impl Root {
    /// A root at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root { dir: dir.into() }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The real path of `rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(rel)
        }
    }

    /// Joins `name` (as written in a kustomization in `base`) onto `base`,
    /// lexically; `None` when the result leaves the root.
    pub fn join(&self, base: &str, name: &str) -> Option<Rel> {
        let mut parts: Vec<String> = if name.starts_with('/') {
            // Absolute paths are taken relative to the root: the artifact
            // is the whole world the renderer sees.
            Vec::new()
        } else {
            base.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        for c in Path::new(name).components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    parts.pop()?;
                }
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        Some(parts.join("/"))
    }

    /// Whether `rel` is a directory.
    pub fn is_dir(&self, rel: &str) -> bool {
        self.path(rel).is_dir()
    }

    /// Whether `rel` is a file.
    pub fn is_file(&self, rel: &str) -> bool {
        self.path(rel).is_file()
    }

    /// Reads `rel` as bytes.
    ///
    /// # Errors
    /// The I/O error.
    pub fn read(&self, rel: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(rel))
    }

    /// The entries of directory `rel`, sorted by name: (name, is_dir).
    ///
    /// # Errors
    /// The I/O error.
    pub fn list(&self, rel: &str) -> std::io::Result<Vec<(String, bool)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.path(rel))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.path().is_dir();
            out.push((name, is_dir));
        }
        out.sort();
        Ok(out)
    }
}

/// The directory part of `rel` (`a/b/c.yaml` → `a/b`).
pub fn parent(rel: &str) -> &str {
    match rel.rfind('/') {
        Some(i) => &rel[..i],
        None => "",
    }
}

/// `rel` joined with `name`.
pub fn child(rel: &str, name: &str) -> Rel {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_stay_inside_the_root() {
        let r = Root::new("/x");
        assert_eq!(r.join("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(r.join("a", "./d/e.yaml").as_deref(), Some("a/d/e.yaml"));
        assert_eq!(r.join("a", "../../etc/passwd"), None);
        assert_eq!(r.join("", ".."), None);
        assert_eq!(r.join("a", "/b").as_deref(), Some("b"));
    }
}
