//! Which revision a source follows: Flux's `ref` precedence, the refspec that
//! fetches it, and the revision string Flux writes for it.
//!
//! See Flux's `GitRepository` reference docs ("Reference" section): `commit`
//! over `name` over `semver` over `tag` over `branch`, default branch
//! `master`.

use gix::ObjectId;
use weir_config::GitRef;

/// The revision a source follows, after precedence has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// The tip of a branch (`ref.branch`, or `master` by default).
    Branch(String),
    /// A tag, lightweight or annotated (peeled to its commit).
    Tag(String),
    /// A full reference name such as `refs/pull/1/head` (`ref.name`).
    Name(String),
    /// The highest tag whose version is in a range (`ref.semver`); resolved
    /// to a [`Wanted::Tag`] on each fetch.
    Semver {
        /// The parsed range.
        range: crate::semver_range::Range,
        /// The range as written, for messages.
        text: String,
    },
    /// A pinned commit, optionally looked up on a branch (Flux fetches the
    /// branch and checks the commit out; the revision then names the branch).
    Commit {
        /// The commit.
        id: ObjectId,
        /// `ref.branch` given alongside `ref.commit`.
        branch: Option<String>,
    },
}

impl Wanted {
    /// Applies Flux's precedence to a configured `ref` and checks the names.
    ///
    /// # Errors
    /// A message naming the offending field (semver is not supported).
    pub(crate) fn from_config(r: &GitRef) -> Result<Self, String> {
        if let Some(commit) = &r.commit {
            let id = ObjectId::from_hex(commit.as_bytes())
                .map_err(|_| format!("ref.commit {commit:?} is not a full 40-hex-digit SHA-1"))?;
            let branch = r.branch.clone();
            if let Some(b) = &branch {
                check_ref_name(&format!("refs/heads/{b}"), "ref.branch", b)?;
            }
            return Ok(Wanted::Commit { id, branch });
        }
        if let Some(name) = &r.name {
            if name != "HEAD" && !name.starts_with("refs/") {
                return Err(format!(
                    "ref.name {name:?} must be a full reference name such as refs/heads/main or refs/pull/1/head"
                ));
            }
            check_ref_name(name, "ref.name", name)?;
            return Ok(Wanted::Name(name.clone()));
        }
        if let Some(text) = &r.semver {
            let range =
                crate::semver_range::Range::parse(text).map_err(|e| format!("ref.semver: {e}"))?;
            return Ok(Wanted::Semver {
                range,
                text: text.clone(),
            });
        }
        if let Some(tag) = &r.tag {
            check_ref_name(&format!("refs/tags/{tag}"), "ref.tag", tag)?;
            return Ok(Wanted::Tag(tag.clone()));
        }
        let branch = r.branch.clone().unwrap_or_else(|| "master".to_owned());
        check_ref_name(&format!("refs/heads/{branch}"), "ref.branch", &branch)?;
        Ok(Wanted::Branch(branch))
    }

    /// The full name of the remote reference to list and fetch, if any (a
    /// commit pinned without a branch has none).
    pub(crate) fn remote_ref(&self) -> Option<String> {
        match self {
            Wanted::Branch(b)
            | Wanted::Commit {
                branch: Some(b), ..
            } => Some(format!("refs/heads/{b}")),
            Wanted::Tag(t) => Some(format!("refs/tags/{t}")),
            Wanted::Name(n) => Some(n.clone()),
            Wanted::Commit { branch: None, .. } | Wanted::Semver { .. } => None,
        }
    }

    /// How error messages name the reference: `branch "main"`, `tag "v1"`,
    /// `reference "refs/pull/1/head"`, `commit 0123…`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Wanted::Branch(b) => format!("branch {b:?}"),
            Wanted::Tag(t) => format!("tag {t:?}"),
            Wanted::Name(n) => format!("reference {n:?}"),
            Wanted::Semver { text, .. } => format!("semver range {text:?}"),
            Wanted::Commit { id, branch: None } => format!("commit {id}"),
            Wanted::Commit {
                id,
                branch: Some(b),
            } => format!("commit {id} on branch {b:?}"),
        }
    }

    /// The revision string exactly as Flux writes it for commit `id`:
    /// `main@sha1:<hex>`, `v1.2.3@sha1:<hex>`, `refs/pull/1/head@sha1:<hex>`,
    /// or `sha1:<hex>` for a commit pinned without a branch.
    pub(crate) fn revision(&self, id: &gix::oid) -> String {
        match self {
            Wanted::Branch(label)
            | Wanted::Tag(label)
            | Wanted::Name(label)
            | Wanted::Commit {
                branch: Some(label),
                ..
            } => format!("{label}@sha1:{id}"),
            Wanted::Commit { branch: None, .. } | Wanted::Semver { .. } => format!("sha1:{id}"),
        }
    }
}

