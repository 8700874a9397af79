//! `include` (Flux's `spec.include`): a source's own artifact with the
//! artifacts of other sources copied into sub-paths, as a new immutable
//! snapshot under `<state>/artifacts/<source>/composed/<sha>-<key>/`.
//!
//! `<key>` hashes the own artifact's digest, the source's `ignore` and, per
//! include, the included source's name, `fromPath`, `toPath` and artifact
//! digest: a change of any included source makes a new snapshot (and
//! digest), while an unchanged set is reused without copying anything.
//!
//! As Flux archives the checkout after copying the includes in, the
//! including source's ignore rules (its `ignore` and the `.sourceignore`
//! files in the composed tree) apply to the included files too. The snapshots are copies, never
//! links into the included sources' artifacts, so the retention of those
//! artifacts never changes a snapshot a render may be reading.

use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use crate::artifact::{ArtifactError, digest_dir};

/// How many composed snapshots of one source are kept.
const KEEP: usize = 2;

/// One included artifact and where it goes.
#[derive(Debug, Clone)]
pub(crate) struct Part<'a> {
    /// The included source's name.
    pub(crate) name: &'a str,
    /// Directory of the included artifact to copy, normalised; empty for
    /// its root.
    pub(crate) from: &'a str,
    /// Directory of the composed artifact to copy it to, normalised, never
    /// empty.
    pub(crate) to: &'a str,
    /// The included artifact's directory.
    pub(crate) dir: &'a Path,
    /// The included artifact's digest.
    pub(crate) digest: &'a str,
}

