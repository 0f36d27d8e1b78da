"""The stage of the Matrix scenarios: one podman pod whose netns has only loopback, holding a real
Synapse and the scripted model, and the gateway container started in it with an operator overlay.

Topology and why: harness/synapse.py. The scenarios (qa/test_matrix.py, qa/test_conversation_load.py)
share this so the pod, the overlay and the gateway start are set up one way.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.containers import CONTRACT, Runner, Volumes
from harness.evidence import Scenario
from harness.model_server import ModelServer, ScriptedModel
from harness.podman import QaUser
from harness.synapse import Client, Netns, Synapse

OVERLAY_MOUNT = CONTRACT.volumes.get("overlay", {}).get("path", "/config-overlay")


@dataclass(repr=False)  # pytest prints a failing frame's arguments: keep it short (and secret-free)
class MatrixPod:
    user: QaUser
    name: str
    netns: Netns
    synapse: Synapse
    model: ScriptedModel

    def __repr__(self) -> str:
        return f"MatrixPod({self.name}, synapse={self.synapse.url})"


@contextmanager
def matrix_pod(
    user: QaUser, name: str, *, synapse_port: int, model_port: int, model: ScriptedModel
) -> Iterator[MatrixPod]:
    """The pod (keep-id, --network none) with Synapse and `model` listening on its loopback; removed after."""
    user.podman("pod", "rm", "-f", name)
    # keep-id on the pod: podman 4.3 refuses --userns on a container that joins a pod ("--userns and
    # --pod cannot be set together"). Ids above the QA user's map exactly as in `podman unshare`, so
    # an arbitrary uid's volumes (chowned there) line up.
    created = user.podman("pod", "create", "--network", "none", "--userns=keep-id", "--name", name)
    assert created.ok, created.stderr
    server = synapse = netns = None
    try:
        assert user.podman("pod", "start", name).ok
        infra = user.podman("pod", "inspect", name, "--format", "{{.InfraContainerID}}").stdout.strip()
        pid = int(user.podman("inspect", infra, "--format", "{{.State.Pid}}").stdout.strip())
        netns = Netns(pid)
        root = user.home / "qa-volumes" / f"{name}-synapse"
        user.mkdirs(root.parent)  # the QA user's, before root's Synapse set-up could create it
        shutil.rmtree(root, ignore_errors=True)
        synapse = Synapse(netns, root, user.name, port=synapse_port)
        synapse.start()
        server = ModelServer(netns.listen("127.0.0.1", model_port), model).start()
        yield MatrixPod(user, name, netns, synapse, model)
    finally:
        if server:
            server.stop()
        if synapse:
            synapse.stop()
        if netns:
            netns.close()
        user.podman("pod", "rm", "-f", name, timeout=120)


def overlay_copy(user: QaUser, volumes: Volumes, sources: list[Path], extra: dict[str, str] | None = None) -> Path:
    """The overlay as an operator mounts it: a directory of *.json5 owned by the QA user (mounted read-only);
    `extra` adds files by name (later names win when the entrypoint merges them)."""
    target = volumes.root / "overlay"
    user.mkdirs(target)
    files = {source.name: source.read_text() for source in sources} | (extra or {})
    for name, text in files.items():
        (target / name).write_text(text)
        os.chown(target / name, user.uid, user.gid)
        os.chmod(target / name, 0o644)
    return target


def timeline(client: Client, room: str, limit: int = 200) -> list[dict]:
    """The room as its member sees it (client-server API), compact, for assertions and evidence."""
    out = []
    for e in client.messages(room, limit=limit):
        c = e.get("content", {})
        row = {"ts": e.get("origin_server_ts"), "sender": e.get("sender"), "type": e["type"], "event_id": e["event_id"]}
        if e["type"] == "m.room.member":
            row["membership"] = c.get("membership")
            row["state_key"] = e.get("state_key")
        elif e["type"] == "m.room.message":
            row["msgtype"] = c.get("msgtype")
            row["body"] = c.get("body")
        else:
            continue
        out.append(row)
    return out


def open_dm(human: Client, bot: str, name: str) -> str:
    """A DM as Element opens one (is_direct + m.direct); the room id."""
    room = human.create_room([bot], direct=True, name=name)
    human.request("PUT", f"/_matrix/client/v3/user/{human.user_id}/account_data/m.direct", {bot: [room]})
    return room


def logs_text(runner: Runner, name: str, volumes: Volumes) -> str:
    """The gateway's console log and its /logs/openclaw.log, as one text."""
    logs = runner.user.podman("logs", name)
    log_file = volumes.logs / "openclaw.log"
    return logs.stdout + logs.stderr + (log_file.read_text(errors="replace") if log_file.exists() else "")


def start_gateway(
    runner: Runner, name: str, volumes: Volumes, env: dict, extra: list[str], scenario: Scenario, label: str = "start"
) -> None:
    """`podman run -d` in the pod with the overlay; wait for /healthz (poll inside the container)."""
    started = time.monotonic()
    argv = ["run", "-d", "--name", name, *runner.run_args(volumes, env, extra), runner.image]
    runner.user.podman("rm", "-f", "-t", "0", name)
    run = scenario.add(runner.user.podman(*argv, timeout=120))
    assert run.returncode == 0, run.stderr
    live = runner.wait_live(name)
    if not live.ok:
        scenario.add(runner.user.podman("logs", name))
    assert live.ok, "gateway never answered /healthz"
    scenario.fact(f"{label}_to_live_s", round(time.monotonic() - started, 1))
