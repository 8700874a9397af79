//! Reads YAML documents on stdin and prints them as kubectl kustomize would
//! print them as resources (a debugging aid for the writer).
use std::io::Read;

fn main() {
    let mut s = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut s) {
        eprintln!("error: stdin: {e}");
        std::process::exit(1);
    }
    let docs = match weir_plugin_kustomize::yaml::parse(&s) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        weir_plugin_kustomize::yaml::emit(d, &mut out);
    }
    print!("{out}");
}
