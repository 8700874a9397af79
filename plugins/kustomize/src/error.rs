//! What can go wrong while building a kustomization.

use std::path::PathBuf;

/// A build error. Messages name the kustomization file (relative to the
/// root) and the field, as in `kustomization.yaml: resources[3]: …`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory named by the input does not exist.
    #[error("{file}: {field}: file not found: {path}")]
    NotFound {
        /// The kustomization naming it.
        file: String,
        /// The field naming it (`resources[3]`).
        field: String,
        /// The missing path, relative to the root.
        path: String,
    },
    /// A path leaves the root directory.
    #[error("{file}: {field}: path {path:?} is outside the root {root:?}")]
    OutsideRoot {
        /// The kustomization naming it.
        file: String,
        /// The field naming it.
        field: String,
        /// The offending path as written.
        path: String,
        /// The root.
        root: PathBuf,
    },
    /// A directory has no kustomization file.
    #[error(
        "{dir}: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory"
    )]
    NoKustomization {
        /// The directory, relative to the root.
        dir: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file, relative to the root.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("{path}: {source}")]
    Yaml {
        /// The file, relative to the root.
        path: String,
        /// The cause.
        #[source]
        source: crate::yaml::ParseError,
    },
    /// A field of a kustomization (or of a resource) is invalid.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The file, relative to the root.
        file: String,
        /// The field (`patches[0].target`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Something the input asks for that this renderer does not do (yet).
    #[error("{file}: {field}: {message}")]
    Unsupported {
        /// The file, relative to the root.
        file: String,
        /// The field.
        field: String,
        /// What is not supported.
        message: String,
    },
}

impl Error {
    /// An [`Error::Invalid`].
    pub fn invalid(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            file: file.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// The file the error is about, relative to the root.
    pub fn file(&self) -> Option<&str> {
        match self {
            Error::NotFound { file, .. }
            | Error::OutsideRoot { file, .. }
            | Error::Invalid { file, .. }
            | Error::Unsupported { file, .. } => Some(file),
            Error::NoKustomization { dir } => Some(dir),
            Error::Io { path, .. } | Error::Yaml { path, .. } => Some(path),
        }
    }
}
