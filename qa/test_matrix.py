"""The Matrix channel really runs: a conversation through the container (issue 11, items 2-6).

homeserver -> gateway -> agent -> toolchain -> reply, with real parts only: a real Synapse, the real
image in rootless podman, the real OpenClaw gateway, Matrix plugin, agent loop and exec tool. The one
stand-in is the model: harness/model_server.py, a SCRIPTED OpenAI-compatible endpoint (labelled so in the
overlay, in every reply and in evidence) whose first answer is a tool call that runs toolchain
commands inside the container and whose second answer repeats the tool output it received.

Topology (see harness/synapse.py): one podman pod per module with `--network none`, so its netns has
only loopback; Synapse (host process of the QA user) and the scripted model (a socket made in that
netns) listen on 127.0.0.1 there, the gateway container joins the pod, and the test's client makes
its sockets in the same netns. Nothing listens on, or talks to, any other address.

The operator overlay is qa/overlays/ (a directory: 10-matrix.json5 then 20-scripted-model.json5),
mounted read-only at /config-overlay as an operator would. Who may talk to the bot: `autoJoin:
"always"` + `dm.policy: "allowlist"` with the human's user ID in `dm.allowFrom` (no pairing
round-trip; nothing to re-pair after a restart).

One Synapse and one pod per module (Synapse starts in ~3 s); each scenario registers its own bot, so
its fresh /state never sees another scenario's rooms.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.containers import CONTRACT, NO_ENTRY_UID, Runner, Volumes, restricted_runner
from harness.evidence import EVIDENCE_DIR, write_json
from harness.model_server import SCRIPTED_PREFIX, SHELL_TOOL, ModelServer, ScriptedModel, Step
from harness.podman import QaUser
from harness.preconditions import cannot_run
from harness.synapse import SERVER_NAME, SYNAPSE_VENV, SYNAPSE_VERSION, Client, Netns, Synapse
from plumbing.waiting import poll

pytestmark = pytest.mark.container

POD = "oc-mx-pod"
MODEL_PORT = 18090  # qa/overlays/20-scripted-model.json5 points the agent here
SYNAPSE_PORT = 18008
HUMAN = "human"  # qa/overlays/10-matrix.json5 allows exactly @human:<SERVER_NAME>
OVERLAY_DIR = Path(__file__).parent / "overlays"
OVERLAY_MOUNT = CONTRACT.volumes.get("overlay", {}).get("path", "/config-overlay")
UNTRUSTED = "only available for trusted plugins"


@dataclass(repr=False)  # pytest prints a failing frame's arguments: keep it short (and secret-free)
class MatrixEnv:
    user: QaUser
    netns: Netns
    synapse: Synapse
    human: Client
    model: ScriptedModel

    def __repr__(self) -> str:
        return f"MatrixEnv(pod={POD}, synapse={self.synapse.url}, human={self.human.user_id})"


@pytest.fixture(scope="module")
def matrix(qa_user: QaUser, image: dict):
    if os.geteuid() != 0:
        cannot_run("the Matrix scenarios enter the pod's network namespace from root (run the suite as root)")
    if not (SYNAPSE_VENV / "bin" / "python").exists():
        cannot_run(f"Synapse {SYNAPSE_VERSION} is not installed in {SYNAPSE_VENV} (run setup/bootstrap.sh)")
    overlay_text = (OVERLAY_DIR / "10-matrix.json5").read_text()
    assert f"@{HUMAN}:{SERVER_NAME}" in overlay_text, "the overlay must allow the test's human"
    assert f"127.0.0.1:{MODEL_PORT}/" in (OVERLAY_DIR / "20-scripted-model.json5").read_text()
    qa_user.podman("pod", "rm", "-f", POD)
    # keep-id on the pod: podman 4.3 refuses --userns on a container that joins a pod ("--userns and
    # --pod cannot be set together"). Ids above the QA user's map exactly as in `podman unshare`, so
    # the arbitrary-uid scenario's volumes (chowned there) line up.
    created = qa_user.podman("pod", "create", "--network", "none", "--userns=keep-id", "--name", POD)
    assert created.ok, created.stderr
    server = synapse = netns = None
    try:
        assert qa_user.podman("pod", "start", POD).ok
        infra = qa_user.podman("pod", "inspect", POD, "--format", "{{.InfraContainerID}}").stdout.strip()
        pid = int(qa_user.podman("inspect", infra, "--format", "{{.State.Pid}}").stdout.strip())
        netns = Netns(pid)
        root = qa_user.home / "qa-volumes" / "oc-mx-synapse"
        shutil.rmtree(root, ignore_errors=True)
        synapse = Synapse(netns, root, qa_user.name, port=SYNAPSE_PORT)
        synapse.start()
        human = synapse.register(HUMAN)
        model = ScriptedModel([])
        server = ModelServer(netns.listen("127.0.0.1", MODEL_PORT), model).start()
        yield MatrixEnv(qa_user, netns, synapse, human, model)
    finally:
        if server:
            server.stop()
        if synapse:
            synapse.stop()
        if netns:
            netns.close()
        qa_user.podman("pod", "rm", "-f", POD, timeout=120)


def overlay_copy(user: QaUser, volumes: Volumes) -> Path:
    """The overlay as an operator mounts it: a directory of *.json5 owned by the QA user, read-only mount."""
    target = volumes.root / "overlay"
    user.mkdirs(target)
    for source in sorted(OVERLAY_DIR.glob("*.json5")):
        (target / source.name).write_text(source.read_text())
        os.chown(target / source.name, user.uid, user.gid)
        os.chmod(target / source.name, 0o644)
    return target


def timeline(client: Client, room: str) -> list[dict]:
    """The room as the human sees it (client-server API), compact, for assertions and evidence."""
    out = []
    for e in client.messages(room):
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


def bot_messages(rows: list[dict], bot: str, after_event: str) -> list[dict]:
    ids = [r["event_id"] for r in rows]
    start = ids.index(after_event) + 1 if after_event in ids else len(rows)
    return [r for r in rows[start:] if r["type"] == "m.room.message" and r["sender"] == bot]


def ask(env: MatrixEnv, room: str, bot: str, text: str, deadline_s: float = 120) -> tuple[dict, float]:
    """Send `text` as the human; poll the room until the bot's scripted reply appears. (reply, latency s)"""
    sent = env.human.send_text(room, text)
    started = time.monotonic()

    def replied():
        msgs = bot_messages(timeline(env.human, room), bot, sent)
        return next((m for m in msgs if (m.get("body") or "").startswith(SCRIPTED_PREFIX.strip()[:16])), None)

    reply = poll(replied, deadline_s, f"the bot's reply to {text!r}", interval=0.2)
    return reply, time.monotonic() - started


