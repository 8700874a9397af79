//! Reading a renderer's artifact in bulk: [`read_tree`] returns every file
//! under a path, read whole, in path order.
//!
//! In a component (`wasm32`, under [`ARTIFACT_ROOT`](crate::ARTIFACT_ROOT)) it is one call to the
//! host's `weir:plugin/artifact` import (API 0.2.1): the host walks and
//! reads the tree inside the plugin's sandbox, which is several times
//! cheaper than a WASI call for every open, stat, read and close of every
//! file. Anywhere else (a plugin's native unit tests, another root) it
//! walks the directory with `std::fs`, with the same rules and order.
//!
//! ```no_run
//! let root = std::path::Path::new(weir_sdk::ARTIFACT_ROOT);
//! for file in weir_sdk::artifact::read_tree(root, "apps/web", &[".jsonnet", ".libsonnet"])? {
//!     let text = String::from_utf8_lossy(&file.contents);
//!     // …
//! }
//! # Ok::<(), weir_sdk::Error>(())
//! ```

use std::path::{Path, PathBuf};

use crate::{Error, ErrorKind};

/// One file of the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Its path relative to the artifact root, `/`-separated: what messages
    /// and origins name.
    pub path: String,
    /// Its bytes.
    pub contents: Vec<u8>,
}

/// Every regular file under `root/path` whose name ends with one of
/// `suffixes` (every file when empty), read whole, in path order (component
/// by component: `a/b` before `a-b`); or `path` alone, whatever its name,
/// when it names a file. Directories are walked recursively; entries whose
/// name starts with `.` and symbolic links inside the walk are skipped.
///
/// # Errors
/// [`ErrorKind::NotFound`] when the path is not in the artifact;
/// [`ErrorKind::InvalidInput`] naming the directory or file that cannot be
/// read (in a component also when the files together are larger than the
/// plugin's memory limit).
pub fn read_tree(root: &Path, path: &str, suffixes: &[&str]) -> Result<Vec<ArtifactFile>, Error> {
    #[cfg(target_arch = "wasm32")]
    if root == Path::new(crate::ARTIFACT_ROOT) {
        return from_host(path, suffixes);
    }
    list(root, path, suffixes)?
        .into_iter()
        .map(|(name, full)| {
            let contents =
                read_file(&full).map_err(|e| input_error(&name, format!("cannot read: {e}")))?;
            Ok(ArtifactFile {
                path: name,
                contents,
            })
        })
        .collect()
}

/// The host's `read-tree`.
#[cfg(target_arch = "wasm32")]
fn from_host(path: &str, suffixes: &[&str]) -> Result<Vec<ArtifactFile>, Error> {
    use crate::bindings::renderer::weir::plugin::artifact as wit;
    let suffixes: Vec<String> = suffixes.iter().map(|s| (*s).to_owned()).collect();
    match wit::read_tree(path, &suffixes) {
        Ok(files) => Ok(files
            .into_iter()
            .map(|f| ArtifactFile {
                path: f.path,
                contents: f.contents,
            })
            .collect()),
        Err(e) => Err(crate::bindings::convert::renderer::from_wit(e)),
    }
}

pub(crate) fn input_error(file: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message).at(file, None, None)
}

/// The files under `root/path` (as [`read_tree`] walks it) whose name ends
/// with one of `suffixes` (all when empty), as (name relative to `root`,
/// full path), in path order.
pub(crate) fn list(
    root: &Path,
    path: &str,
    suffixes: &[&str],
) -> Result<Vec<(String, PathBuf)>, Error> {
    let keep = |name: &str| suffixes.is_empty() || suffixes.iter().any(|s| name.ends_with(s));
    let rel = path.trim_start_matches("./").trim_matches('/');
    let shown = if rel.is_empty() || rel == "." {
        "."
    } else {
        rel
    };
    let dir = if shown == "." {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let meta = std::fs::metadata(&dir).map_err(|e| {
        Error::new(
            ErrorKind::NotFound,
            format!("path {shown:?} not found in the artifact: {e}"),
        )
    })?;
    let mut paths = Vec::new();
    if meta.is_file() {
        paths.push(dir);
    } else {
        collect(&dir, &keep, &mut paths).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot list {shown:?}: {e}"),
            )
        })?;
    }
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            (name, p)
        })
        .collect())
}

fn collect(
    dir: &Path,
    keep: &impl Fn(&str) -> bool,
    files: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            collect(&entry.path(), keep, files)?;
        } else if ty.is_file() && keep(&name) {
            files.push(entry.path());
        }
    }
    Ok(())
}

/// How much [`read_file`] asks for at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A file's bytes with a plain read loop: `fs::read` first asks for the
/// size and position (two more WASI calls per file, which is most of a
/// small manifest's cost in a component that reads through WASI).
pub(crate) fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(READ_CHUNK);
    loop {
        let len = bytes.len();
        if bytes.capacity() - len < READ_CHUNK / 2 {
            bytes.reserve(READ_CHUNK);
        }
        let cap = bytes.capacity();
        bytes.resize(cap, 0);
        let n = file.read(&mut bytes[len..])?;
        bytes.truncate(len + n);
        if n == 0 {
            return Ok(bytes);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes `text` at `dir/rel`, making the directories.
    pub(crate) fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn reads_matching_files_in_component_order_skipping_hidden_entries_and_links() {
        let d = tempfile::tempdir().expect("tmp");
        write(d.path(), "app/a-b.yaml", "1");
        write(d.path(), "app/a/b.yaml", "2");
        write(d.path(), "app/a/c.txt", "3");
        write(d.path(), "app/.git/x.yaml", "4");
        write(d.path(), "app/.hidden.yaml", "5");
        std::os::unix::fs::symlink(
            d.path().join("app/a-b.yaml"),
            d.path().join("app/link.yaml"),
        )
        .expect("symlink");
        let files = read_tree(d.path(), "./app/", &[".yaml"]).expect("read");
        let got: Vec<(&str, &[u8])> = files
            .iter()
            .map(|f| (f.path.as_str(), f.contents.as_slice()))
            .collect();
        assert_eq!(got, [("app/a/b.yaml", &b"2"[..]), ("app/a-b.yaml", b"1")]);
        let all = read_tree(d.path(), "app/a", &[]).expect("read");
        let names: Vec<&str> = all.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["app/a/b.yaml", "app/a/c.txt"]);
        // A path naming a file is that file, whatever its suffix.
        let one = read_tree(d.path(), "app/a/c.txt", &[".yaml"]).expect("read");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].path, "app/a/c.txt");
    }

    #[test]
    fn a_missing_path_is_not_found_and_the_root_is_read_whole() {
        let d = tempfile::tempdir().expect("tmp");
        write(d.path(), "x.yaml", "x");
        let err = read_tree(d.path(), "nope", &[]).expect_err("missing");
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains("\"nope\" not found"), "{err}");
        for root in ["", ".", "/", "./"] {
            let files = read_tree(d.path(), root, &[]).expect("root");
            assert_eq!(files.len(), 1, "{root:?}");
        }
    }

    #[test]
    fn a_big_file_is_read_whole() {
        let d = tempfile::tempdir().expect("tmp");
        let text = "x".repeat(3 * READ_CHUNK + 7);
        write(d.path(), "big.yaml", &text);
        let files = read_tree(d.path(), "", &[]).expect("read");
        assert_eq!(files[0].contents.len(), text.len());
    }
}
