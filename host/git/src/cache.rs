//! The shared cache: one bare repository per URL and credential identity
//! under `<state>/git/`, and the in-process locks that serialise its users.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sha2::{Digest as _, Sha256};

/// `<state>/git/<first 16 hex of sha256(url + "\n" + identity)>.git`.
///
/// `identity` names the credentials (user name, whether a token is used, key
/// file path) but holds no secret, so the directory name reveals nothing.
pub(crate) fn dir(state_dir: &Path, url: &str, identity: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(url.as_bytes());
    h.update(b"\n");
    h.update(identity.as_bytes());
    let hex = hex(&h.finalize());
    state_dir.join("git").join(format!("{}.git", &hex[..16]))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The process-wide lock for `path` (a cache repository or an artifact
/// directory). Every `GitSource` that uses the same path shares it; gix's
/// own lock files additionally guard refs and packs against other processes.
pub(crate) fn lock_for(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    map.entry(path.to_owned()).or_default().clone()
}

/// Why the cache repository could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    /// A directory could not be created or replaced.
    #[error("cannot prepare git cache {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// gix could not initialise or open the repository.
    #[error("cannot open git cache {path}: {message}")]
    Git {
        /// The directory.
        path: PathBuf,
        /// gix's message chain.
        message: String,
    },
}

/// How many packs a cache repository may gather before it is made anew.
pub(crate) const MAX_PACKS: usize = 64;

fn pack_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("objects").join("pack"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0)
}

/// Pack files (`pack-*.pack`) without their index (`.idx`), or the other
/// way round: what deleting a file by hand leaves, and what gix would only
/// notice when it needs an object from that pack.
fn unpaired_packs(dir: &Path) -> Vec<String> {
    let pack_dir = dir.join("objects").join("pack");
    let Ok(rd) = std::fs::read_dir(&pack_dir) else {
        return Vec::new();
    };
    let names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    let mut out = Vec::new();
    for name in &names {
        let partner = if let Some(stem) = name.strip_suffix(".pack") {
            format!("{stem}.idx")
        } else if let Some(stem) = name.strip_suffix(".idx") {
            format!("{stem}.pack")
        } else {
            continue;
        };
        if !names.contains(&partner) {
            out.push(format!("{name} has no {partner}"));
        }
    }
    out.sort();
    out
}

/// What is wrong with the cache repository, if anything can be seen: packs
/// without their index or the other way round, or a reference whose commit
/// or tree cannot be read. Cheap enough to run after every failed fetch (a
/// cache holds a handful of references).
pub(crate) fn damage(repo: &gix::Repository) -> Option<String> {
    if let Some(first) = unpaired_packs(repo.git_dir()).into_iter().next() {
        return Some(first);
    }
    let refs = match repo.references() {
        Ok(r) => r,
        Err(e) => return Some(format!("cannot list references: {e}")),
    };
    let all = match refs.all() {
        Ok(all) => all,
        Err(e) => return Some(format!("cannot list references: {e}")),
    };
    for r in all {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => return Some(format!("cannot read a reference: {e}")),
        };
        let name = r.name().as_bstr().to_string();
        let readable = r
            .peel_to_id()
            .map_err(|e| crate::error::chain_text(&e))
            .and_then(|id| {
                let object = id.object().map_err(|e| crate::error::chain_text(&e))?;
                if object.kind == gix::object::Kind::Commit {
                    object
                        .into_commit()
                        .tree()
                        .map(|_| ())
                        .map_err(|e| crate::error::chain_text(&e))
                } else {
                    Ok(())
                }
            });
        if let Err(e) = readable {
            return Some(format!("reference {name}: {e}"));
        }
    }
    None
}

