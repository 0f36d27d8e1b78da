"""Offline checks of deploy/k8s: render (kustomize), schema (kubernetes-validate), policy (checkov +
the Pod Security "restricted" rules), and agreement with the image contract.

Everything runs without a cluster. checkov lives in its own venv (it pins libraries that clash with
pytest's), made by setup/bootstrap.sh under the cache dir.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from image.paths import CACHE, REPO
from plumbing import commands

K8S_DIR = REPO / "deploy" / "k8s"
CHECKOV = CACHE / "tools" / "checkov" / "bin" / "checkov"
# checkov findings we accept, each with the reason (also in docs/kubernetes.md).
CHECKOV_SKIPS = {
    "CKV_K8S_43": "image digest is set at deploy time (kustomize edit set image ...@sha256:...)",
    "CKV_K8S_35": "the entrypoint substitutes allowlisted env vars into the 0600 config by design",
}


class ToolMissing(RuntimeError):
    pass


def render(directory: Path = K8S_DIR) -> list[dict]:
    if shutil.which("kubectl") is None:
        raise ToolMissing("kubectl is not installed (setup/bootstrap.sh installs Debian's kubernetes-client)")
    out = commands.run(["kubectl", "kustomize", directory], check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def dump(docs: list[dict]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def schema_errors(docs: list[dict]) -> str | None:
    """kubernetes-validate --strict over the rendered manifests; None when valid."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as fh:
        fh.write(dump(docs))
        fh.flush()
        proc = commands.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", fh.name])
    return None if proc.returncode == 0 else (proc.stdout + proc.stderr).strip()[-2000:]


def checkov_failures(docs: list[dict]) -> list[str]:
    """Failed checkov check ids (all kubernetes checks but the documented skips)."""
    if not CHECKOV.exists():
        raise ToolMissing(f"checkov is not installed at {CHECKOV} (setup/bootstrap.sh installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "rendered.yaml")
        path.write_text(dump(docs))
        proc = commands.run(
            [
                CHECKOV,
                "-f",
                str(path),
                "--framework",
                "kubernetes",
                "--compact",
                "--quiet",
                "-o",
                "cli",
                "--skip-check",
                ",".join(CHECKOV_SKIPS),
            ]
        )
    failed = [line.split(":")[1].strip() for line in proc.stdout.splitlines() if line.startswith("Check:")]
    if proc.returncode != 0 and not failed:
        return [f"checkov error: {proc.stderr.strip()[-500:]}"]
    return failed


def pod_spec(docs: list[dict]) -> dict:
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    return sts["spec"]["template"]["spec"]


def restricted_violations(spec: dict) -> list[str]:
    """Pod Security Standards "restricted" (plus read-only root), checked per container."""
    found = []
    pod_sc = spec.get("securityContext", {})
    for c in spec["containers"]:
        sc = c.get("securityContext", {})

        def effective(key: str, sc=sc):
            return sc.get(key, pod_sc.get(key))

        name = c["name"]
        if effective("runAsNonRoot") is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if effective("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []) or sc.get("capabilities", {}).get("add"):
            found.append(f"{name}: capabilities do not drop ALL (or add some)")
        if (effective("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is not RuntimeDefault/Localhost")
        if sc.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"pod: {key}")
    for vol in spec.get("volumes", []):
        if "hostPath" in vol:
            found.append(f"pod: hostPath volume {vol['name']}")
    return found
