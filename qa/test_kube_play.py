"""The kubenix module's pod spec run for real with `podman kube play`: the objects kubenix renders (with
the image under test and a pull policy that finds it locally, both module options), translated only as
harness/kube_play.py names, and checked for what Kubernetes would enforce."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import k8s, kube_play
from harness.containers import CONTRACT, TEST_TOKEN, free_port
from harness.preconditions import cannot_run
from image.nix import check as nix_check
from image.nix import kubenix, sources
from plumbing.waiting import poll

pytestmark = pytest.mark.container
KUBE = CONTRACT.kubernetes
MARKER = f"{CONTRACT.workspace}/kube-play-marker"


def get(port: int, path: str) -> tuple[int, dict | None]:
    """GET on the loopback port with the token (OpenClaw details /readyz only to an authenticated caller)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TEST_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, json.loads(response.read())
    except OSError as err:
        body = getattr(err, "read", lambda: b"")()
        return getattr(err, "code", 0), json.loads(body) if body else None


def write_yaml(path: Path, docs: list[dict]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    path.chmod(0o644)
    return path


def probe(user, scenario, container: str) -> dict[str, str]:
    """What the pod runs as, seen from inside (key=value lines; the token's value never printed)."""
    script = (
        'echo "id=$(id -u):$(id -g)"; '
        f"echo \"passwd_entries_for_uid=$(grep -c ':{KUBE['uid']}:' /etc/passwd || true)\"; "
        'echo "CapEff=$(grep ^CapEff: /proc/1/status | cut -f2)"; '
        'echo "CapBnd=$(grep ^CapBnd: /proc/1/status | cut -f2)"; '
        'echo "NoNewPrivs=$(grep ^NoNewPrivs: /proc/1/status | cut -f2)"; '
        'echo "write_to_root_fs=$(touch /usr/probe 2>&1 || true)"; '
        f'echo "write_to_overlay=$(touch {CONTRACT.volumes["overlay"]["path"]}/probe 2>&1 || true)"; '
        f'echo "overlay_files=$(ls {CONTRACT.volumes["overlay"]["path"]} | tr "\\n" " ")"; '
        'echo "token_from_secret=$([ "$OPENCLAW_GATEWAY_TOKEN" = "$EXPECT" ] && echo yes || echo no)"; '
        f"echo \"state_mode_owner=$(stat -c '%a %u' {CONTRACT.volumes['state']['path']})\"; "
        f"echo \"config_mode_owner=$(stat -c '%a %u' {CONTRACT.env['OPENCLAW_CONFIG_PATH']})\"; "
        'echo "mounts=$(grep -E " /(config|config-overlay|state|logs|tmp|var/tmp) " /proc/mounts '
        '| awk \'{print $2":"$3":"substr($4,1,2)}\' | sort | tr "\\n" " ")"'
    )
    result = scenario.add(user.podman("exec", "-e", f"EXPECT={TEST_TOKEN}", container, "sh", "-c", script))
    assert result.ok, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def live_and_ready(port: int, scenario, label: str) -> None:
    probe = CONTRACT.probe
    health = poll(lambda: (r := get(port, probe["live_path"])) and r[0] == 200 and r, 180, f"{label}: /healthz")
    ready = poll(lambda: (r := get(port, probe["ready_path"])) and r[0] == 200 and r, 120, f"{label}: /readyz")
    scenario.fact(f"{label}_healthz", health[1])
    scenario.fact(f"{label}_readyz", {k: ready[1].get(k) for k in ("ready", "failing")})
    assert ready[1].get("ready") is True


def pod_probes(user, scenario, play: kube_play.Play, container: str) -> dict[str, list]:
    """Each probe of the pod spec, run as Kubernetes would: podman 4.3 made the livenessProbe the container's
    healthcheck (`podman healthcheck run`, nothing schedules it without systemd); the startup and readiness
    probes it does not run, so their exec commands run through `podman exec`. Name -> [exit code, output]."""
    (pod,) = [d for d in play.pod if d["kind"] == "Pod"]
    spec = next(c for c in pod["spec"]["containers"] if play.container(c["name"]) == container)
    seen = {"livenessProbe (podman healthcheck)": user.podman("healthcheck", "run", container, timeout=60)}
    for name in ("startupProbe", "readinessProbe"):
        seen[name] = user.podman("exec", container, *spec[name]["exec"]["command"], timeout=60)
    for result in seen.values():
        scenario.add(result)
    return {name: [r.returncode, (r.stdout + r.stderr).strip()] for name, r in seen.items()}


def pod_spec_objects(image_ref: str, scenario) -> list[dict]:
    """The kubenix module's objects, with the image under test and a pull policy that finds it locally.

    Without local copies of kubenix/nixpkgs.lib (no GitHub here) the same objects come from
    `kubectl kustomize deploy/k8s` (tests/test_kubenix.py proves the two identical where the copies
    exist), with the image and pull policy set on the container; the evidence says which rendered it.
    """
    try:
        rendered = kubenix.evaluate({"image": image_ref, "imagePullPolicy": "IfNotPresent"})
    except sources.SourceMissing as err:
        scenario.fact("rendered_by", f"kubectl kustomize deploy/k8s (kubenix not run: {err})")
        items = k8s.render()
        for obj in items:
            for container in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                container.update(image=image_ref, imagePullPolicy="IfNotPresent")
        return items
    except nix_check.NixUnavailable as err:
        cannot_run(f"cannot render the kubenix module: {err}")
    scenario.fact("rendered_by", "kubenix (nix/kubenix.nix with the pinned kubenix and nixpkgs.lib)")
    scenario.fact("kubenix_eval_seconds", round(rendered.seconds, 2))
    return rendered.items


def test_kube_play_runs_the_kubenix_pod_spec(qa_user, image, scenario):
    """podman kube play runs the kubenix StatefulSet's pod: restricted as on Kubernetes, live and ready,
    /state kept across kube down / kube play."""
    items = pod_spec_objects(image.ref, scenario)
    secret_name = next(o for o in items if o["kind"] == "StatefulSet")["metadata"]["name"] + "-env"
    port = free_port()
    play = kube_play.translate(
        items,
        {secret_name: kube_play.secret_data({"OPENCLAW_GATEWAY_TOKEN": TEST_TOKEN})},
        {CONTRACT.port: port},
    )
    scenario.fact("translations", [{"step": s.name, "detail": s.detail} for s in play.steps])
    scenario.fact("not_expressed_by_podman", kube_play.NOT_EXPRESSED)
    work = qa_user.home / "qa-kube-play"
    qa_user.run(["podman", "unshare", "rm", "-rf", str(work)], check=True)
    qa_user.mkdirs(work)
    claims = write_yaml(work / "claims.yaml", play.claims)
    pod = write_yaml(work / "pod.yaml", play.pod)
    # the claims, and the volumes podman makes of the ConfigMaps (kube down leaves both)
    volumes = [
        d["metadata"]["name"] for d in [*play.claims, *play.pod] if d["kind"] in ("PersistentVolumeClaim", "ConfigMap")
    ]
    container = play.container("gateway")

    def clean() -> None:
        qa_user.podman("kube", "down", str(pod))
        qa_user.podman("volume", "rm", "-f", *volumes)
        for name in play.secrets:
            qa_user.podman("secret", "rm", name)

    clean()
    try:
        for name, data in play.secrets.items():
            (work / f"{name}.json").write_text(data)
            (work / f"{name}.json").chmod(0o644)
            assert scenario.add(qa_user.podman("secret", "create", name, str(work / f"{name}.json"))).ok
            (work / f"{name}.json").unlink()
        assert scenario.add(qa_user.podman("kube", "play", str(claims))).ok
        first = scenario.add(qa_user.podman("kube", "play", str(pod), timeout=300))
        assert first.ok, first.stderr
        live_and_ready(port, scenario, "first")
        probes = pod_probes(qa_user, scenario, play, container)
        scenario.fact("probes", probes)
        assert all(code == 0 for code, _ in probes.values()), probes

        seen = probe(qa_user, scenario, container)
        for key, value in seen.items():
            scenario.fact(key, value)
        uid = KUBE["uid"]
        assert seen["id"] == f"{uid}:{KUBE['gid']}", seen["id"]
        assert seen["CapEff"] == seen["CapBnd"] == "0000000000000000" and seen["NoNewPrivs"] == "1"
        assert "Read-only file system" in seen["write_to_root_fs"]
        assert "Read-only file system" in seen["write_to_overlay"]
        assert seen["overlay_files"].split() == ["matrix-only.json5"]
        assert seen["token_from_secret"] == "yes"
        assert f"{CONTRACT.volumes['overlay']['path']}:" in seen["mounts"] and ":ro" in seen["mounts"]
        assert seen["config_mode_owner"] == f"600 {uid}"

        inspect = json.loads(scenario.add(qa_user.podman("inspect", container)).stdout)[0]
        host = inspect["HostConfig"]
        scenario.fact(
            "podman_inspect",
            {
                "ReadonlyRootfs": host.get("ReadonlyRootfs"),
                "CapDrop": host.get("CapDrop"),
                "SecurityOpt": host.get("SecurityOpt"),
                "Memory": host.get("Memory"),
                "NanoCpus": host.get("NanoCpus"),
                "StopTimeout": inspect["Config"].get("StopTimeout"),
                "Healthcheck": inspect["Config"].get("Healthcheck"),
            },
        )
        assert host["ReadonlyRootfs"] is True
        # the pod's infra container holds the network and its published ports
        infra = json.loads(scenario.add(qa_user.podman("pod", "inspect", play.pod_name)).stdout)["InfraConfig"]
        scenario.fact("pod_port_bindings", infra.get("PortBindings"))
        bound = [(b["HostIp"], b["HostPort"]) for bs in (infra.get("PortBindings") or {}).values() for b in bs]
        assert bound == [("127.0.0.1", str(port))], infra.get("PortBindings")

        wrote = scenario.add(qa_user.podman("exec", container, "sh", "-c", f"echo kept > {MARKER} && ls -A /state"))
        assert wrote.ok, wrote.stderr
        assert scenario.add(qa_user.podman("kube", "down", str(pod), timeout=400)).ok
        left = scenario.add(qa_user.podman("volume", "ls", "--format", "{{.Name}}")).stdout.split()
        assert {c["metadata"]["name"] for c in play.claims} <= set(left), left
        again = scenario.add(qa_user.podman("kube", "play", str(pod), timeout=300))
        assert again.ok, again.stderr
        live_and_ready(port, scenario, "after_restart")
        kept = scenario.add(qa_user.podman("exec", container, "sh", "-c", f"cat {MARKER}; ls -A /state"))
        scenario.fact("state_after_restart", kept.stdout.split())
        assert kept.stdout.splitlines()[0] == "kept"
        assert scenario.add(qa_user.podman("kube", "down", str(pod), timeout=400)).ok
        healthcheck = inspect["Config"].get("Healthcheck") or {}
        scenario.notes.append(f"podman's healthcheck from the livenessProbe: {healthcheck.get('Test')}")
        liveness = f"{CONTRACT.probe['command']} {KUBE['probes']['live']}"
        assert liveness in " ".join(healthcheck.get("Test") or []), healthcheck
    finally:
        clean()
