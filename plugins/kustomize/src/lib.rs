//! weir's kustomize renderer.
pub mod yaml;
