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

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.containers import CONTRACT, NO_ENTRY_UID, Runner, Volumes, restricted_runner
from harness.conversation import ask, await_reply, bot_joins, in_conversation, record_model_exchanges, scripted_replies
from harness.matrix_pod import OVERLAY_MOUNT, logs_text, matrix_pod, open_dm, overlay_copy, start_gateway, timeline
from harness.model_server import SHELL_TOOL, ScriptedModel, Step
from harness.podman import QaUser
from harness.preconditions import require_matrix_pod
from harness.synapse import SERVER_NAME, SYNAPSE_VERSION, Client, Netns, Synapse
from plumbing.waiting import poll

pytestmark = pytest.mark.container

POD = "oc-mx-pod"
MODEL_PORT = 18090  # qa/overlays/20-scripted-model.json5 points the agent here
SYNAPSE_PORT = 18008
HUMAN = "human"  # qa/overlays/10-matrix.json5 allows exactly @human:<SERVER_NAME>
OVERLAY_DIR = Path(__file__).parent / "overlays"
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
    require_matrix_pod()
    overlay_text = (OVERLAY_DIR / "10-matrix.json5").read_text()
    assert f"@{HUMAN}:{SERVER_NAME}" in overlay_text, "the overlay must allow the test's human"
    assert f"127.0.0.1:{MODEL_PORT}/" in (OVERLAY_DIR / "20-scripted-model.json5").read_text()
    with matrix_pod(qa_user, POD, synapse_port=SYNAPSE_PORT, model_port=MODEL_PORT, model=ScriptedModel([])) as pod:
        yield MatrixEnv(qa_user, pod.netns, pod.synapse, pod.synapse.register(HUMAN), pod.model)


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


class Env(dict):
    """Container environment whose repr shows names only (pytest prints arguments of failing frames)."""

    def __repr__(self) -> str:
        return f"Env({sorted(self)})"


# The README's identity is the smoke tier's one Matrix conversation; the read-only arbitrary uid is full tier.
IDENTITIES = (pytest.param("keep_id", marks=pytest.mark.smoke), "readonly_uid4243")


@pytest.mark.parametrize("identity", IDENTITIES)
def test_matrix_conversation(matrix: MatrixEnv, runner: Runner, volumes: Volumes, scenario, identity):
    """A Matrix DM through the container: bot auto-joins, the agent runs the toolchain (scripted model),
    the reply with the real tool output appears in the room; a message sent while the gateway is stopped
    is answered exactly once after it starts again on the same volumes, in the same room, without re-joining."""
    env = matrix
    run_id = secrets.token_hex(4)
    name = f"oc-mx-gw-{identity.replace('_', '-')}"
    if identity == "keep_id":  # the README's identity; the pod holds --userns=keep-id
        runner = Runner(runner.user, runner.image, scenario, identity=["--user", f"{env.user.uid}:{env.user.gid}"])
    else:
        runner = restricted_runner(runner, volumes, uid=NO_ENTRY_UID)
    bot = env.synapse.register(f"bot-{identity.replace('_', '-')}-{run_id}")
    first, second, third = f"toolchain-{run_id}", f"state-{run_id}", f"again-{run_id}"
    env.model.steps += [
        Step(first, toolchain_command(run_id)),
        Step(second, f"echo '== marker from before the restart'; cat /state/workspace/matrix-run-{run_id}.txt"),
        Step(third, f"echo 'again {run_id}'"),
    ]
    overlay = overlay_copy(env.user, volumes, sorted(OVERLAY_DIR.glob("*.json5")))
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
        room = open_dm(env.human, bot.user_id, f"qa {identity}")
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

        reply, latency = ask(env.human, room, bot.user_id, f"Please check your toolchain ({first}).")
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
        kinds = [r["kind"] for r in records if in_conversation(r, run_id)]
        assert kinds[:2] == [f"tool_call:{first}", "reply_with_tool_output"], kinds
        tool_result = next(r for r in records if r["kind"] == "reply_with_tool_output" and in_conversation(r, run_id))
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
        # sent while the gateway is down: Synapse keeps it, and the gateway answers it once it is back
        down_sent = env.human.send_text(room, f"What did you write before the restart? ({second})")
        sent_at = time.monotonic()
        start_gateway(runner, name, volumes, gateway_env, extra, scenario, label="restart")
        reply2 = await_reply(env.human, room, bot.user_id, down_sent)
        scenario.fact("sent_while_down_to_reply_s", round(time.monotonic() - sent_at, 2))
        scenario.fact("reply_2", reply2["body"])
        assert f"matrix run {run_id}" in reply2["body"]
        # and the restarted gateway answers a live message too; by then a second answer to the message
        # sent while down (a replayed sync) would be in the room and in the model's records
        reply3, latency3 = ask(env.human, room, bot.user_id, f"Once more after the restart ({third}).")
        scenario.fact("message_to_reply_after_restart_s", round(latency3, 2))
        assert f"again {run_id}" in reply3["body"]
        answers = [
            m for m in scripted_replies(env.human, room, bot.user_id, down_sent) if f"matrix run {run_id}" in m["body"]
        ]
        calls = [r for r in env.model.snapshot() if r["kind"] == f"tool_call:{second}"]
        scenario.fact("answers_to_the_message_sent_while_down", {"room": len(answers), "model_calls": len(calls)})
        assert len(answers) == 1 and len(calls) == 1, "the message sent while down was not answered exactly once"
        # the agent's session survived the restart: the new turn's request carries the first run's tool output
        after = next(r for r in env.model.snapshot() if r["kind"] == f"tool_call:{second}")
        history = after["request"]["messages"][:-1]
        kept = any(m.get("role") == "tool" and f"matrix run {run_id}" in json.dumps(m) for m in history)
        scenario.fact("session_history_after_restart", [m.get("role") for m in history])
        assert kept, "the first conversation is not in the session after the restart"
        transcript = timeline(env.human, room)
        joins = bot_joins(env.human, room, bot.user_id)
        scenario.fact("bot_join_events", joins)
        assert joins == 1, "the bot re-joined the room after the restart"
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
        record_model_exchanges(scenario, env.model, run_id)
        logs = runner.user.podman("logs", "--tail", "80", name)
        scenario.add(logs)
        runner.remove(name)