/// Deletes the cache repository at `dir` (it is made anew on next use).
pub(crate) fn remove(dir: &Path) -> Result<(), CacheError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CacheError::Io {
            path: dir.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Options that keep gix away from the machine's git configuration and
/// environment: only the cache repository's own config is read, and no
/// `GIT_*`, `SSL_*`, proxy or home-directory setting applies.
pub(crate) fn open_options() -> gix::open::Options {
    gix::open::Options::isolated()
}

/// Opens the bare cache repository at `dir`, creating it on first use.
///
/// A new repository is initialised in a temporary sibling directory and
/// renamed into place, so a crash never leaves a half-made cache; a cache
/// that no longer opens is thrown away and made anew (it only holds what
/// can be fetched again).
///
/// Every fetch adds one pack and nothing repacks them (gix has no `gc`), so
/// a cache that has gathered more than [`MAX_PACKS`] packs is also made anew:
/// with depth-1 fetches, starting over costs about one checkout's worth of
/// objects, while thousands of packs would slow every object lookup. So is
/// one with a pack whose index is missing or the other way round (see
/// [`damage`] for the damage that only shows when objects are read).
pub(crate) fn open_or_init(dir: &Path) -> Result<gix::Repository, CacheError> {
    if dir.exists() {
        let packs = pack_count(dir);
        let unpaired = unpaired_packs(dir);
        let reason = if packs > MAX_PACKS {
            format!("it holds {packs} packs")
        } else if let Some(first) = unpaired.first() {
            format!("it is damaged: {first}")
        } else {
            match gix::open_opts(dir, open_options()) {
                Ok(repo) => return Ok(repo),
                Err(e) => format!("it does not open: {}", crate::error::chain_text(&e)),
            }
        };
        tracing::info!(cache = %dir.display(), %reason, "recreating git cache");
        std::fs::remove_dir_all(dir).map_err(|source| CacheError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    let io = |source| CacheError::Io {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(parent).map_err(io)?;
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("cache"),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io)?;
    }
    let git = |e: gix::Error| CacheError::Git {
        path: dir.to_owned(),
        message: crate::error::chain_text(&e),
    };
    gix::ThreadSafeRepository::init_opts(
        &tmp,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        open_options(),
    )
    .map_err(git)?;
    std::fs::rename(&tmp, dir).map_err(io)?;
    gix::open_opts(dir, open_options()).map_err(git)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dirs_differ_by_url_and_identity_but_never_show_them() {
        let s = Path::new("/state");
        let a = dir(s, "https://h/r.git", "user=a");
        let b = dir(s, "https://h/r.git", "user=b");
        let c = dir(s, "https://h/other.git", "user=a");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, dir(s, "https://h/r.git", "user=a"));
        let name = a.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(name.len(), 16 + ".git".len(), "{name}");
        assert!(a.starts_with("/state/git"));
    }

    #[test]
    fn a_cache_is_created_once_and_reopened() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("git").join("x.git");
        let repo = open_or_init(&d).expect("init");
        assert!(repo.is_bare());
        let again = open_or_init(&d).expect("open");
        assert_eq!(again.git_dir(), repo.git_dir());
        // Only the cache itself is left behind, no temporary directory.
        let entries: Vec<_> = std::fs::read_dir(t.path().join("git"))
            .expect("read")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(entries, vec![std::ffi::OsString::from("x.git")]);
    }

    #[test]
    fn a_cache_with_a_pack_missing_its_index_is_made_anew() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("x.git");
        let repo = open_or_init(&d).expect("init");
        assert_eq!(damage(&repo), None);
        let pack_dir = d.join("objects").join("pack");
        std::fs::write(pack_dir.join("pack-1.pack"), "").expect("write");
        assert_eq!(
            damage(&repo).as_deref(),
            Some("pack-1.pack has no pack-1.idx")
        );
        open_or_init(&d).expect("reopen");
        assert!(!pack_dir.join("pack-1.pack").exists());
    }

    #[test]
    fn a_cache_with_too_many_packs_is_made_anew() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("x.git");
        open_or_init(&d).expect("init");
        let pack_dir = d.join("objects").join("pack");
        for i in 0..=MAX_PACKS {
            std::fs::write(pack_dir.join(format!("pack-{i}.pack")), "").expect("write");
        }
        open_or_init(&d).expect("reopen");
        assert_eq!(pack_count(&d), 0);
    }
}
