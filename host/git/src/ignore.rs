//! Which files of a commit stay out of its artifact: Flux's `spec.ignore`
//! and `.sourceignore` files, in `.gitignore` syntax, with Flux's defaults.
//!
//! Behaviour follows Flux's source-controller (GitRepository docs, "Ignore"
//! and "Excluding files"; fluxcd/pkg `sourceignore`):
//!
//! - `.git/`, `.gitignore`, `.gitmodules` and `.gitattributes` are always
//!   excluded.
//! - When there are no patterns of the user's own, the default exclusions
//!   apply as well: images and archives (`*.jpg`, `*.jpeg`, `*.gif`, `*.png`,
//!   `*.wmv`, `*.flv`, `*.tar.gz`, `*.zip`), CI configuration (`.github/`,
//!   `.circleci/`, `.travis.yml`, `.gitlab-ci.yml`, `appveyor.yml`,
//!   `.drone.yml`, `cloudbuild.yaml`, `codeship-services.yml`,
//!   `codeship-steps.yml`) and `**/.goreleaser.yml`, `**/.sops.yaml`,
//!   `**/.flux.yaml`.
//! - The user's patterns are those of every `.sourceignore` file in the tree
//!   (each scoped to its own directory; the root's first, then
//!   subdirectories in name order) followed by `spec.ignore` (scoped to the
//!   root). Any of them replaces the defaults above, so `ignore` overrides
//!   the default exclusion list, as Flux documents.
//! - A later pattern wins over an earlier one; `!pattern` re-includes.
//!
//! Patterns are matched the way go-git's `gitignore` package (which Flux
//! uses) matches them, which differs from git in two ways users rely on: a
//! pattern without a slash matches any path component (so `docs` excludes
//! everything under any `docs` directory), and a negation can re-include
//! files under an excluded directory (`/*` then `!/deploy/` keeps exactly
//! `deploy/`). Components match like Go's `filepath.Match`: `*`, `?`,
//! `[a-z]`, `[^a-z]`, `\` escapes; a malformed pattern matches nothing.

use std::path::Path;

/// The name of the per-directory ignore file.
pub(crate) const IGNORE_FILE: &str = ".sourceignore";

const EXCLUDE_VCS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

const EXCLUDE_DEFAULT: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// One pattern line, scoped to the directory (`domain`) it was read in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    domain: Vec<String>,
    parts: Vec<String>,
    negated: bool,
    dir_only: bool,
    /// Has a `/` (anchored to the domain, matched part by part).
    anchored: bool,
}

impl Pattern {
    fn parse(line: &str, domain: &[String]) -> Self {
        let mut p = line;
        let negated = p.starts_with('!');
        if negated {
            p = &p[1..];
        }
        if !p.ends_with("\\ ") {
            p = p.trim_end_matches(' ');
        }
        let dir_only = p.ends_with('/');
        if dir_only {
            p = &p[..p.len() - 1];
        }
        Pattern {
            domain: domain.to_vec(),
            parts: p.split('/').map(str::to_owned).collect(),
            negated,
            dir_only,
            anchored: p.contains('/'),
        }
    }

    /// `Some(true)` to exclude, `Some(false)` to include, `None` when the
    /// pattern does not speak about `path`.
    fn decide(&self, path: &[&str], is_dir: bool) -> Option<bool> {
        if path.len() <= self.domain.len() || self.domain.iter().zip(path).any(|(d, p)| d != p) {
            return None;
        }
        let path = &path[self.domain.len()..];
        let hit = if self.anchored {
            self.glob_match(path, is_dir)
        } else {
            self.name_match(path, is_dir)
        };
        hit.then_some(!self.negated)
    }

    fn name_match(&self, path: &[&str], is_dir: bool) -> bool {
        let Some(first) = self.parts.first() else {
            return false;
        };
        for (i, name) in path.iter().enumerate() {
            match component_match(first, name) {
                None => return false,
                Some(false) => continue,
                Some(true) => return !(self.dir_only && !is_dir && i == path.len() - 1),
            }
        }
        false
    }

