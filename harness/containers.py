"""Run the image the way the README tells users to, and wait for the gateway."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.evidence import SECRETS, Scenario
from harness.podman import QaUser, keep_id_flags
from image.contract import Contract
from plumbing.commands import Result

CONTRACT = Contract.load()
# A throwaway token per QA run: never a literal in the repo, never reused.
TEST_TOKEN = "qa-" + secrets.token_hex(12)
SECRETS.add(TEST_TOKEN)


def host_live(port: int) -> bool:
    """The gateway's /healthz answers 200 on a port published on 127.0.0.1 (polled directly from the
    host: `podman exec` costs up to seconds a call here)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for publishing a container port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Volumes:
    """Host directories for /state and /logs, owned by the QA user."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def flags(self) -> list[str]:
        return [
            "-v",
            f"{self.state}:{CONTRACT.volumes['state']['path']}",
            "-v",
            f"{self.logs}:{CONTRACT.volumes['logs']['path']}",
        ]


@dataclass
class Runner:
    user: QaUser
    image: str
    scenario: Scenario

    # The README's identity flags; the Kubernetes-like scenarios swap in their own.
    identity: list[str] | None = None
    # Mounted into every container this runner starts (e.g. a template variant over the image's template).
    mounts: list[str] = field(default_factory=list)

    def run_args(self, volumes: Volumes | None, env: dict[str, str] | None, extra: list[str]) -> list[str]:
        envs = {"OPENCLAW_GATEWAY_TOKEN": TEST_TOKEN, **(env or {})}
        identity = keep_id_flags(self.user) if self.identity is None else self.identity
        args = [*identity, *self.mounts, *(volumes.flags() if volumes else [])]
        for key, value in envs.items():
            if value is not None:
                args += ["-e", f"{key}={value}"]
        return args + extra

    def run(
        self,
        command: list[str] | None = None,
        *,
        volumes: Volumes | None = None,
        env: dict | None = None,
        extra: list[str] = (),
        timeout: float = 300,
    ) -> Result:
        """`podman run --rm` (foreground) with the README's flags; the image's entrypoint runs first."""
        argv = ["run", "--rm", *self.run_args(volumes, env, list(extra)), self.image, *(command or [])]
        return self.scenario.add(self.user.podman(*argv, timeout=timeout))

    def sh(self, script: str, **kwargs) -> Result:
        return self.run(["sh", "-c", script], **kwargs)

    def start(self, name: str, *, volumes: Volumes | None, env: dict | None = None, extra: list[str] = ()) -> Result:
        self.user.podman("rm", "-f", "-t", "0", name)
        argv = ["run", "-d", "--name", name, *self.run_args(volumes, env, list(extra)), self.image]
        return self.scenario.add(self.user.podman(*argv, timeout=120))

    def exec(self, name: str, script: str, timeout: float = 300) -> Result:
        return self.scenario.add(self.user.podman("exec", name, "sh", "-c", script, timeout=timeout))

    def wait_live(self, name: str, seconds: int = 120) -> Result:
        """Poll /healthz from inside the container (one exec: podman exec is slow here)."""
        url = f"http://127.0.0.1:{CONTRACT.port}/healthz"
        script = (
            f"i=0; while [ $i -lt {seconds * 4} ]; do "
            f'if out=$(curl -fsS {url} 2>/dev/null); then echo "$out"; echo "after=$i"; exit 0; fi; '
            "i=$((i+1)); sleep 0.25; done; exit 1"
        )
        return self.exec(name, script, timeout=seconds + 30)

    def plugins(self, name: str) -> dict[str, dict]:
        result = self.exec(name, "openclaw plugins list --json 2>/dev/null")
        data = json.loads(result.stdout) if result.ok else {"plugins": []}
        return {p["id"]: p for p in data.get("plugins", []) if p.get("id") in CONTRACT.plugins}

    def kill(self, name: str, signal: str) -> Result:
        return self.scenario.add(self.user.podman("kill", "--signal", signal, name))

    def wait_exit(self, name: str, timeout: float = 120) -> tuple[int, float]:
        """Block until the container exits: (exit code, seconds waited)."""
        result = self.scenario.add(self.user.podman("wait", name, timeout=timeout))
        return int(result.stdout.strip() or -1), result.seconds

    def _count_procs(self, name: str, test: str) -> int:
        """Processes inside the container whose /proc stat matches `test` (Python over comm and state)."""
        script = (
            "import glob\nn = 0\nfor p in glob.glob('/proc/[0-9]*/stat'):\n    try:\n"
            "        head, tail = open(p).read().rsplit(')', 1)\n"
            "        comm, state = head.split('(', 1)[1], tail.split()[0]\n"
            f"        n += bool({test})\n"
            "    except OSError:\n        pass\nprint(n)"
        )
        result = self.exec(name, f"python3 -c {shlex.quote(script)}")
        return int(result.stdout.strip() or 0)

    def zombies(self, name: str) -> int:
        """Processes in state Z inside the container (read from /proc: no ps in the image needed)."""
        return self._count_procs(name, "state == 'Z'")

    def sleepers(self, name: str) -> int:
        """`sleep` processes still running (not yet exited) inside the container."""
        return self._count_procs(name, "comm == 'sleep' and state != 'Z'")

    def stop(self, name: str, grace: int = 60) -> Result:
        return self.scenario.add(self.user.podman("stop", "-t", str(grace), name, timeout=grace + 60))

    def logs(self, name: str) -> Result:
        return self.scenario.add(self.user.podman("logs", name))

    def exit_code(self, name: str) -> int:
        result = self.user.podman("inspect", name, "--format", "{{.State.ExitCode}}")
        return int(result.stdout.strip() or -1)

    def remove(self, name: str) -> None:
        self.user.podman("rm", "-f", "-t", "0", name)


# Two uids with no passwd entry in the image, as Kubernetes gives (deploy/k8s uses yet another, 10001):
K8S_UID = 12345  # the restricted runner's default
NO_ENTRY_UID = 4243  # the Matrix, Control UI and identity scenarios' read-only runs
# Kubernetes' emptyDirs in deploy/k8s: the contract's /config, and /tmp, /var/tmp
TMPFS = [
    *("--tmpfs", f"{CONTRACT.volumes['config']['path']}:rw,mode=1777"),
    *("--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", "/var/tmp:rw,mode=1777"),
]


def restricted_flags(uid: int = K8S_UID) -> list[str]:
    """Kubernetes' restricted runtime in podman flags: read-only root, a uid with no passwd entry."""
    return [
        "--read-only",
        *TMPFS,
        "--user",
        f"{uid}:{uid}",
        "--passwd=false",
        "--cap-drop=ALL",
        "--security-opt",
        "no-new-privileges",
    ]


