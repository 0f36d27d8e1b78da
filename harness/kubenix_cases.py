"""What the kubenix module is checked with: a non-default option set and what it must give, planted
drifts that must fail, and the evidence run (`python -m harness.kubenix_cases [DIR]`).

The expectation for the non-default set is written from the kustomize render by hand (each option's
documented effect), not from the module, so module and expectation cannot drift together.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

from harness import k8s, kubenix
from harness.evidence import Scenario
from image.contract import Contract
from image.nix import sources
from image.nix.kubenix import evaluate
from image.paths import EVIDENCE, REPO
from plumbing import commands
from plumbing.files import edited_copy

DIGEST = "sha256:" + "0123456789abcdef" * 4
SETTINGS = {"channels": {"whatsapp": {"enabled": False}}, "plugins": {"entries": {"whatsapp": {"enabled": False}}}}
CHANGED = {
    "image": f"registry.invalid/openclaw-nix@{DIGEST}",
    "imagePullPolicy": "IfNotPresent",
    "namespace": "agents",
    "createNamespace": False,
    "secretName": "gateway-secrets",
    "overlay": {"settings": SETTINGS},
    "storage": {"state": {"size": "50Gi", "storageClassName": "fast-ssd"}, "logs": {"size": "5Gi"}},
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "4", "memory": "3Gi"}},
    "extraEnv": [{"name": "OPENROUTER_API_KEY", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "openrouter"}}}],
    "service": {"type": "LoadBalancer", "annotations": {"example.org/load-balancer": "internal"}},
}
# Files a planted copy needs: the module, what it reads, and the lock that pins the sources.
MODULE_FILES = ["nix", "image/contract.toml", "deploy/k8s/config-overlay", "flake.lock"]


def _one(objects: list[dict], kind: str) -> dict:
    (obj,) = [o for o in objects if o["kind"] == kind]
    return obj


def expected_changed(base: list[dict], options: dict = CHANGED) -> list[dict]:
    """The kustomize render as CHANGED says it should change (what docs/kubenix.md documents)."""
    out = [copy.deepcopy(o) for o in base if o["kind"] != "Namespace"]  # createNamespace = false
    for obj in out:
        obj["metadata"]["namespace"] = options["namespace"]
    cm = _one(out, "ConfigMap")
    cm["data"] = {"settings.json5": json.dumps(options["overlay"]["settings"], separators=(",", ":"), sort_keys=True)}
    sts = _one(out, "StatefulSet")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    container["image"] = options["image"]
    container["imagePullPolicy"] = options["imagePullPolicy"]
    container["envFrom"] = [{"secretRef": {"name": options["secretName"]}}]
    container["resources"] = options["resources"]
    container["env"] = options["extraEnv"]
    claims = {c["metadata"]["name"]: c["spec"] for c in sts["spec"]["volumeClaimTemplates"]}
    for name, storage in options["storage"].items():
        claims[name]["resources"]["requests"]["storage"] = storage["size"]
        if "storageClassName" in storage:
            claims[name]["storageClassName"] = storage["storageClassName"]
    svc = _one(out, "Service")
    svc["spec"]["type"] = options["service"]["type"]
    svc["metadata"]["annotations"] = options["service"]["annotations"]
    return out


def drifts(contract: Contract) -> dict[str, tuple[str, str, str]]:
    """Planted drifts: name -> (file, text, replacement). Each must make the comparison fail."""
    return {
        "port": ("image/contract.toml", f"ports = [{contract.port}]", f"ports = [{contract.port + 1}]"),
        "readOnlyRootFilesystem dropped": ("image/contract.toml", "readOnlyRootFilesystem = true\n", ""),
        "pod runAsNonRoot dropped": ("nix/kubenix.nix", "runAsNonRoot = true;\n", ""),
    }


def planted_copy(dest: Path, file: str, old: str, new: str) -> Path:
    """A copy of the module and what it reads, with one edit; fails loudly if the edit does not apply."""
    return edited_copy(REPO, MODULE_FILES, dest, file, old, new)


def checks(objects: list[dict]) -> dict:
    """The checks tests/test_k8s.py runs on the kustomize render, on these objects."""
    try:
        checkov = k8s.checkov_failures(objects)
    except k8s.ToolMissing as err:
        checkov = f"not run: {err}"
    return {
        "schema_errors": k8s.schema_errors(objects),
        "restricted_violations": k8s.restricted_violations(k8s.pod_spec(objects)),
        "checkov_failures": checkov,
    }


CLEAN = {"schema_errors": None, "restricted_violations": [], "checkov_failures": []}


def judged(sc: Scenario, label: str, differences_fact: str, expected: list[dict], objects: list[dict]) -> bool:
    """Record the field-by-field differences and the checks (run once: checkov takes seconds) of one option
    set; True when there are none and every check is clean."""
    found = kubenix.differences(expected, objects) + kubenix.dangling_configmap_refs(objects)
    found_checks = checks(objects)
    sc.fact(differences_fact, found)
    sc.fact(f"checks_{label}", found_checks)
    return not found and found_checks == CLEAN


def report(directory: Path) -> dict:
    """Run everything once with the real sources and write the evidence; returns the scenario data."""
    contract = Contract.load()
    sc = Scenario(
        "kubenix_module_matches_kustomize", "kubenix module with real kubenix vs kubectl kustomize deploy/k8s"
    )
    for name in sources.SOURCES:
        pin = sources.locked(name)
        sc.fact(f"{name}_pinned", {"repo": sources.SOURCES[name].github, "rev": pin["rev"], "narHash": pin["narHash"]})
    sc.add(commands.run(["nix", "--version"]))
    sc.add(commands.run(["kubectl", "version", "--client"]))
    sc.fact(
        "normalised",
        {
            "annotations": list(kubenix.KUBENIX_ANNOTATIONS),
            "labels": list(kubenix.KUBENIX_LABELS),
            "configmap_suffix": kubenix.CONFIGMAP_SUFFIX.pattern,
        },
    )
    rendered = k8s.render()
    ok = True

    started = time.monotonic()
    defaults = evaluate()
    sc.fact("eval_seconds_defaults", round(defaults.seconds, 2))
    sc.fact("eval_argv", defaults.argv)
    sc.fact("objects_defaults", [kubenix.key(o) for o in defaults.items])
    ok &= judged(sc, "defaults", "differences_defaults_vs_kustomize", rendered, defaults.items)

    changed = evaluate(CHANGED)
    sc.fact("options_changed", CHANGED)
    sc.fact("eval_seconds_changed", round(changed.seconds, 2))
    ok &= judged(sc, "changed", "differences_changed_vs_expected", expected_changed(rendered), changed.items)

    planted = {}
    for name, (file, old, new) in drifts(contract).items():
        with tempfile.TemporaryDirectory() as tmp:
            objects = evaluate(flake_dir=planted_copy(Path(tmp), file, old, new)).items
        diff = kubenix.differences(rendered, objects)
        planted[name] = {"edit": {"file": file, "old": old, "new": new}, "differences": diff, **checks(objects)}
        ok &= bool(diff)
    sc.fact("planted_drifts", planted)
    sc.fact("total_seconds", round(time.monotonic() - started, 1))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rendered-defaults.json").write_text(json.dumps(defaults.items, indent=2) + "\n")
    return sc.write("passed" if ok else "failed", directory)


if __name__ == "__main__":
    data = report(Path(sys.argv[1]) if len(sys.argv) > 1 else EVIDENCE / "kubenix")
    print(data["outcome"])
    sys.exit(0 if data["outcome"] == "passed" else 1)