def toolchain_command(run_id: str) -> str:
    return "; ".join(
        [
            "echo '== jq'; jq --version",
            "echo '== requests'; python3 -c 'import requests; print(requests.__version__)'",
            "echo '== ffmpeg'; ffmpeg -version | head -1",
            "echo '== git'; git --version",
            f"echo '== uv'; uv venv --offline -q /state/workspace/mx-uv-{run_id}"
            f" && head -1 /state/workspace/mx-uv-{run_id}/pyvenv.cfg",
            f"echo '== marker'; echo 'matrix run {run_id}' | tee /state/workspace/matrix-run-{run_id}.txt",
            "echo '== id'; id -u",
        ]
    )


def expected_toolchain(runner: Runner, name: str) -> dict[str, str]:
    """The same commands run directly with podman exec: what the reply must contain, verbatim."""
    script = (
        "jq --version; python3 -c 'import requests; print(requests.__version__)'; "
        "ffmpeg -version | head -1; git --version; id -u"
    )
    lines = runner.exec(name, script).stdout.strip().splitlines()
    return dict(zip(["jq", "requests", "ffmpeg", "git", "uid"], lines, strict=True))


def logs_text(runner: Runner, name: str, volumes: Volumes) -> str:
    logs = runner.user.podman("logs", name)
    log_file = volumes.logs / "openclaw.log"
    return logs.stdout + logs.stderr + (log_file.read_text(errors="replace") if log_file.exists() else "")