fn check_ref_name(full: &str, field: &str, value: &str) -> Result<(), String> {
    gix::validate::reference::name(full.into())
        .map(|_| ())
        .map_err(|_| format!("{field} {value:?} is not a valid git reference name"))
}

/// The local reference in the cache repository that records where the
/// remote's `remote_ref` pointed when it was last fetched.
///
/// The remote name is escaped into a single path component under
/// `refs/weir/` (`%` → `%25`, `/` → `%2F`), so two remote names can never
/// collide as file and directory (`a` versus `a/b`), whatever refs the
/// sources sharing this cache follow over time.
pub(crate) fn tracking_ref(remote_ref: &str) -> String {
    let escaped = remote_ref.replace('%', "%25").replace('/', "%2F");
    format!("refs/weir/{escaped}")
}

/// The forced fetch refspec `+<remote_ref>:<tracking ref>`.
pub(crate) fn refspec(remote_ref: &str) -> String {
    format!("+{remote_ref}:{}", tracking_ref(remote_ref))
}

/// The refspec fetching one commit by id into `refs/weir/commits/<hex>`.
pub(crate) fn commit_refspec(id: &gix::oid) -> String {
    format!("+{id}:refs/weir/commits/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(r: GitRef) -> Result<Wanted, String> {
        Wanted::from_config(&r)
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn precedence_is_commit_then_name_then_tag_then_branch() {
        let all = GitRef {
            branch: Some("dev".into()),
            tag: Some("v1".into()),
            semver: Some(">=1".into()),
            name: Some("refs/pull/1/head".into()),
            commit: Some(SHA.into()),
        };
        let w = wanted(all.clone()).expect("commit");
        assert!(matches!(w, Wanted::Commit { branch: Some(ref b), .. } if b == "dev"));
        let w = wanted(GitRef {
            commit: None,
            ..all.clone()
        })
        .expect("name");
        assert_eq!(w, Wanted::Name("refs/pull/1/head".into()));
        let w = wanted(GitRef {
            tag: Some("v1".into()),
            branch: Some("dev".into()),
            ..GitRef::default()
        })
        .expect("tag");
        assert_eq!(w, Wanted::Tag("v1".into()));
        assert_eq!(
            wanted(GitRef::default()).expect("default"),
            Wanted::Branch("master".into())
        );
        // semver wins over tag and branch, and is checked when read.
        let w = wanted(GitRef {
            semver: Some("1.x".into()),
            tag: Some("v1".into()),
            ..GitRef::default()
        })
        .expect("semver");
        assert_eq!(w.describe(), "semver range \"1.x\"");
        let err = wanted(GitRef {
            semver: Some(">=1 <banana".into()),
            ..GitRef::default()
        })
        .expect_err("bad range");
        assert!(err.starts_with("ref.semver: "), "{err}");
    }

    #[test]
    fn revisions_are_written_as_flux_writes_them() {
        let id = ObjectId::from_hex(SHA.as_bytes()).expect("hex");
        assert_eq!(
            Wanted::Branch("main".into()).revision(&id),
            format!("main@sha1:{SHA}")
        );
        assert_eq!(
            Wanted::Tag("v1.2.3".into()).revision(&id),
            format!("v1.2.3@sha1:{SHA}")
        );
        assert_eq!(
            Wanted::Name("refs/pull/1/head".into()).revision(&id),
            format!("refs/pull/1/head@sha1:{SHA}")
        );
        assert_eq!(
            Wanted::Commit { id, branch: None }.revision(&id),
            format!("sha1:{SHA}")
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let err = wanted(GitRef {
            branch: Some("a..b".into()),
            ..GitRef::default()
        })
        .expect_err("bad branch");
        assert!(err.contains("ref.branch \"a..b\""), "{err}");
        let err = wanted(GitRef {
            name: Some("pull/1/head".into()),
            ..GitRef::default()
        })
        .expect_err("short name");
        assert!(err.contains("full reference name"), "{err}");
    }

    #[test]
    fn tracking_refs_never_nest() {
        assert_eq!(tracking_ref("refs/heads/a"), "refs/weir/refs%2Fheads%2Fa");
        assert_eq!(
            tracking_ref("refs/heads/a/b"),
            "refs/weir/refs%2Fheads%2Fa%2Fb"
        );
        assert_eq!(
            tracking_ref("refs/heads/100%"),
            "refs/weir/refs%2Fheads%2F100%25"
        );
        gix::validate::reference::name(tracking_ref("refs/heads/x/y").as_str().into())
            .expect("valid ref name");
    }
}
