//! Renders a chart as `helm template --include-crds` prints it:
//!
//!     cargo run --example render -- CHART_DIR_OR_TGZ [VALUES.yaml] [RELEASE] [NAMESPACE]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(chart) = args.first() else {
        return Err("usage: render CHART [VALUES.yaml] [RELEASE] [NAMESPACE]".into());
    };
    let mut opts = weir_plugin_helm::Options::default();
    if let Some(v) = args.get(1)
        && let serde_json::Value::Object(m) =
            weir_plugin_helm::yaml::parse_json(&std::fs::read_to_string(v)?)?
    {
        opts.values = m;
    }
    if let Some(r) = args.get(2) {
        opts.release_name = r.clone();
    }
    if let Some(n) = args.get(3) {
        opts.namespace = n.clone();
    }
    let rendered = weir_plugin_helm::render_chart(std::path::Path::new(chart), &opts)?;
    print!("{}", rendered.text());
    Ok(())
}
