//! `weir build` of a sync whose source includes another `[[git]]` source
//! (Flux's `spec.include`), against the real git servers: the included
//! files are rendered with the source's own, and a new commit of the
//! included source shows in the next build.

use serde_json::Value;
use weir_e2e::{TestRepo, Weir, git_server, var};

fn config(app: &TestRepo, lib: &TestRepo) -> String {
    let http = var(git_server(), "WEIR_GIT_HTTP_URL");
    format!(
        r#"version = 1

[[git]]
name = "app"
url = "{http}/anon/{app}"
ref = {{ branch = "main" }}
include = [{{ repository = {{ name = "lib" }}, fromPath = "manifests", toPath = "deploy/lib" }}]

[[git]]
name = "lib"
url = "{http}/anon/{lib}"
ref = {{ branch = "main" }}

[[sync]]
name = "app"
source = "app"
path = "deploy"
prune = true
renderer = "plain"
"#,
        app = app.rel,
        lib = lib.rel,
    )
}

/// `name=value` of every ConfigMap's `data.value`, sorted.
fn values(objects: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}={}",
                o["metadata"]["name"].as_str().unwrap_or_default(),
                o["data"]["value"].as_str().unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  value: {value}\n"
    )
}

#[test]
fn a_sync_renders_the_files_its_source_includes() {
    let app = TestRepo::new("e2e-include-app");
    let app_cm = configmap("app", "own");
    app.commit(&[("deploy/app.yaml", Some(&app_cm))], "app");
    let lib = TestRepo::new("e2e-include-lib");
    let lib_cm = configmap("lib", "one");
    lib.commit(
        &[
            ("manifests/lib.yaml", Some(&lib_cm)),
            ("other/skipped.yaml", Some(&configmap("skipped", "no"))),
        ],
        "lib",
    );

    let weir = Weir::new(&config(&app, &lib));
    let built = weir.run(&["build", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let got: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    assert_eq!(values(&got), ["app=own", "lib=one"]);

    let lib_cm = configmap("lib", "two");
    lib.commit(&[("manifests/lib.yaml", Some(&lib_cm))], "lib 2");
    let built = weir.run(&["build", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let got: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    assert_eq!(values(&got), ["app=own", "lib=two"]);
}

#[test]
fn an_include_cycle_is_refused_when_the_config_loads() {
    let app = TestRepo::new("e2e-include-cycle");
    app.commit(&[("deploy/app.yaml", Some(&configmap("app", "x")))], "app");
    let text = config(&app, &app).replace(
        "[[git]]\nname = \"lib\"\n",
        "[[git]]\nname = \"lib\"\ninclude = [{ repository = { name = \"app\" } }]\n",
    );
    let weir = Weir::new(&text);
    let out = weir.run(&["build", "-o", "json"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("git source \"app\": include cycle app -> lib -> app"),
        "{}",
        out.stderr
    );
}
