//! `kbuild DIR`: builds DIR (as its own root) and prints what kubectl kustomize would.
fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let opts = weir_plugin_kustomize::Options::default();
    match weir_plugin_kustomize::build(std::path::Path::new(&dir), "", &opts) {
        Ok(r) => print!("{}", weir_plugin_kustomize::to_yaml(&r)),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