/// Why a composed artifact could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ComposeError {
    /// A file system operation failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// `fromPath` is not a directory of the included artifact.
    #[error("include of git source {name:?}: fromPath {from:?} is not a directory in its artifact")]
    MissingFrom {
        /// The included source.
        name: String,
        /// Its `fromPath`.
        from: String,
    },
    /// A path of `fromPath` or `toPath` passes through a symlink, which is
    /// never followed (it could lead out of the artifact).
    #[error("include of git source {name:?}: {field} {path:?} passes through the symlink {at:?}")]
    Symlink {
        /// The included source.
        name: String,
        /// `fromPath` or `toPath`.
        field: &'static str,
        /// The path.
        path: String,
        /// The component that is a symlink (or a file).
        at: String,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// The composed snapshots of one source.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store for source `name` under `state_dir`.
    pub(crate) fn new(state_dir: &Path, name: &str) -> Self {
        Store {
            dir: state_dir.join("artifacts").join(name).join("composed"),
        }
    }

    /// The store's directory.
    pub(crate) fn root(&self) -> &Path {
        &self.dir
    }

    /// The snapshot of `own` (a source's own artifact directory, named by
    /// its commit) with `parts` copied in, and its digest: reused when it
    /// exists, made otherwise. Older snapshots beyond [`KEEP`] are deleted.
    pub(crate) fn compose(
        &self,
        own: &Path,
        own_digest: &str,
        parts: &[Part<'_>],
        ignore: Option<&str>,
    ) -> Result<(PathBuf, String), ComposeError> {
        let commit = own
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("{commit}-{}", key(own_digest, parts, ignore));
        let dest = self.dir.join(&name);
        let side = self.dir.join(format!("{name}.digest"));
        if dest.is_dir()
            && let Ok(text) = std::fs::read_to_string(&side)
            && let Some(digest) = text.lines().next().filter(|d| d.starts_with("sha256:"))
        {
            let digest = digest.to_owned();
            self.retain(&dest)?;
            return Ok((dest, digest));
        }
        std::fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
        let tmp = self.dir.join(format!(".tmp-{name}-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io("cannot remove", &tmp))?;
        }
        let result = (|| {
            copy_tree(own, &tmp)?;
            for part in parts {
                let src = inside(part.dir, part.from, part.name, "fromPath", false)?;
                if !std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir()) {
                    return Err(ComposeError::MissingFrom {
                        name: part.name.to_owned(),
                        from: part.from.to_owned(),
                    });
                }
                let dst = prepare_target(&tmp, part)?;
                copy_tree(&src, &dst)?;
            }
            let matcher = crate::ignore::Matcher::load(&tmp, ignore)
                .map_err(io("cannot read ignore files in", &tmp))?;
            crate::ignore::apply(&tmp, &matcher).map_err(io("cannot filter", &tmp))?;
            let digest = digest_dir(&tmp)?;
            if dest.exists() {
                std::fs::remove_dir_all(&dest).map_err(io("cannot remove", &dest))?;
            }
            let side_tmp = self
                .dir
                .join(format!(".tmp-{name}.digest-{}", std::process::id()));
            std::fs::write(&side_tmp, format!("{digest}\n"))
                .map_err(io("cannot write", &side_tmp))?;
            std::fs::rename(&side_tmp, &side).map_err(io("cannot write", &side))?;
            std::fs::rename(&tmp, &dest).map_err(io("cannot rename into place", &dest))?;
            Ok(digest)
        })();
        match result {
            Ok(digest) => {
                self.retain(&dest)?;
                Ok((dest, digest))
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// Marks `current` as the newest and deletes all but the [`KEEP`]
    /// newest snapshots (never `current`), and leftovers of unfinished ones.
    fn retain(&self, current: &Path) -> Result<(), ArtifactError> {
        std::fs::File::open(current)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(io("cannot touch", current))?;
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .map_err(io("cannot list", &self.dir))?
            .flatten()
        {
            let path = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            if name.starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(&path);
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if path == current || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let mtime = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            dirs.push((mtime, name.to_owned(), path));
        }
        dirs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        for (_, name, path) in dirs.into_iter().skip(KEEP - 1) {
            std::fs::remove_dir_all(&path).map_err(io("cannot delete", &path))?;
            let _ = std::fs::remove_file(self.dir.join(format!("{name}.digest")));
        }
        Ok(())
    }
}

/// The first 16 hex digits of a hash of everything that decides a
/// composed snapshot's content (besides the own artifact's commit, which
/// names it).
fn key(own_digest: &str, parts: &[Part<'_>], ignore: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(b"weir-include-v1\n");
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(own_digest);
    match ignore {
        Some(text) => {
            field("ignore");
            field(text);
        }
        None => field("no ignore"),
    }
    for p in parts {
        field(p.name);
        field(p.from);
        field(p.to);
        field(p.digest);
    }
    crate::cache::hex(&h.finalize())[..16].to_owned()
}

/// `root/rel`, refusing a `rel` that passes through a symlink (or a file)
/// of `root`; the last component may be anything when `any_last` is set.
/// `rel` is normalised and has no `..` (checked at config load).
fn inside(
    root: &Path,
    rel: &str,
    name: &str,
    field: &'static str,
    any_last: bool,
) -> Result<PathBuf, ComposeError> {
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let mut path = root.to_owned();
    for (i, c) in parts.iter().enumerate() {
        path.push(c);
        let last = i + 1 == parts.len();
        if last && any_last {
            break;
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() || (!last && !m.is_dir()) => {
                return Err(ComposeError::Symlink {
                    name: name.to_owned(),
                    field,
                    path: rel.to_owned(),
                    at: path
                        .strip_prefix(root)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
    Ok(path)
}

/// Makes `root/part.to` ready to receive a copy: its parent directories
/// exist (made if missing, never through a symlink) and whatever was at
/// `to` itself is removed, since an include replaces that path.
fn prepare_target(root: &Path, part: &Part<'_>) -> Result<PathBuf, ComposeError> {
    let dst = inside(root, part.to, part.name, "toPath", true)?;
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    }
    match std::fs::symlink_metadata(&dst) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(&dst).map_err(io("cannot replace", &dst))?,
        Ok(_) => std::fs::remove_file(&dst).map_err(io("cannot replace", &dst))?,
        Err(_) => {}
    }
    Ok(dst)
}

/// Copies the tree at `src` to the new directory `dst`: directories 0755,
/// files 0644 or 0755 (as in an export), symlinks as symlinks with their
/// target unchanged (never followed).
fn copy_tree(src: &Path, dst: &Path) -> Result<(), ArtifactError> {
    let mut stack = vec![(src.to_owned(), dst.to_owned())];
    while let Some((from, to)) = stack.pop() {
        std::fs::create_dir(&to).map_err(io("cannot create", &to))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))
            .map_err(io("cannot chmod", &to))?;
        for entry in std::fs::read_dir(&from).map_err(io("cannot list", &from))? {
            let entry = entry.map_err(io("cannot list", &from))?;
            let path = entry.path();
            let target = to.join(std::ffi::OsStr::from_bytes(entry.file_name().as_bytes()));
            let meta = std::fs::symlink_metadata(&path).map_err(io("cannot stat", &path))?;
            let ft = meta.file_type();
            if ft.is_dir() {
                stack.push((path, target));
            } else if ft.is_symlink() {
                let link = std::fs::read_link(&path).map_err(io("cannot read symlink", &path))?;
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(io("cannot create symlink", &target))?;
            } else if ft.is_file() {
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                let mut input = std::fs::File::open(&path).map_err(io("cannot read", &path))?;
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&target)
                    .map_err(io("cannot create", &target))?;
                std::io::copy(&mut input, &mut out).map_err(io("cannot write", &target))?;
                out.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(io("cannot chmod", &target))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn part<'a>(dir: &'a Path, from: &'a str, to: &'a str, digest: &'a str) -> Part<'a> {
        Part {
            name: "lib",
            from,
            to,
            dir,
            digest,
        }
    }

    #[test]
    fn includes_replace_their_target_and_change_the_digest() {
        let t = tempfile::tempdir().expect("tempdir");
        let own = t.path().join("own").join("a".repeat(40));
        write(&own, "app.yaml", "app");
        write(&own, "vendor/lib/stale.yaml", "stale");
        let lib = t.path().join("lib");
        write(&lib, "deploy/x.yaml", "x1");
        write(&lib, "other.yaml", "not copied");
        let store = Store::new(&t.path().join("state"), "app");

        let (dir1, d1) = store
            .compose(
                &own,
                "sha256:own",
                &[part(&lib, "deploy", "vendor/lib", "sha256:1")],
                None,
            )
            .expect("compose");
        assert_eq!(
            std::fs::read_to_string(dir1.join("app.yaml")).expect("own"),
            "app"
        );
        assert_eq!(
            std::fs::read_to_string(dir1.join("vendor/lib/x.yaml")).expect("inc"),
            "x1"
        );
        assert!(
            !dir1.join("vendor/lib/stale.yaml").exists(),
            "toPath is replaced"
        );
        assert!(
            !dir1.join("vendor/lib/other.yaml").exists(),
            "only fromPath"
        );
        assert_eq!(d1, digest_dir(&dir1).expect("digest"));

        // The same inputs: the same snapshot, not made again.
        let (again, d_again) = store
            .compose(
                &own,
                "sha256:own",
                &[part(&lib, "deploy", "vendor/lib", "sha256:1")],
                None,
            )
            .expect("compose");
        assert_eq!((again.clone(), d_again), (dir1.clone(), d1.clone()));

        // A new revision of the included source: a new snapshot; the old
        // one is left as it was (a render may be reading it).
        write(&lib, "deploy/x.yaml", "x2");
        let (dir2, d2) = store
            .compose(
                &own,
                "sha256:own",
                &[part(&lib, "deploy", "vendor/lib", "sha256:2")],
                None,
            )
            .expect("compose");
        assert_ne!(dir2, dir1);
        assert_ne!(d2, d1);
        assert_eq!(
            std::fs::read_to_string(dir1.join("vendor/lib/x.yaml")).expect("old"),
            "x1"
        );
        assert_eq!(
            std::fs::read_to_string(dir2.join("vendor/lib/x.yaml")).expect("new"),
            "x2"
        );
    }

    #[test]
    fn the_including_sources_ignore_rules_apply_to_included_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let own = t.path().join("own").join("c".repeat(40));
        write(&own, "deploy/app.yaml", "app");
        write(&own, ".sourceignore", "*.md\n");
        let lib = t.path().join("lib");
        write(&lib, "x.yaml", "x");
        write(&lib, "README.md", "doc");
        write(&lib, "secret.txt", "s");
        let store = Store::new(&t.path().join("state"), "app");
        let parts = [part(&lib, "", "vendor/lib", "sha256:1")];
        let (dir, _) = store
            .compose(&own, "sha256:o", &parts, Some("*.txt\n"))
            .expect("compose");
        assert!(dir.join("vendor/lib/x.yaml").exists());
        assert!(!dir.join("vendor/lib/README.md").exists(), ".sourceignore");
        assert!(!dir.join("vendor/lib/secret.txt").exists(), "ignore");
        // Other ignore rules: another snapshot.
        let (other, _) = store
            .compose(&own, "sha256:o", &parts, None)
            .expect("compose");
        assert_ne!(other, dir);
        assert!(other.join("vendor/lib/secret.txt").exists());
    }

    #[test]
    fn a_missing_from_path_and_symlinked_paths_are_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let own = t.path().join("own").join("b".repeat(40));
        write(&own, "app.yaml", "app");
        std::os::unix::fs::symlink("/etc", own.join("escape")).expect("symlink");
        let lib = t.path().join("lib");
        write(&lib, "x.yaml", "x");
        std::os::unix::fs::symlink("/etc", lib.join("etc")).expect("symlink");
        let store = Store::new(&t.path().join("state"), "app");

        let err = store
            .compose(
                &own,
                "sha256:o",
                &[part(&lib, "nope", "lib", "sha256:1")],
                None,
            )
            .expect_err("missing");
        assert_eq!(
            err.to_string(),
            "include of git source \"lib\": fromPath \"nope\" is not a directory in its artifact"
        );
        let err = store
            .compose(
                &own,
                "sha256:o",
                &[part(&lib, "etc", "lib", "sha256:1")],
                None,
            )
            .expect_err("symlink from");
        assert!(
            err.to_string()
                .contains("fromPath \"etc\" passes through the symlink"),
            "{err}"
        );
        let err = store
            .compose(
                &own,
                "sha256:o",
                &[part(&lib, "", "escape/lib", "sha256:1")],
                None,
            )
            .expect_err("symlink to");
        assert!(
            err.to_string()
                .contains("toPath \"escape/lib\" passes through the symlink"),
            "{err}"
        );
        // Nothing was written through the symlinks, and no snapshot is left.
        assert!(!Path::new("/etc/lib").exists());
        let left: Vec<_> = std::fs::read_dir(store.root())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
