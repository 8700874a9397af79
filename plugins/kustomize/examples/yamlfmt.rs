//! Reads YAML documents on stdin and prints them as kubectl kustomize would.
use std::io::Read;
fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).expect("stdin");
    let docs = weir_plugin_kustomize::yaml::parse(&s).expect("yaml");
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        weir_plugin_kustomize::yaml::emit(d, &mut out);
    }
    print!("{out}");
}
