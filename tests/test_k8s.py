"""deploy/k8s renders, is schema-valid, passes policy, matches the contract; weakened copies fail."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from harness import k8s

WEAKENINGS = {
    "readOnlyRootFilesystem": lambda s: s["containers"][0]["securityContext"].pop("readOnlyRootFilesystem"),
    "runAsNonRoot": lambda s: (
        s["securityContext"].pop("runAsNonRoot"),
        s["containers"][0]["securityContext"].pop("runAsNonRoot"),
    ),
    "allowPrivilegeEscalation": lambda s: s["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
    "capabilities": lambda s: s["containers"][0]["securityContext"].pop("capabilities"),
    "seccompProfile": lambda s: (
        s["securityContext"].pop("seccompProfile"),
        s["containers"][0]["securityContext"].pop("seccompProfile"),
    ),
}


def weakened(docs: list[dict], restriction: str) -> list[dict]:
    broken = copy.deepcopy(docs)
    WEAKENINGS[restriction](k8s.pod_spec(broken))
    return broken


def test_schema_valid(docs):
    assert k8s.schema_errors(docs) is None


def test_schema_validator_catches_a_broken_manifest(docs):
    broken = copy.deepcopy(docs)
    k8s.pod_spec(broken)["containers"][0]["securityContext"]["runAsNonRoot"] = "yes"
    assert k8s.schema_errors(broken) is not None
    unknown = copy.deepcopy(docs)
    k8s.pod_spec(unknown)["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True  # typo'd key
    assert k8s.schema_errors(unknown) is not None


def test_restricted_pod_security(docs):
    assert k8s.restricted_violations(k8s.pod_spec(docs)) == []


def test_checkov_passes(docs):
    try:
        assert k8s.checkov_failures(docs) == []
    except k8s.ToolMissing as err:
        pytest.skip(f"not run: {err}")


# checkov accepts a non-zero runAsUser in place of runAsNonRoot: only the Pod Security check sees that one.
CHECKOV_MISSES = {"runAsNonRoot"}


@pytest.mark.parametrize("restriction", sorted(WEAKENINGS))
def test_dropping_a_restriction_fails_policy_checks(docs, restriction):
    broken = weakened(docs, restriction)
    assert k8s.restricted_violations(k8s.pod_spec(broken)), restriction
    try:
        failures = k8s.checkov_failures(broken)
    except k8s.ToolMissing as err:
        pytest.skip(f"not run: {err}")
    assert bool(failures) is (restriction not in CHECKOV_MISSES), (restriction, failures)


def test_mounts_port_and_env_match_the_contract(docs, contract):
    spec = k8s.pod_spec(docs)
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert {v["path"] for v in contract.volumes.values()} | set(contract.kubernetes["scratch"].values()) == set(mounts)
    names = {**{k: v["path"] for k, v in contract.volumes.items()}, **contract.kubernetes["scratch"]}
    assert {m: n for n, m in names.items()} == mounts, "pod volume names are the contract's keys"
    volumes = {v["name"]: v for v in spec["volumes"]}
    config = volumes[mounts[contract.volumes["config"]["path"]]]
    assert config["emptyDir"]["medium"] == "Memory"
    overlay_path = contract.volumes["overlay"]["path"]
    assert "configMap" in volumes[mounts[overlay_path]]
    assert {m["mountPath"]: m.get("readOnly") for m in container["volumeMounts"]}[overlay_path] is True
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    persistent = {mounts[v["path"]] for v in contract.volumes.values() if v["persistent"]}
    assert claims == persistent
    assert [p["containerPort"] for p in container["ports"]] == [contract.port]
    (svc,) = [d for d in docs if d["kind"] == "Service"]
    assert [p["port"] for p in svc["spec"]["ports"]] == [contract.port]
    assert container["envFrom"] == [{"secretRef": {"name": "openclaw-nix-env"}}]
    assert "env" not in container, "the image carries the contract's env; the manifest adds only the Secret"
    probes = contract.kubernetes["probes"]
    for probe, mode in [("startupProbe", "startup"), ("livenessProbe", "live"), ("readinessProbe", "ready")]:
        assert container[probe]["exec"] == {"command": [contract.probe["command"], probes[mode]]}, probe
        # the probe ends within its own budget, before Kubernetes gives up on it
        assert container[probe]["timeoutSeconds"] > contract.probe["timeout"], probe
    assert container["ports"][0]["name"] == svc["spec"]["ports"][0]["targetPort"] == contract.kubernetes["port_name"]
    assert spec["terminationGracePeriodSeconds"] == contract.kubernetes["termination_grace_seconds"] >= 315 + 10


def test_identity_and_security_context_match_the_contract(docs, contract):
    kube = contract.kubernetes
    spec = k8s.pod_spec(docs)
    pod = spec["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (kube["uid"], kube["gid"], kube["fs_group"])
    assert pod["runAsNonRoot"] is True
    assert pod["seccompProfile"] == kube["container_security_context"]["seccompProfile"]
    assert spec["containers"][0]["securityContext"] == kube["container_security_context"]
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"].startswith(kube["repository"] + ":")


def test_secret_example_names_the_allowlist_without_values(contract):
    text = (k8s.K8S_DIR / "secret.env.example").read_text()
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert [e.split("=")[0] for e in entries] == [a["name"] for a in contract.allowlist]
    assert all(re.fullmatch(r"[A-Z_]+=", e) for e in entries), "example must hold no values"


def test_restore_pod_is_valid_and_restricted():
    docs = [yaml.safe_load((k8s.K8S_DIR / "tools" / "state-restore-pod.yaml").read_text())]
    assert k8s.schema_errors(docs) is None
    assert k8s.restricted_violations(docs[0]["spec"]) == []
    (mount,) = docs[0]["spec"]["containers"][0]["volumeMounts"]
    assert docs[0]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "state-openclaw-nix-0"
    assert mount["mountPath"] == "/state"