def restricted_runner(runner: Runner, volumes: Volumes, uid: int = K8S_UID) -> Runner:
    """A runner as Kubernetes runs the pod; the volumes are given to the uid the way fsGroup would."""
    runner.user.run(
        ["podman", "unshare", "chown", "-R", f"{uid}:{uid}", str(volumes.state), str(volumes.logs)], check=True
    )
    return Runner(runner.user, runner.image, runner.scenario, identity=restricted_flags(uid), mounts=runner.mounts)


def version_script(contract: Contract = CONTRACT) -> str:
    """A shell script printing each toolchain entry's version between markers, with its exit code."""
    parts = []
    for tool in contract.toolchain:
        parts.append(
            f"echo '=== {tool.name}'; {shlex.join(tool.version_cmd)} 2>&1 | head -n 3; "
            f'echo "=== rc=${{PIPESTATUS[0]}}"'
        )
    return "\n".join(parts)


def parse_versions(output: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("=== rc=") and current:
            found[current]["rc"] = int(line.split("=")[-1])
            current = None
        elif line.startswith("=== "):
            current = line[4:].strip()
            found[current] = {"output": "", "rc": None}
        elif current:
            found[current]["output"] += line + "\n"
    return found


def host_tree(path) -> dict[str, dict]:
    """Files under a host dir: owner uid and sha256 (read as root, which the tests run as)."""
    tree = {}
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                continue
            with open(full, "rb") as fh:
                tree[os.path.relpath(full, path)] = {
                    "uid": os.lstat(full).st_uid,
                    "sha256": hashlib.sha256(fh.read()).hexdigest(),
                }
    return tree


def gateway_up(runner, name, volumes, scenario, **kwargs) -> float:
    started = time.monotonic()
    run = runner.start(name, volumes=volumes, **kwargs)
    assert run.ok, run.stderr
    live = runner.wait_live(name)
    elapsed = time.monotonic() - started
    if not live.ok:
        runner.logs(name)
    assert live.ok, "gateway never answered /healthz"
    assert json.loads(live.stdout.splitlines()[0]) == {"ok": True, "status": "live"}
    scenario.fact(f"{name}_start_to_live_s", round(elapsed, 1))
    return elapsed


@contextmanager
def gateway(runner: Runner, name: str, volumes: Volumes | None, scenario: Scenario, **kwargs) -> Iterator[float]:
    """A started gateway container, live on /healthz (yields seconds to live); removed however the block ends."""
    try:
        yield gateway_up(runner, name, volumes, scenario, **kwargs)
    finally:
        runner.remove(name)