class Env(dict):
    """Container environment whose repr shows names only (pytest prints arguments of failing frames)."""

    def __repr__(self) -> str:
        return f"Env({sorted(self)})"


# The README's identity is the smoke tier's one Matrix conversation; the read-only arbitrary uid is full tier.
IDENTITIES = (pytest.param("keep_id", marks=pytest.mark.smoke), "readonly_uid4243")


@pytest.mark.parametrize("identity", IDENTITIES)
def test_matrix_conversation(matrix: MatrixEnv, runner: Runner, volumes: Volumes, scenario, identity):
    """A Matrix DM through the container: bot auto-joins, the agent runs the toolchain (scripted model),
    the reply with the real tool output appears in the room; after a restart on the same volumes a
    second message is answered in the same room without re-joining."""
    env = matrix
    run_id = secrets.token_hex(4)
    name = f"oc-mx-gw-{identity.replace('_', '-')}"
    if identity == "keep_id":  # the README's identity; the pod holds --userns=keep-id
        runner = Runner(runner.user, runner.image, scenario, identity=["--user", f"{env.user.uid}:{env.user.gid}"])
    else:
        runner = restricted_runner(runner, volumes, uid=NO_ENTRY_UID)
    bot = env.synapse.register(f"bot-{identity.replace('_', '-')}-{run_id}")
    first, second = f"toolchain-{run_id}", f"state-{run_id}"
    env.model.steps += [
        Step(first, toolchain_command(run_id)),
        Step(second, f"echo '== marker from before the restart'; cat /state/workspace/matrix-run-{run_id}.txt"),
    ]
    overlay = overlay_copy(env.user, volumes)
    gateway_env = Env(OPENCLAW_MATRIX_HOMESERVER=env.synapse.url, OPENCLAW_MATRIX_TOKEN=bot.token)
    extra = ["--pod", POD, "-v", f"{overlay}:{OVERLAY_MOUNT}:ro"]
    scenario.fact("scripted_model", f"harness/model_server.py on 127.0.0.1:{MODEL_PORT} in pod {POD} (stand-in)")
    scenario.fact(
        "synapse",
        f"{SYNAPSE_VERSION} on 127.0.0.1:{SYNAPSE_PORT} in pod {POD}, started in {env.synapse.started_s:.1f} s",
    )
    scenario.fact("overlay", f"qa/overlays/*.json5 mounted read-only at {OVERLAY_MOUNT}")
    transcript: list[dict] = []
    try:
        start_gateway(runner, name, volumes, gateway_env, extra, scenario)
        # the human opens a DM and invites the bot, as Element does (is_direct + m.direct)
        room = env.human.create_room([bot.user_id], direct=True, name=f"qa {identity}")
        env.human.request(
            "PUT",
            f"/_matrix/client/v3/user/{env.human.user_id}/account_data/m.direct",
            {bot.user_id: [room]},
        )
        invited = time.monotonic()
        poll(lambda: bot.user_id in env.human.joined_members(room), 90, "the bot auto-joining the DM", interval=0.2)
        scenario.fact("invite_to_join_s", round(time.monotonic() - invited, 2))
        status = runner.exec(
            name, f"curl -sS http://127.0.0.1:{CONTRACT.port}/readyz; echo; openclaw channels status --json 2>/dev/null"
        )
        readyz, _, channels = status.stdout.partition("\n")
        channel = json.loads(channels)["channelAccounts"]["matrix"][0]
        scenario.fact("matrix_channel_status", channel)
        scenario.fact("readyz", json.loads(readyz))
        assert channel["running"] is True and channel["connected"] is True, channel
        assert channel["lastError"] is None, channel
        # Matrix-only (WhatsApp off in the overlay): ready, not waiting for a phone
        assert json.loads(readyz).get("ready") is True, readyz

        reply, latency = ask(env, room, bot.user_id, f"Please check your toolchain ({first}).")
        scenario.fact("message_to_reply_s", round(latency, 2))
        expected = expected_toolchain(runner, name)
        scenario.fact("toolchain_by_podman_exec", expected)
        body = reply["body"]
        scenario.fact("reply_1", body)
        for key in ("jq", "requests", "ffmpeg", "git", "uid"):
            assert expected[key] in body, f"{key}: {expected[key]!r} not in the bot's reply"
        assert f"matrix run {run_id}" in body and "== uv" in body

        # the model received the tool results it asked for
        records = env.model.snapshot()
        kinds = [r["kind"] for r in records if _in_conversation(r, run_id)]
        assert kinds[:2] == [f"tool_call:{first}", "reply_with_tool_output"], kinds
        tool_result = next(r for r in records if r["kind"] == "reply_with_tool_output" and _in_conversation(r, run_id))
        tool_text = json.dumps(tool_result["request"]["messages"][-1])
        assert all(json.dumps(expected[k])[1:-1] in tool_text for k in ("jq", "ffmpeg", "git")), tool_text[:2000]
        assert SHELL_TOOL in tool_result["tools_offered"]
        scenario.fact("tools_offered", tool_result["tools_offered"])
        scenario.fact("tool_output_received_by_model", tool_result["request"]["messages"][-1].get("content"))

        # the run is on the host volume: the marker, the uv venv, the session transcript
        marker = volumes.state / "workspace" / f"matrix-run-{run_id}.txt"
        venv_cfg = volumes.state / "workspace" / f"mx-uv-{run_id}" / "pyvenv.cfg"
        sessions = [
            p for p in (volumes.state / ".openclaw").rglob("*.jsonl") if run_id in p.read_text(errors="replace")
        ]
        scenario.fact("host_marker", {"path": str(marker.relative_to(volumes.root)), "uid": marker.stat().st_uid})
        scenario.fact("host_session_files", [str(p.relative_to(volumes.root)) for p in sessions])
        assert marker.read_text() == f"matrix run {run_id}\n"
        assert marker.stat().st_uid == volumes.state.stat().st_uid, "the run's file is not owned like the volume"
        assert venv_cfg.is_file()
        assert sessions, "no session transcript under /state/.openclaw mentions the run"
        transcript = timeline(env.human, room)

        # restart: a new container on the same volumes, same room, no re-join
        runner.stop(name, grace=30)
        stop_exit = runner.exit_code(name)
        scenario.fact("stop_exit_code", stop_exit)
        assert stop_exit == 0, "a normal stop must exit 0 (qa/test_stop_race.py)"
        first_logs = logs_text(runner, name, volumes)
        runner.remove(name)
        start_gateway(runner, name, volumes, gateway_env, extra, scenario, label="restart")
        reply2, latency2 = ask(env, room, bot.user_id, f"What did you write before the restart? ({second})")
        scenario.fact("message_to_reply_after_restart_s", round(latency2, 2))
        scenario.fact("reply_2", reply2["body"])
        assert f"matrix run {run_id}" in reply2["body"]
        # the agent's session survived the restart: the new turn's request carries the first run's tool output
        after = next(r for r in env.model.snapshot() if r["kind"] == f"tool_call:{second}")
        history = after["request"]["messages"][:-1]
        kept = any(m.get("role") == "tool" and f"matrix run {run_id}" in json.dumps(m) for m in history)
        scenario.fact("session_history_after_restart", [m.get("role") for m in history])
        assert kept, "the first conversation is not in the session after the restart"
        transcript = timeline(env.human, room)
        bot_joins = [
            r
            for r in transcript
            if r["type"] == "m.room.member" and r["state_key"] == bot.user_id and r["membership"] == "join"
        ]
        scenario.fact("bot_join_events", len(bot_joins))
        assert len(bot_joins) == 1, "the bot re-joined the room after the restart"
        assert env.human.joined_members(room) == sorted([bot.user_id, env.human.user_id])
        all_logs = first_logs + logs_text(runner, name, volumes)
        untrusted = [line for line in all_logs.splitlines() if UNTRUSTED in line]
        scenario.fact("untrusted_plugin_lines", untrusted[:3])
        assert untrusted == []
        # the gateway's log file on /logs (the README's promise) holds the channel's start: the scan above
        # read the lines that would carry the trust error
        log_file = volumes.logs / "openclaw.log"
        scenario.fact("logs_volume", sorted(p.name for p in volumes.logs.iterdir()))
        assert log_file.is_file(), "no /logs/openclaw.log: the gateway logged elsewhere"
        assert "starting provider (http://127.0.0.1:" in log_file.read_text(errors="replace")
        runner.stop(name, grace=30)
    finally:
        scenario.fact("room_transcript", transcript)
        scenario.fact("model_exchanges", [_compact(r) for r in env.model.snapshot() if _in_conversation(r, run_id)])
        write_json(
            EVIDENCE_DIR / f"{scenario.name}.model-records.json",
            {
                "label": "SCRIPTED model (harness/model_server.py): each request OpenClaw sent, the scripted answer",
                "records": _records_for_evidence([r for r in env.model.snapshot() if _in_conversation(r, run_id)]),
            },
        )
        scenario.notes.append(f"full scripted-model requests/responses: {scenario.name}.model-records.json")
        logs = runner.user.podman("logs", "--tail", "80", name)
        scenario.add(logs)
        runner.remove(name)