    fn glob_match(&self, mut path: &[&str], is_dir: bool) -> bool {
        let mut matched = false;
        let mut traverse = false;
        for (i, part) in self.parts.iter().enumerate() {
            if part.is_empty() {
                traverse = false;
                continue;
            }
            if part == "**" {
                if i == self.parts.len() - 1 {
                    break;
                }
                traverse = true;
                continue;
            }
            if part.contains("**") {
                return false;
            }
            let Some((head, rest)) = path.split_first() else {
                return false;
            };
            if traverse {
                traverse = false;
                while let Some((head, rest)) = path.split_first() {
                    path = rest;
                    match component_match(part, head) {
                        None => return false,
                        Some(true) => {
                            matched = true;
                            break;
                        }
                        Some(false) if path.is_empty() => matched = false,
                        Some(false) => {}
                    }
                }
            } else {
                if component_match(part, head) != Some(true) {
                    return false;
                }
                matched = true;
                path = rest;
            }
        }
        // A directory-only pattern that used up the whole path of a file.
        matched && !(self.dir_only && !is_dir && path.is_empty())
    }
}

/// Go's `filepath.Match` for one path component: `Some(matched)`, or `None`
/// for a malformed pattern.
fn component_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob(&p, &n)
}

fn glob(p: &[char], n: &[char]) -> Option<bool> {
    let Some((&c, rest)) = p.split_first() else {
        return Some(n.is_empty());
    };
    match c {
        '*' => {
            // Check the rest of the pattern is well formed even when the
            // name is used up, as Go does.
            for skip in 0..=n.len() {
                if glob(rest, &n[skip..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        '?' => match n.split_first() {
            Some((_, nr)) => glob(rest, nr),
            None => check_rest(rest),
        },
        '[' => {
            let (class_matches, after) = class(rest, n.first().copied())?;
            match n.split_first() {
                Some((_, nr)) if class_matches => glob(after, nr),
                _ => check_rest(after).map(|_| false),
            }
        }
        '\\' => {
            let (&lit, after) = rest.split_first()?;
            match n.split_first() {
                Some((&h, nr)) if h == lit => glob(after, nr),
                _ => check_rest(after).map(|_| false),
            }
        }
        lit => match n.split_first() {
            Some((&h, nr)) if h == lit => glob(rest, nr),
            _ => check_rest(rest).map(|_| false),
        },
    }
}

/// Whether the rest of a pattern is well formed (`Some(false)`, as nothing
/// is left to match) or not (`None`).
fn check_rest(p: &[char]) -> Option<bool> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return None;
                }
                i += 2;
            }
            '[' => {
                let (_, after) = class(&p[i + 1..], None)?;
                i = p.len() - after.len();
            }
            _ => i += 1,
        }
    }
    Some(false)
}

/// A character class after its `[`: whether `c` is in it, and the pattern
/// after its `]`. `None` when malformed.
fn class(p: &[char], c: Option<char>) -> Option<(bool, &[char])> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &ch = p.get(i)?;
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            ch
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
            i += 1;
            let ch = *p.get(i)?;
            hi = if ch == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                ch
            };
            i += 1;
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            hit = true;
        }
    }
    Some((hit != negated, &p[i..]))
}

/// The patterns that decide what an artifact leaves out.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// The matcher for an exported tree at `root`: the `.sourceignore`
    /// files found in it, then `spec_ignore` (the source's `ignore`).
    ///
    /// # Errors
    /// When a directory or an ignore file cannot be read.
    pub(crate) fn load(root: &Path, spec_ignore: Option<&str>) -> std::io::Result<Self> {
        let mut user = Vec::new();
        load_dir(root, &mut Vec::new(), &mut user)?;
        if let Some(text) = spec_ignore {
            user.extend(read_patterns(text, &[]));
        }
        Ok(Self::with_user_patterns(user))
    }

    fn with_user_patterns(user: Vec<Pattern>) -> Self {
        let mut patterns: Vec<Pattern> =
            EXCLUDE_VCS.iter().map(|p| Pattern::parse(p, &[])).collect();
        if user.is_empty() {
            patterns.extend(EXCLUDE_DEFAULT.iter().map(|p| Pattern::parse(p, &[])));
        }
        patterns.extend(user);
        Matcher { patterns }
    }

    /// Whether the file (or symlink) at `path` (relative, `/`-separated
    /// components) is left out.
    pub(crate) fn excludes(&self, path: &[&str]) -> bool {
        self.patterns
            .iter()
            .rev()
            .find_map(|p| p.decide(path, false))
            .unwrap_or(false)
    }
}

