//! Embeds the built-in plugins: every `*.wasm` in the directory named by
//! `WEIR_BUILTIN_PLUGINS` at build time (scripts/test.sh, quickstart.sh and
//! .ci/run point it at the plugins that scripts/plugins.sh built). Without
//! it, weir has no built-ins and finds every plugin in its plugins
//! directory.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=WEIR_BUILTIN_PLUGINS");
    let mut code = String::from(
        "/// The built-in plugins: name and component bytes.\npub static BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    if let Some(dir) = std::env::var_os("WEIR_BUILTIN_PLUGINS").map(PathBuf::from) {
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect(),
            Err(e) => {
                println!(
                    "cargo:warning=WEIR_BUILTIN_PLUGINS={}: {e}; building without built-in plugins",
                    dir.display()
                );
                Vec::new()
            }
        };
        files.sort();
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(
                code,
                "    ({name:?}, include_bytes!({:?})),",
                f.display().to_string()
            );
        }
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("builtin.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