def start_gateway(runner, name, volumes, gateway_env, extra, scenario, label="start"):
    """`podman run -d` in the pod with the overlay; wait for /healthz (poll inside the container)."""
    started = time.monotonic()
    argv = ["run", "-d", "--name", name, *runner.run_args(volumes, gateway_env, extra), runner.image]
    runner.user.podman("rm", "-f", "-t", "0", name)
    run = scenario.add(runner.user.podman(*argv, timeout=120))
    assert run.returncode == 0, run.stderr
    live = runner.wait_live(name)
    if not live.ok:
        scenario.add(runner.user.podman("logs", name))
    assert live.ok, "gateway never answered /healthz"
    scenario.fact(f"{label}_to_live_s", round(time.monotonic() - started, 1))


def _in_conversation(record: dict, run_id: str) -> bool:
    return run_id in json.dumps(record["request"].get("messages", []))


def _compact(record: dict) -> dict:
    last = record["request"].get("messages", [{}])[-1]
    return {
        "kind": record["kind"],
        "stream": record["stream"],
        "last_message": {"role": last.get("role"), "content": last.get("content")},
        "response": record["response_message"],
        "seconds": round(record["answered"] - record["received"], 3),
    }


def _records_for_evidence(records: list[dict]) -> list[dict]:
    """Model records, compact: the system prompt and the tool schemas in full once, then by digest."""
    seen: set[str] = set()
    out = []
    for record in records:
        request = dict(record["request"])
        tools = request.pop("tools", None) or []
        digest = hashlib.sha256(json.dumps(tools, sort_keys=True).encode()).hexdigest()[:16]
        request["tools"] = tools if digest not in seen else f"same {len(tools)} tools as before (sha256 {digest})"
        seen.add(digest)
        messages = []
        for message in request.get("messages", []):
            if message.get("role") == "system":
                text = json.dumps(message.get("content"))
                sys_digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                if sys_digest in seen:
                    message = {"role": "system", "content": f"same system prompt as before (sha256 {sys_digest})"}
                seen.add(sys_digest)
            messages.append(message)
        request["messages"] = messages
        out.append({**record, "request": request})
    return out