fn read_patterns(text: &str, domain: &[String]) -> Vec<Pattern> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| Pattern::parse(l, domain))
        .collect()
}

fn load_dir(dir: &Path, domain: &mut Vec<String>, out: &mut Vec<Pattern>) -> std::io::Result<()> {
    let file = dir.join(IGNORE_FILE);
    if std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
        let text = std::fs::read(&file)?;
        out.extend(read_patterns(&String::from_utf8_lossy(&text), domain));
    }
    let mut subdirs: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Some(name) = entry.file_name().to_str()
            && name != ".git"
        {
            subdirs.push(name.to_owned());
        }
    }
    subdirs.sort();
    for name in subdirs {
        domain.push(name.clone());
        load_dir(&dir.join(&name), domain, out)?;
        domain.pop();
    }
    Ok(())
}

/// Deletes every file and symlink under `root` that `matcher` excludes, and
/// the directories that this leaves empty. Returns how many were deleted.
///
/// # Errors
/// When a directory cannot be listed or an entry cannot be deleted.
pub(crate) fn apply(root: &Path, matcher: &Matcher) -> std::io::Result<usize> {
    remove_where(root, &|path| matcher.excludes(path))
}

/// Deletes every file and symlink under `root` whose relative path (as
/// components) `excluded` accepts, and the directories this leaves empty.
/// Returns how many were deleted.
///
/// # Errors
/// When a directory cannot be listed or an entry cannot be deleted.
pub(crate) fn remove_where(
    root: &Path,
    excluded: &dyn Fn(&[&str]) -> bool,
) -> std::io::Result<usize> {
    fn walk(
        dir: &Path,
        rel: &mut Vec<String>,
        matcher: &dyn Fn(&[&str]) -> bool,
        removed: &mut usize,
    ) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            rel.push(name);
            if entry.file_type()?.is_dir() {
                let before = *removed;
                walk(&path, rel, matcher, removed)?;
                if *removed > before && std::fs::read_dir(&path)?.next().is_none() {
                    std::fs::remove_dir(&path)?;
                }
            } else {
                let parts: Vec<&str> = rel.iter().map(String::as_str).collect();
                if matcher(&parts) {
                    std::fs::remove_file(&path)?;
                    *removed += 1;
                }
            }
            rel.pop();
        }
        Ok(())
    }
    let mut removed = 0;
    walk(root, &mut Vec::new(), excluded, &mut removed)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(user: &[(&str, &[&str])]) -> Matcher {
        let patterns = user
            .iter()
            .map(|(line, domain)| {
                let d: Vec<String> = domain.iter().map(|s| (*s).to_owned()).collect();
                Pattern::parse(line, &d)
            })
            .collect();
        Matcher::with_user_patterns(patterns)
    }

    fn excluded(m: &Matcher, path: &str) -> bool {
        m.excludes(&path.split('/').collect::<Vec<_>>())
    }

    #[test]
    fn defaults_apply_only_without_user_patterns() {
        let m = matcher(&[]);
        for p in [
            ".gitignore",
            "logo.png",
            "a/b/pic.JPG.jpg",
            "dist/x.tar.gz",
            ".github/workflows/ci.yaml",
            "apps/.sops.yaml",
            ".sops.yaml",
            "x/y/.flux.yaml",
            ".git/config",
        ] {
            assert!(excluded(&m, p), "{p} should be excluded by default");
        }
        for p in ["deploy/app.yaml", "README.md", "github/x", "a.pngx"] {
            assert!(!excluded(&m, p), "{p} should be kept by default");
        }
        // One pattern of the user's own replaces the default list, but never
        // the VCS files.
        let m = matcher(&[("*.md", &[])]);
        assert!(excluded(&m, "README.md"));
        assert!(!excluded(&m, "logo.png"));
        assert!(!excluded(&m, ".github/workflows/ci.yaml"));
        assert!(excluded(&m, ".gitmodules"));
    }

    #[test]
    fn names_without_a_slash_match_any_component_and_anchored_ones_the_start() {
        let m = matcher(&[("docs", &[]), ("/tests/", &[]), ("build/out", &[])]);
        assert!(excluded(&m, "docs"));
        assert!(excluded(&m, "docs/a.md"));
        assert!(excluded(&m, "a/docs/b.md"));
        assert!(excluded(&m, "tests/t.yaml"));
        assert!(
            !excluded(&m, "tests"),
            "a file named tests is not a directory"
        );
        assert!(!excluded(&m, "a/tests/t.yaml"), "anchored to the root");
        assert!(excluded(&m, "build/out/x"));
        assert!(!excluded(&m, "a/build/out/x"));
    }

    #[test]
    fn later_patterns_win_and_negations_reinclude() {
        let m = matcher(&[("/*", &[]), ("!/deploy/", &[]), ("deploy/secret.yaml", &[])]);
        assert!(excluded(&m, "README.md"));
        assert!(excluded(&m, "src/main.rs"));
        assert!(!excluded(&m, "deploy/app.yaml"));
        assert!(!excluded(&m, "deploy/sub/x.yaml"));
        assert!(excluded(&m, "deploy/secret.yaml"));
    }

    #[test]
    fn double_stars_and_character_classes() {
        let m = matcher(&[
            ("**/tmp", &[]),
            ("a/**", &[]),
            ("log[0-9].txt", &[]),
            ("[^x]y", &[]),
        ]);
        assert!(excluded(&m, "tmp"));
        assert!(excluded(&m, "x/y/tmp/z"));
        assert!(excluded(&m, "a/b/c"));
        assert!(excluded(&m, "log7.txt"));
        assert!(!excluded(&m, "logx.txt"));
        assert!(excluded(&m, "zy"));
        assert!(!excluded(&m, "xy"));
        // Malformed: matches nothing.
        let m = matcher(&[("[a", &[])]);
        assert!(!excluded(&m, "[a"));
        assert!(!excluded(&m, "a"));
    }

    #[test]
    fn sourceignore_patterns_are_scoped_to_their_directory() {
        let m = matcher(&[("*.txt", &["sub"])]);
        assert!(excluded(&m, "sub/a.txt"));
        assert!(excluded(&m, "sub/deeper/a.txt"));
        assert!(!excluded(&m, "a.txt"));
        assert!(!excluded(&m, "other/a.txt"));
    }

    #[test]
    fn comments_blank_lines_and_trailing_spaces() {
        let ps = read_patterns("# comment\n\n  \n*.bak   \nkeep\\ \r\n", &[]);
        let m = Matcher::with_user_patterns(ps);
        assert!(excluded(&m, "x.bak"));
        assert!(excluded(&m, "keep "), "an escaped trailing space stays");
        assert!(!excluded(&m, "# comment"));
    }

    #[test]
    fn files_are_loaded_from_the_tree_and_applied() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path();
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        write(".sourceignore", "*.md\n");
        write("a/.sourceignore", "local.yaml\n");
        write("a/local.yaml", "x");
        write("local.yaml", "x");
        write("README.md", "x");
        write("docs/only.md", "x");
        write("logo.png", "x");
        write("app.yaml", "x");
        let m = Matcher::load(root, Some("/app.yaml\n!/README.md")).expect("load");
        let removed = apply(root, &m).expect("apply");
        assert_eq!(removed, 3);
        assert!(!root.join("a/local.yaml").exists());
        assert!(root.join("local.yaml").exists());
        assert!(root.join("README.md").exists(), "re-included by ignore");
        assert!(!root.join("docs").exists(), "emptied directory removed");
        assert!(root.join("logo.png").exists(), "defaults replaced");
        assert!(!root.join("app.yaml").exists());
        assert!(root.join(".sourceignore").exists());
    }
}
