//! `recurseSubmodules` (Flux's `spec.recurseSubmodules`): what a commit's
//! `.gitmodules` says, and the rules for where a submodule is fetched from
//! and with which credentials. The fetching itself is `GitSource`'s (see
//! `GitSource::write_submodule` in `lib.rs`), since gix does not recurse.
//!
//! - A submodule's URL comes from the `.gitmodules` of the commit being
//!   exported (never from a checkout's `.git/config`); a URL starting with
//!   `./` or `../` is relative to the URL of the repository that holds it,
//!   as git resolves it against the superproject's remote.
//! - Credentials of the parent apply only to a submodule with the same
//!   scheme, host and port; trust settings (`caFile`, `knownHostsFile`) and
//!   the proxy apply to all.
//! - `file://` and local paths are refused unless the parent itself is a
//!   local repository (git refuses them by default too, since a repository
//!   must not make its reader copy files from the reader's machine).

/// One `[submodule "<name>"]` section of `.gitmodules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Module {
    /// The section's name.
    pub(crate) name: String,
    /// `path`: where in the tree the submodule lives.
    pub(crate) path: String,
    /// `url`, as written.
    pub(crate) url: String,
}

/// How deep submodules of submodules are followed, as go-git's (and so
/// Flux's) default recursion depth.
pub(crate) const MAX_DEPTH: usize = 10;

/// The submodules declared in the `.gitmodules` file `text`; sections
/// without a `path` or `url` are skipped (git ignores them too).
///
/// # Errors
/// When the file is not valid git-config syntax.
pub(crate) fn parse(text: &[u8]) -> Result<Vec<Module>, String> {
    let file = gix::config::File::from_bytes_no_includes(
        text,
        gix::config::file::Metadata::api(),
        Default::default(),
    )
    .map_err(|e| format!(".gitmodules is not valid: {e}"))?;
    let Some(sections) = file.sections_by_name("submodule") else {
        return Ok(Vec::new());
    };
    Ok(sections
        .filter_map(|s| {
            let name = s.header().subsection_name()?.to_string();
            let path = s.value("path")?.to_string();
            let url = s.value("url")?.to_string();
            let path = path
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect::<Vec<_>>()
                .join("/");
            Some(Module { name, path, url })
        })
        .collect())
}

/// `url` resolved against `parent`, the URL of the repository whose
/// `.gitmodules` names it: `../lib.git` next to `https://h/org/app.git`
/// is `https://h/org/lib.git`, `./sub.git` is `https://h/org/app.git/sub.git`.
/// Absolute URLs are returned as they are.
///
/// # Errors
/// When a relative URL climbs above the parent URL's host.
pub(crate) fn resolve(parent: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return Ok(url.to_owned());
    }
    let base = parent.trim_end_matches('/');
    let (prefix, path) = match base.find("://") {
        Some(i) => {
            let rest = &base[i + 3..];
            let authority_end = rest.find('/').map_or(base.len(), |j| i + 3 + j);
            (&base[..authority_end], &base[authority_end..])
        }
        None => ("", base),
    };
    let mut parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut rest = url;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            if parts.pop().is_none() {
                return Err(format!(
                    "relative submodule url {url:?} climbs above {parent}"
                ));
            }
            rest = r;
        } else {
            break;
        }
    }
    let mut out = String::from(prefix);
    for p in parts
        .iter()
        .copied()
        .chain(rest.split('/').filter(|c| !c.is_empty()))
    {
        out.push('/');
        out.push_str(p);
    }
    Ok(out)
}

/// Whether `a` and `b` have the same scheme, host and port, so that the
/// credentials for one may be sent to the other.
pub(crate) fn same_origin(a: &gix::Url, b: &gix::Url) -> bool {
    a.scheme == b.scheme && a.host() == b.host() && a.port_or_default() == b.port_or_default()
}

/// Whether a submodule at `url` may be fetched for a parent with scheme
/// `parent`: network schemes always, local files only for a local parent.
pub(crate) fn scheme_allowed(parent: &gix::url::Scheme, url: &gix::url::Scheme) -> bool {
    use gix::url::Scheme;
    match url {
        Scheme::Http | Scheme::Https | Scheme::Ssh | Scheme::Git => true,
        Scheme::File => *parent == Scheme::File,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitmodules_sections_give_name_path_and_url() {
        let text = b"[submodule \"lib\"]\n\tpath = vendor/lib/\n\turl = ../lib.git\n[submodule \"nourl\"]\n\tpath = x\n[core]\n\tbare = false\n";
        assert_eq!(
            parse(text).expect("parse"),
            vec![Module {
                name: "lib".into(),
                path: "vendor/lib".into(),
                url: "../lib.git".into()
            }]
        );
        assert_eq!(parse(b"").expect("empty"), Vec::new());
        assert!(parse(b"[submodule \"x\"\n").is_err());
    }

    #[test]
    fn relative_urls_resolve_against_the_parent_url_as_git_does() {
        let p = "https://h:8443/org/app.git";
        assert_eq!(
            resolve(p, "../lib.git").expect("up"),
            "https://h:8443/org/lib.git"
        );
        assert_eq!(
            resolve(p, "./sub.git").expect("here"),
            "https://h:8443/org/app.git/sub.git"
        );
        assert_eq!(
            resolve(&format!("{p}/"), "../../x/y.git").expect("two"),
            "https://h:8443/x/y.git"
        );
        assert_eq!(
            resolve("ssh://git@h:22/srv/git/app.git", "../lib.git").expect("ssh"),
            "ssh://git@h:22/srv/git/lib.git"
        );
        assert_eq!(
            resolve(p, "https://other/x.git").expect("absolute"),
            "https://other/x.git"
        );
        assert!(resolve(p, "../../../x.git").is_err(), "above the host");
    }

    #[test]
    fn credentials_follow_scheme_host_and_port_only() {
        let u = |s: &str| gix::url::parse(s).expect("url");
        assert!(same_origin(
            &u("https://h/a.git"),
            &u("https://h:443/b.git")
        ));
        assert!(!same_origin(&u("https://h/a.git"), &u("http://h/a.git")));
        assert!(!same_origin(
            &u("https://h/a.git"),
            &u("https://h:8443/a.git")
        ));
        assert!(!same_origin(
            &u("https://h/a.git"),
            &u("https://evil/a.git")
        ));
        use gix::url::Scheme;
        assert!(scheme_allowed(&Scheme::Https, &Scheme::Ssh));
        assert!(!scheme_allowed(&Scheme::Https, &Scheme::File));
        assert!(scheme_allowed(&Scheme::File, &Scheme::File));
    }
}
