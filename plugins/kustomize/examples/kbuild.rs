//! `kbuild ROOT [PATH]`: builds PATH (default `.`) under ROOT and prints what
//! `kubectl kustomize ROOT/PATH` would. Used by bench/kustomize.sh.
fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let path = args.next().unwrap_or_else(|| ".".into());
    let opts = weir_plugin_kustomize::Options::default();
    match weir_plugin_kustomize::build(std::path::Path::new(&root), &path, &opts) {
        Ok(r) => print!("{}", weir_plugin_kustomize::to_yaml(&r)),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
