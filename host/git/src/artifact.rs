//! Artifacts: a commit's tree exported to
//! `<state>/artifacts/<source>/<40-hex sha>/`, its digest, and retention.
//!
//! An artifact directory appears atomically (written under a temporary name
//! in the same parent, then renamed) and is never changed afterwards. Its
//! digest is kept beside it in `<sha>.digest`, with a fingerprint of the
//! settings that shaped it (see [`Shape`]), so that re-using an artifact
//! does not re-read it, and a change of those settings makes it anew.

use std::io::{Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use gix::objs::tree::EntryKind;
use sha2::{Digest as _, Sha256};

/// How many artifact directories of one source are kept.
pub(crate) const KEEP: usize = 2;

/// Why an artifact could not be written or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArtifactError {
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("cannot write", …).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An object of the commit could not be read from the cache repository.
    #[error("cannot read {what} from the git cache: {message}")]
    Object {
        /// Which object.
        what: String,
        /// gix's message chain.
        message: String,
    },
    /// The tree holds a name that must not be written to disk.
    #[error("the commit's tree holds an unsafe path {0:?} (empty, '.', '..', '.git' or with '/')")]
    UnsafePath(String),
    /// A submodule could not be checked out (`recurseSubmodules`).
    #[error("submodule {path:?}: {message}")]
    Submodule {
        /// Where the submodule is in the tree.
        path: String,
        /// What went wrong, naming the submodule's URL.
        message: String,
        /// Whether a retry may help.
        transient: bool,
    },
}

/// Writes a submodule into an artifact being exported: called with the
/// submodule's path in the tree (`/`-separated), the commit it is pinned
/// at and the (empty) directory to write its tree into.
pub(crate) type SubmoduleWriter<'a> =
    &'a mut dyn FnMut(&str, gix::ObjectId, &Path) -> Result<(), ArtifactError>;

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// What shapes an artifact besides its commit: the source's settings that
/// decide which files it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The source's `ignore` patterns (Flux's `spec.ignore`).
    pub(crate) ignore: Option<String>,
    /// The source's `verify` settings, described: an artifact is only made
    /// after its revision passed them.
    pub(crate) verify: Option<String>,
    /// The directories of `sparseCheckout`, normalised (`deploy/prod`, no
    /// `./` or trailing `/`); empty for the whole tree.
    pub(crate) sparse: Vec<String>,
    /// Whether submodules are checked out (`recurseSubmodules`).
    pub(crate) submodules: bool,
}

impl Shape {
    /// Whether `path` (components relative to the root) lies outside every
    /// `sparseCheckout` directory.
    fn outside_sparse(&self, path: &[&str]) -> bool {
        !self.sparse.is_empty()
            && !self.sparse.iter().any(|dir| {
                let dir: Vec<&str> = dir.split('/').collect();
                path.len() > dir.len() && path[..dir.len()] == dir[..]
            })
    }

    /// Whether nothing under the directory `path` (components relative to
    /// the root) can be in the artifact because of `sparseCheckout`: no
    /// sparse directory holds it, lies in it, or is it.
    pub(crate) fn excludes_subtree(&self, path: &[&str]) -> bool {
        !self.sparse.is_empty()
            && !self.sparse.iter().any(|dir| {
                let dir: Vec<&str> = dir.split('/').collect();
                let n = dir.len().min(path.len());
                path[..n] == dir[..n]
            })
    }
}

impl Shape {
    /// A short hash of the settings and of how they are applied (the
    /// version tag changes when weir's filtering does), kept beside each
    /// artifact's digest.
    fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"weir-artifact-shape-v1\n");
        match &self.ignore {
            Some(text) => {
                h.update(b"ignore\n");
                h.update((text.len() as u64).to_be_bytes());
                h.update(text.as_bytes());
            }
            None => h.update(b"no ignore\n"),
        }
        match &self.verify {
            Some(text) => {
                h.update(b"verify\n");
                h.update((text.len() as u64).to_be_bytes());
                h.update(text.as_bytes());
            }
            None => h.update(b"no verify\n"),
        }
        h.update(b"sparse\n");
        for dir in &self.sparse {
            h.update((dir.len() as u64).to_be_bytes());
            h.update(dir.as_bytes());
        }
        // Only when set, so artifacts made before submodule support keep
        // their fingerprint.
        if self.submodules {
            h.update(b"submodules\n");
        }
        crate::cache::hex(&h.finalize())[..16].to_owned()
    }
}

/// The artifact directories of one source.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
    shape: Shape,
    fingerprint: String,
}

impl Store {
    /// The store for source `name` under `state_dir`, making artifacts
    /// shaped by `shape`.
    pub(crate) fn new(state_dir: &Path, name: &str, shape: Shape) -> Self {
        Store {
            dir: state_dir.join("artifacts").join(name),
            fingerprint: shape.fingerprint(),
            shape,
        }
    }

