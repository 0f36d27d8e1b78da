"""The rendered Kubernetes objects as `podman kube play` (Podman 4.3) runs them, translated as little
as possible. Every translation is a named `Step` with the reason, measured on Podman 4.3.1:

  statefulset-to-pod  4.3 refuses a StatefulSet ("does not contain any supported kube kind"); it runs
                      a Pod: the StatefulSet's template, named as the controller names replica 0.
  claims-from-templates  each volumeClaimTemplate becomes the PersistentVolumeClaim the controller
                      creates (`<claim>-<statefulset>-0`, Podman makes it a named volume) and the pod
                      mounts it by claimName. The claims are a file of their own, played once: like
                      the controller's claims they outlive the pod (4.3 refuses to re-create an
                      existing volume, and `kube down` leaves them).
  secret-as-podman-secret  4.3 stores a `kind: Secret` document as its YAML text and then fails to read
                      it for envFrom ("is not valid JSON"); what envFrom reads is a podman secret
                      holding the Secret's `data` (key -> base64) as JSON, so that is created instead.
  ports-on-loopback   4.3 publishes every containerPort on the host's 0.0.0.0 (Kubernetes publishes
                      none): each port gets hostIP 127.0.0.1 and a free hostPort.
  resources-removed   4.3 turns limits into cgroup settings, which rootless podman on cgroups v1 cannot
                      make: the container fails to start ("cannot set memory limit: container could
                      not join or create cgroup"). The requests/limits are taken out.

Everything else goes in unchanged (Namespace, Service and NetworkPolicy too: Podman skips those kinds).
What Podman does not express is listed in NOT_EXPRESSED; the scenario records what it measured of each.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field

NOT_EXPRESSED = {
    "probes": "startup/readiness probes are not run (the scenario runs their exec commands with podman exec); "
    "the livenessProbe becomes the container's healthcheck (`CMD-SHELL <its command> || exit 1`), which nothing "
    "schedules without systemd: the scenario runs it with `podman healthcheck run`",
    "ConfigMap volumes": "a ConfigMap becomes a podman volume that `kube down` leaves behind (removed by the scenario)",
    "fsGroup": "not applied: the volumes are writable because the image's mount points are mode 1777 and a "
    "new podman volume copies the mount point's mode",
    "emptyDir medium/sizeLimit": "an emptyDir is a disk-backed anonymous volume: no tmpfs, no size limit",
    "resources": "removed (step resources-removed): rootless podman on cgroups v1 cannot set CPU/memory limits",
    "Service, NetworkPolicy, Namespace": "skipped by kube play (no cluster network, no policy)",
    "terminationGracePeriodSeconds": "not applied: the container's stop timeout stays podman's 10 s",
    "no passwd entry": "podman adds an /etc/passwd entry for runAsUser (Kubernetes does not), so the "
    "entrypoint's nss_wrapper path is not taken here (qa/test_hardening.py runs it with --passwd=false)",
}


@dataclass(frozen=True)
class Step:
    name: str
    detail: str


@dataclass
class Play:
    """What podman is given: the claims (played once), the pod file, podman secrets, the steps taken."""

    claims: list[dict]
    pod: list[dict]
    secrets: dict[str, str]  # podman secret name -> its data (JSON text)
    steps: list[Step] = field(default_factory=list)

    @property
    def pod_name(self) -> str:
        (pod,) = [d for d in self.pod if d["kind"] == "Pod"]
        return pod["metadata"]["name"]

    def container(self, name: str) -> str:
        """The name podman gives a pod's container."""
        return f"{self.pod_name}-{name}"


def secret_data(values: dict[str, str]) -> dict[str, str]:
    """A Kubernetes Secret's `data` for these values (base64, as `kubectl create secret generic` writes)."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


def translate(objects: list[dict], secrets: dict[str, dict[str, str]], host_ports: dict[int, int]) -> Play:
    """`objects` (a kubenix or kustomize render), the Secrets' data by name, host port per container port."""
    docs = copy.deepcopy(objects)
    steps = []
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    name = f"{sts['metadata']['name']}-0"
    template = sts["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template.get("metadata", {}), "name": name, "namespace": sts["metadata"].get("namespace")},
        "spec": template["spec"],
    }
    steps.append(Step("statefulset-to-pod", f"StatefulSet {sts['metadata']['name']} -> Pod {name}"))

    claims = []
    for claim in sts["spec"].get("volumeClaimTemplates", []):
        claim_name = f"{claim['metadata']['name']}-{name}"
        meta = {**claim["metadata"], "name": claim_name, "namespace": sts["metadata"].get("namespace")}
        claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": claim["spec"]})
        pod["spec"].setdefault("volumes", []).append(
            {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}}
        )
    steps.append(Step("claims-from-templates", ", ".join(c["metadata"]["name"] for c in claims)))

    refs = {
        ref["secretRef"]["name"]
        for c in pod["spec"]["containers"]
        for ref in c.get("envFrom", [])
        if "secretRef" in ref
    }
    missing = refs - set(secrets)
    if missing:
        raise ValueError(f"the pod reads Secrets {sorted(missing)}: give their data")
    podman_secrets = {n: json.dumps(secrets[n]) for n in sorted(refs)}
    steps.append(Step("secret-as-podman-secret", ", ".join(sorted(refs))))

    for container in pod["spec"]["containers"]:
        for port in container.get("ports", []):
            port.update(hostIP="127.0.0.1", hostPort=host_ports[port["containerPort"]])
    steps.append(Step("ports-on-loopback", json.dumps({str(k): v for k, v in host_ports.items()})))

    removed = {c["name"]: c.pop("resources") for c in pod["spec"]["containers"] if "resources" in c}
    steps.append(Step("resources-removed", json.dumps(removed, sort_keys=True)))

    rest = [d for d in docs if d is not sts]
    return Play(claims=claims, pod=[*rest, pod], secrets=podman_secrets, steps=steps)
