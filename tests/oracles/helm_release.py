"""Drives the real Helm SDK (helm-python-sdk, Helm v4.2.3) against a test
cluster, for weir's end-to-end tests of Helm release storage: what weir
installs must be what Helm lists, inspects and rolls back, and weir must
take over what Helm installed.

    python helm_release.py KUBECONFIG NAMESPACE COMMAND [ARGS...]

Commands (each prints one JSON document):
    list                          releases in NAMESPACE, every state
    history NAME                  NAME's revisions, oldest first
    status NAME                   NAME's current release (with manifest)
    values NAME                   NAME's user values
    rollback NAME [REVISION]      roll NAME back (default: previous)
    install NAME CHART VALUES     install CHART (a directory) with VALUES (JSON)
    uninstall NAME                uninstall NAME
"""

import json
import sys

import helm_python as helm


def main(argv):
    kubeconfig, namespace, command, *args = argv
    c = helm.Config(kubeconfig_path=kubeconfig, namespace=namespace)
    if command == "list":
        out = c.list(all_states=True)
    elif command == "history":
        out = c.history(args[0])
    elif command == "status":
        out = c.status(args[0])
    elif command == "values":
        out = c.get_values(args[0])
    elif command == "rollback":
        version = int(args[1]) if len(args) > 1 else None
        c.rollback(args[0], version=version, wait="hookOnly", timeout=60)
        out = {"ok": True}
    elif command == "install":
        out = c.install(args[1], args[0], json.loads(args[2]), wait="hookOnly", timeout=60)
    elif command == "uninstall":
        out = c.uninstall(args[0], wait="hookOnly", timeout=60)
    else:
        raise SystemExit(f"unknown command {command!r}")
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