    /// The settings that shape this store's artifacts.
    pub(crate) fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The store's directory, `<state>/artifacts/<source>`.
    pub(crate) fn root(&self) -> &Path {
        &self.dir
    }

    /// The directory of the artifact for commit `id`.
    pub(crate) fn path(&self, id: &gix::oid) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn digest_path(&self, id: &gix::oid) -> PathBuf {
        self.dir.join(format!("{id}.digest"))
    }

    /// The digest of the artifact for `id` if that artifact exists and was
    /// made with this store's [`Shape`]. The digest is read from its side
    /// file (`<digest>\n<shape fingerprint>\n`); an artifact whose side file
    /// is missing, damaged or names another shape counts as missing, so it
    /// is made again.
    pub(crate) fn existing(&self, id: &gix::oid) -> Result<Option<String>, ArtifactError> {
        if !self.path(id).is_dir() {
            return Ok(None);
        }
        let Ok(side) = std::fs::read_to_string(self.digest_path(id)) else {
            return Ok(None);
        };
        let mut lines = side.lines();
        match (lines.next(), lines.next()) {
            (Some(d), Some(f)) if is_digest(d) && f == self.fingerprint => Ok(Some(d.to_owned())),
            _ => Ok(None),
        }
    }

    /// Exports the tree of `commit` from `repo` into the artifact directory
    /// for `commit` and returns its digest. Submodules are written by
    /// `submodules` when given, else left as empty directories.
    pub(crate) fn export(
        &self,
        repo: &gix::Repository,
        commit: &gix::oid,
        submodules: Option<SubmoduleWriter<'_>>,
    ) -> Result<String, ArtifactError> {
        std::fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
        let tmp = self
            .dir
            .join(format!(".tmp-{commit}-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io("cannot remove", &tmp))?;
        }
        let result = (|| {
            let tree = repo
                .find_commit(commit.to_owned())
                .and_then(|c| c.tree_id())
                .map_err(|e| ArtifactError::Object {
                    what: format!("commit {commit}"),
                    message: crate::error::chain_text(&e),
                })?;
            std::fs::create_dir(&tmp).map_err(io("cannot create", &tmp))?;
            write_tree(repo, tree.detach(), &tmp, "", submodules)?;
            // Flux's sparseCheckout: only these directories are in the
            // artifact (their .sourceignore files apply below).
            crate::ignore::remove_where(&tmp, &|p| self.shape.outside_sparse(p))
                .map_err(io("cannot filter", &tmp))?;
            let matcher = crate::ignore::Matcher::load(&tmp, self.shape.ignore.as_deref())
                .map_err(io("cannot read ignore files in", &tmp))?;
            let removed =
                crate::ignore::apply(&tmp, &matcher).map_err(io("cannot filter", &tmp))?;
            tracing::debug!(%commit, removed, "ignore patterns applied");
            let digest = digest_dir(&tmp)?;
            let dest = self.path(commit);
            // An artifact of another shape for the same commit is replaced;
            // nothing in this process reads it any more (the shape comes from
            // the config, which is read once).
            if dest.exists() {
                let old = self
                    .dir
                    .join(format!(".tmp-old-{commit}-{}", std::process::id()));
                std::fs::rename(&dest, &old).map_err(io("cannot move aside", &dest))?;
                std::fs::remove_dir_all(&old).map_err(io("cannot remove", &old))?;
            }
            write_atomically(
                &self.digest_path(commit),
                format!("{digest}\n{}\n", self.fingerprint).as_bytes(),
            )?;
            std::fs::rename(&tmp, &dest).map_err(io("cannot rename into place", &dest))?;
            Ok(digest)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Marks the artifact for `id` as the newest (its directory's mtime) and
    /// deletes all but the [`KEEP`] newest artifact directories of this
    /// source, never the one for `id`; also removes leftovers of exports
    /// that did not finish.
    pub(crate) fn retain(&self, id: &gix::oid) -> Result<(), ArtifactError> {
        let current = self.path(id);
        std::fs::File::open(&current)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(io("cannot touch", &current))?;
        let mut dirs = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(io("cannot list", &self.dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if name.starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            let is_sha = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_sha || path == current {
                continue;
            }
            let mtime = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            dirs.push((mtime, name.to_owned(), path));
        }
        // Newest first; the name breaks ties so the choice is stable.
        dirs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        for (_, name, path) in dirs.into_iter().skip(KEEP - 1) {
            tracing::debug!(artifact = %path.display(), "deleting old artifact");
            std::fs::remove_dir_all(&path).map_err(io("cannot delete", &path))?;
            let side = self.dir.join(format!("{name}.digest"));
            let _ = std::fs::remove_file(side);
        }
        Ok(())
    }
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), ArtifactError> {
    let tmp = path.with_file_name(format!(
        ".tmp-{}-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, data).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("cannot write", path))
}

/// Writes the tree `tree` into the existing, empty directory `dir`, which
/// is at `prefix` in the artifact (empty for its root).
///
/// Files get mode 0644 or 0755 (independent of the umask), symlinks are
/// written as symlinks with their target as stored, submodules become
/// directories, empty (as `git checkout` leaves them) unless `submodules`
/// writes them. Every file and directory is created exclusively, so a
/// malformed tree (duplicate names, a symlink and a directory of the same
/// name) fails instead of writing through a symlink.
pub(crate) fn write_tree(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    dir: &Path,
    prefix: &str,
    mut submodules: Option<SubmoduleWriter<'_>>,
) -> Result<(), ArtifactError> {
    let mut stack = vec![(tree, dir.to_owned(), prefix.to_owned())];
    while let Some((tree_id, dir, rel)) = stack.pop() {
        let tree = repo.find_tree(tree_id).map_err(|e| ArtifactError::Object {
            what: format!("tree {tree_id}"),
            message: crate::error::chain_text(&e),
        })?;
        let decoded = tree.decode().map_err(|e| ArtifactError::Object {
            what: format!("tree {tree_id}"),
            message: crate::error::chain_text(&e),
        })?;
        for entry in &decoded.entries {
            let name: &[u8] = entry.filename.as_ref();
            if name.is_empty()
                || name == b"."
                || name == b".."
                || name.eq_ignore_ascii_case(b".git")
                || name.contains(&b'/')
                || name.contains(&0)
            {
                return Err(ArtifactError::UnsafePath(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            }
            let path = dir.join(std::ffi::OsStr::from_bytes(name));
            let id = entry.oid.to_owned();
            let entry_rel = || {
                let name = String::from_utf8_lossy(name);
                if rel.is_empty() {
                    name.into_owned()
                } else {
                    format!("{rel}/{name}")
                }
            };
            match entry.mode.kind() {
                EntryKind::Tree => {
                    std::fs::create_dir(&path).map_err(io("cannot create", &path))?;
                    stack.push((id, path, entry_rel()));
                }
                EntryKind::Commit => {
                    std::fs::create_dir(&path).map_err(io("cannot create", &path))?;
                    if let Some(write) = submodules.as_mut() {
                        write(&entry_rel(), id, &path)?;
                    }
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let mode = if entry.mode.kind() == EntryKind::BlobExecutable {
                        0o755
                    } else {
                        0o644
                    };
                    let blob = find_blob(repo, id, &path)?;
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(mode)
                        .open(&path)
                        .map_err(io("cannot create", &path))?;
                    f.write_all(&blob).map_err(io("cannot write", &path))?;
                    f.set_permissions(std::fs::Permissions::from_mode(mode))
                        .map_err(io("cannot chmod", &path))?;
                }
                EntryKind::Link => {
                    let target = find_blob(repo, id, &path)?;
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path)
                        .map_err(io("cannot create symlink", &path))?;
                }
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(io("cannot chmod", &dir))?;
    }
    Ok(())
}

fn find_blob(
    repo: &gix::Repository,
    id: gix::ObjectId,
    path: &Path,
) -> Result<Vec<u8>, ArtifactError> {
    repo.find_blob(id)
        .map(|mut b| b.take_data())
        .map_err(|e| ArtifactError::Object {
            what: format!("blob {id} ({})", path.display()),
            message: crate::error::chain_text(&e),
        })
}

/// The digest of an exported tree: `sha256:<hex>` of one record per file
/// and symlink, in byte order of their `/`-separated paths relative to
/// `dir`. Each record is
///
/// ```text
/// <mode> SP <path> NUL <length: u64 big-endian> <content>
/// ```
///
/// where `<mode>` is the git mode in ASCII octal (`100644`, `100755` for a
/// file with any execute bit, `120000` for a symlink), and `<content>` is the
/// file's bytes or the symlink's target. Directories contribute no record
/// (so empty directories do not count), ownership and times are ignored. Two
/// exports of the same commit therefore have the same digest, whichever
/// source or machine made them.
pub(crate) fn digest_dir(dir: &Path) -> Result<String, ArtifactError> {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct Item {
        rel: Vec<u8>,
        path: PathBuf,
        mode: &'static str,
    }
    let mut items = Vec::new();
    let mut stack = vec![(dir.to_owned(), Vec::<u8>::new())];
    while let Some((d, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io("cannot list", &d))? {
            let entry = entry.map_err(io("cannot list", &d))?;
            let path = entry.path();
            let mut rel = prefix.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(entry.file_name().as_bytes());
            let meta = std::fs::symlink_metadata(&path).map_err(io("cannot stat", &path))?;
            let ft = meta.file_type();
            if ft.is_dir() {
                stack.push((path, rel));
            } else if ft.is_symlink() {
                items.push(Item {
                    rel,
                    path,
                    mode: "120000",
                });
            } else if ft.is_file() {
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    "100755"
                } else {
                    "100644"
                };
                items.push(Item { rel, path, mode });
            }
        }
    }
    items.sort();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    for item in &items {
        h.update(item.mode.as_bytes());
        h.update(b" ");
        h.update(&item.rel);
        h.update(b"\0");
        if item.mode == "120000" {
            let target = std::fs::read_link(&item.path).map_err(io("cannot read", &item.path))?;
            let t = target.as_os_str().as_bytes();
            h.update((t.len() as u64).to_be_bytes());
            h.update(t);
        } else {
            let mut f = std::fs::File::open(&item.path).map_err(io("cannot read", &item.path))?;
            let len = f.metadata().map_err(io("cannot stat", &item.path))?.len();
            h.update(len.to_be_bytes());
            let mut seen = 0u64;
            loop {
                let n = f.read(&mut buf).map_err(io("cannot read", &item.path))?;
                if n == 0 {
                    break;
                }
                seen += n as u64;
                h.update(&buf[..n]);
            }
            if seen != len {
                return Err(ArtifactError::Io {
                    op: "changed while reading",
                    path: item.path.clone(),
                    source: std::io::Error::other("file size changed"),
                });
            }
        }
    }
    Ok(format!("sha256:{}", crate::cache::hex(&h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, content: &str, mode: u32) {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn digest_depends_on_paths_modes_and_content_only() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        for d in [a.path(), b.path()] {
            write(d, "x/y.txt", "hello", 0o644);
            write(d, "run.sh", "#!/bin/sh", 0o755);
            std::os::unix::fs::symlink("x/y.txt", d.join("link")).expect("symlink");
        }
        std::fs::create_dir(b.path().join("empty")).expect("mkdir");
        let da = digest_dir(a.path()).expect("digest");
        assert_eq!(da, digest_dir(b.path()).expect("digest"));
        assert!(is_digest(&da), "{da}");

        std::fs::set_permissions(
            b.path().join("run.sh"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        assert_ne!(da, digest_dir(b.path()).expect("digest"), "mode counts");
        std::fs::set_permissions(
            b.path().join("run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        write(b.path(), "x/y.txt", "hellO", 0o644);
        assert_ne!(da, digest_dir(b.path()).expect("digest"), "content counts");
    }

    #[test]
    fn a_subtree_is_excluded_only_when_no_sparse_directory_touches_it() {
        let shape = Shape {
            sparse: vec!["deploy/prod".into(), "infra".into()],
            ..Shape::default()
        };
        assert!(!shape.excludes_subtree(&["deploy"]), "holds deploy/prod");
        assert!(!shape.excludes_subtree(&["deploy", "prod"]));
        assert!(!shape.excludes_subtree(&["infra", "lib"]));
        assert!(shape.excludes_subtree(&["deploy", "dev"]));
        assert!(shape.excludes_subtree(&["vendor"]));
        assert!(
            !Shape::default().excludes_subtree(&["vendor"]),
            "no sparseCheckout"
        );
    }

    #[test]
    fn record_boundaries_are_unambiguous() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        write(a.path(), "a", "bc", 0o644);
        write(b.path(), "ab", "c", 0o644);
        assert_ne!(
            digest_dir(a.path()).expect("digest"),
            digest_dir(b.path()).expect("digest")
        );
    }

    #[test]
    fn retention_keeps_the_current_and_the_newest_other() {
        let t = tempfile::tempdir().expect("tempdir");
        let store = Store::new(t.path(), "src", Shape::default());
        let ids: Vec<gix::ObjectId> = (1u8..=4)
            .map(|i| gix::ObjectId::from_hex(format!("{i:040x}").as_bytes()).expect("hex"))
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let d = store.path(id);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(store.digest_path(id), "x").expect("write");
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + n as u64);
            std::fs::File::open(&d)
                .and_then(|f| f.set_modified(t))
                .expect("mtime");
        }
        std::fs::create_dir_all(store.root().join(".tmp-leftover")).expect("mkdir");
        // The oldest is the one returned now: it stays, with the newest other.
        store.retain(&ids[0]).expect("retain");
        let mut left: Vec<_> = std::fs::read_dir(store.root())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![
            ids[0].to_string(),
            format!("{}.digest", ids[0]),
            ids[3].to_string(),
            format!("{}.digest", ids[3]),
        ];
        want.sort();
        assert_eq!(left, want);
    }
}
