"""Renders corpus cases with the real Helm SDK, for the differential test.

    python oracle.py CASE_DIR...   → JSON {case name: {"text": ...} | {"error": ...}}

Each case directory holds `chart/` (the chart), optionally `values.yaml`
(user values) and `case.json` ({"releaseName", "namespace"}). The text is
what `helm template --include-crds` prints: CRDs, then the release
manifest exactly as Helm builds it (install --dry-run=client: Helm's own
kind sort), then the hooks. The SDK does not hand out a dry-run release's
hooks, so they are taken from Helm's raw render output and ordered here the
way Helm's SortManifests orders them (files sorted, documents split on its
separator, hooks stably sorted by InstallOrder kind) — the only part of the
oracle that is not Helm's own code.
"""

import json
import os
import re
import sys

import helm_python as helm

INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
    "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
    "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]
SEP = re.compile(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*")
EVENTS = {"pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade", "post-upgrade",
          "pre-rollback", "post-rollback", "test", "test-success"}


def kind_key(kind):
    if kind in INSTALL_ORDER:
        return (0, INSTALL_ORDER.index(kind), "")
    return (1, 0, kind)


def hooks_of(rendered, root):
    hooks = []
    for path in sorted(rendered):
        if os.path.basename(path).startswith("_") or path.endswith("NOTES.txt"):
            continue
        content = rendered[path]
        if not content.strip():
            continue
        for doc in SEP.split(content.lstrip()):
            if doc == "":
                continue
            doc = doc.lstrip()
            try:
                head = helm.values_from_yaml(doc) or {}
            except helm.HelmError:
                continue
            ann = ((head.get("metadata") or {}).get("annotations")) or {}
            if "helm.sh/hook" in ann and all(e.strip().lower() in EVENTS for e in ann["helm.sh/hook"].split(",")):
                hooks.append((head.get("kind") or "", path, doc))
    hooks.sort(key=lambda h: kind_key(h[0]))
    return "".join(f"---\n# Source: {p}\n{d}\n" for _, p, d in hooks)


def render(case):
    opts = {}
    if os.path.exists(os.path.join(case, "case.json")):
        with open(os.path.join(case, "case.json")) as f:
            opts = json.load(f)
    values = {}
    if os.path.exists(os.path.join(case, "values.yaml")):
        with open(os.path.join(case, "values.yaml")) as f:
            values = helm.values_from_yaml(f.read()) or {}
    name = opts.get("releaseName", "release-name")
    namespace = opts.get("namespace", "default")
    chart_path = os.path.join(case, "chart")
    if not os.path.exists(chart_path):
        chart_path = os.path.join(case, "chart.tgz")
    chart = helm.Chart.load(chart_path)
    try:
        with helm.Config(storage_driver="memory", namespace=namespace) as cfg:
            rel = cfg.install(chart, name, values, namespace=namespace, dry_run="client")
        rendered = chart.render(values=values, name=name, namespace=namespace)
        crds = "".join(f"---\n# Source: {c['filename']}\n{c['data']}\n" for c in chart.crds)
        return {"text": crds + rel.get("manifest", "") + hooks_of(rendered, chart.name)}
    finally:
        chart.close()


def main():
    out = {}
    for case in sys.argv[1:]:
        try:
            out[os.path.basename(case.rstrip("/"))] = render(case)
        except helm.HelmError as e:
            out[os.path.basename(case.rstrip("/"))] = {"error": str(e)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
