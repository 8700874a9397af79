//! End-to-end renderer choice: a sync whose path holds a
//! `kustomization.yaml` is built with the `kustomize` plugin by default, as
//! Flux builds every Kustomization, with the same output as `kubectl
//! kustomize`; other paths are read as plain manifests.

use serde_json::Value;
use weir_e2e::{TestRepo, Weir, get_object, kubectl, unique, yaml_to_json};

fn config(name: &str, repo: &TestRepo) -> String {
    format!(
        "version = 1\n{}\n[[sync]]\nname = \"{name}\"\nsource = \"{name}\"\npath = \"./deploy\"\nprune = true\n",
        repo.git_toml(name)
    )
}

fn names(objects: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    n.sort();
    n
}

#[test]
fn a_path_with_a_kustomization_is_built_with_kustomize_by_default() {
    let ns = unique("e2e-kz");
    let name = unique("kz");
    let repo = TestRepo::new("kz");
    let files = [
        (
            "deploy/kustomization.yaml".to_owned(),
            format!(
                "namespace: {ns}\nnamePrefix: k-\nresources:\n  - ns.yaml\n  - cm.yaml\nconfigMapGenerator:\n  - name: gen\n    literals:\n      - color=blue\ncommonLabels:\n  team: shop\n"
            ),
        ),
        (
            "deploy/ns.yaml".to_owned(),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        ),
        (
            "deploy/cm.yaml".to_owned(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  value: one\n"
                .to_owned(),
        ),
    ];
    let commit: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_str())))
        .collect();
    repo.commit(&commit, "kustomize");

    // The oracle: kubectl kustomize over the same files.
    let dir = tempfile::tempdir().expect("tmp");
    for (p, c) in &files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, c).expect("write");
    }
    let out = kubectl(&[
        "kustomize",
        dir.path().join("deploy").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let want = yaml_to_json(&out.stdout);

    let weir = Weir::new(&config(&name, &repo));
    let built = weir.run(&["build", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let got: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    assert_eq!(names(&got), names(&want), "weir build vs kubectl kustomize");

    // `weir build --dir` picks the renderer the same way: kustomize for the
    // overlay, plain for a directory of manifests.
    let root = dir.path().to_str().expect("utf-8");
    let built = weir.run(&["build", "--dir", root, "--path", "deploy", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let got: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    assert_eq!(
        names(&got),
        names(&want),
        "weir build --dir vs kubectl kustomize"
    );
    std::fs::remove_file(dir.path().join("deploy/kustomization.yaml")).expect("rm");
    let built = weir.run(&["build", "--dir", root, "--path", "deploy", "-o", "json"]);
    assert_eq!(built.code, 0, "{built:?}");
    let got: Vec<Value> = serde_json::from_str(&built.stdout).expect("build JSON");
    assert_eq!(
        names(&got),
        vec!["ConfigMap//app".to_owned(), format!("Namespace//{ns}")],
        "plain manifests without a kustomization"
    );

    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 0, "{out:?}");
    let app = get_object("configmap", Some(&ns), "k-app").expect("k-app applied");
    assert_eq!(app["metadata"]["labels"]["team"], "shop");
    let generated = want
        .iter()
        .find(|o| {
            o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("k-gen-"))
        })
        .and_then(|o| o["metadata"]["name"].as_str())
        .expect("generated name");
    let cm = get_object("configmap", Some(&ns), generated).expect("generated ConfigMap");
    assert_eq!(cm["data"]["color"], "blue");

    // A broken kustomization fails the build naming the plugin and the
    // file; what was applied stays.
    repo.commit(
        &[(
            "deploy/kustomization.yaml",
            Some("resources:\n  - missing.yaml\n"),
        )],
        "broken",
    );
    let out = weir.run(&["reconcile"]);
    assert_eq!(out.code, 1, "{out:?}");
    let st = &weir.statuses()[0];
    assert_eq!(st["reason"], "BuildFailed", "{st}");
    let msg = st["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("kustomize") && msg.contains("missing.yaml"),
        "{msg}"
    );
    assert!(get_object("configmap", Some(&ns), "k-app").is_some());
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"]);
}
