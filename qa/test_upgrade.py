"""Upgrades lose nothing, rollbacks are refused in one line: the previous OpenClaw release's image and this
one on the same volumes, over a real Matrix conversation.

The previous release (image/releases.toml `previous`) is built by the pipeline itself
(`pipeline.release.build_and_load`: the parity builder with that release pinned, the same template,
entrypoint and contract; the layers that hold no OpenClaw pin are shared with this image) and loaded
beside it as `localhost/openclaw-nix:<version>`. Real parts as in qa/test_matrix.py: Synapse and the
gateways in one loopback-only pod, the real image, Matrix plugin, agent loop and exec tool; the one
stand-in is the SCRIPTED model (harness/model_server.py), whose records show what OpenClaw sent it.

- Upgrade: the old image holds a conversation (a tool call, a reply), a runtime `npm install -g` and a
  `uv tool install` are made in it, it stops (exit 0); a message is sent while no gateway runs; this image
  starts on the same volumes: the message is answered exactly once, with the earlier turn's tool output in
  what the model receives, in the same room without a re-join; both plugins are trusted; both runtime
  installs run; every stop exits 0.
- Rollback: this image's /state started under the old image: the entrypoint refuses (exit 78, one line,
  nothing on /state changed). With the documented override the old release starts anyway, and the
  evidence records what OpenClaw itself does with the newer state.
"""

from __future__ import annotations

import json
import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.containers import CONTRACT, Runner, Volumes, host_tree
from harness.conversation import ask, await_reply, bot_joins, record_model_exchanges, scripted_replies
from harness.matrix_pod import OVERLAY_MOUNT, logs_text, matrix_pod, open_dm, overlay_copy, start_gateway, timeline
from harness.model_server import ScriptedModel, Step
from harness.podman import QaUser
from harness.preconditions import require_matrix_pod
from harness.synapse import Client, Synapse
from image.record import ImageRecord
from image.release import previous
from pipeline.release import build_and_load
from plumbing.waiting import poll

pytestmark = pytest.mark.container

POD = "oc-upgrade-pod"
MODEL_PORT = 18090  # qa/overlays/20-scripted-model.json5 points the agent here
SYNAPSE_PORT = 18008
HUMAN = "human"  # qa/overlays/10-matrix.json5 allows exactly @human:<SERVER_NAME>
OVERLAYS = sorted((Path(__file__).parent / "overlays").glob("*.json5"))
UNTRUSTED = "only available for trusted plugins"
STATE_RECORD = CONTRACT.state_record
ALLOW_DOWNGRADE = STATE_RECORD["allow_downgrade_env"]

# A runtime npm package and a uv tool, made and installed offline inside the old image (no network in the pod).
NPM_INSTALL = (
    "set -e; rm -rf /tmp/up-npm; mkdir -p /tmp/up-npm/bin; cd /tmp/up-npm; "
    'printf \'%s\' \'{"name":"oc-upgrade-hello","version":"1.0.0","bin":{"oc-upgrade-hello":"bin/h.js"}}\' '
    '> package.json; printf \'#!/usr/bin/env node\\nconsole.log("npm tool from before the upgrade, node " '
    "+ process.version)\\n' > bin/h.js; npm pack --silent >/dev/null; "
    "npm install -g --offline ./oc-upgrade-hello-1.0.0.tgz >/dev/null 2>&1; command -v oc-upgrade-hello"
)
UV_WHEEL = """
import zipfile
main = "import sys\\ndef main():\\n    print('uv tool from before the upgrade, python', sys.version.split()[0])\\n"
files = {"ocuphello.py": main,
         "ocuphello-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: ocuphello\\nVersion: 1.0\\n",
         "ocuphello-1.0.dist-info/WHEEL":
             "Wheel-Version: 1.0\\nGenerator: qa\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
         "ocuphello-1.0.dist-info/entry_points.txt": "[console_scripts]\\nocuphello = ocuphello:main\\n",
         "ocuphello-1.0.dist-info/RECORD": ""}
with zipfile.ZipFile("/tmp/ocuphello-1.0-py3-none-any.whl", "w") as whl:
    for name, text in files.items():
        whl.writestr(name, text)
"""
UV_INSTALL = (
    f"set -e; python3 -c {shlex.quote(UV_WHEEL)}; "
    "uv tool install --offline /tmp/ocuphello-1.0-py3-none-any.whl >/dev/null 2>&1; command -v ocuphello"
)
RUN_INSTALLED = "oc-upgrade-hello && ocuphello"


@dataclass(repr=False)
class Stage:
    user: QaUser
    synapse: Synapse
    human: Client
    model: ScriptedModel
    old: ImageRecord

    def __repr__(self) -> str:
        return f"Stage(pod={POD}, old={self.old.ref})"


@pytest.fixture(scope="module")
def stage(qa_user: QaUser, image):
    require_matrix_pod()
    # the previous release, built and loaded by the pipeline (reused when up to date)
    old = build_and_load(previous())
    assert old.openclaw_version == previous() and old.ref.endswith(f":{previous()}"), old
    with matrix_pod(qa_user, POD, synapse_port=SYNAPSE_PORT, model_port=MODEL_PORT, model=ScriptedModel([])) as pod:
        yield Stage(qa_user, pod.synapse, pod.synapse.register(HUMAN), pod.model, old)


class Env(dict):
    """Container environment whose repr shows names only (pytest prints arguments of failing frames)."""

    def __repr__(self) -> str:
        return f"Env({sorted(self)})"


def pod_runner(stage: Stage, runner: Runner, ref: str) -> Runner:
    """A runner of image `ref` in the pod (which holds --userns=keep-id) as the QA user's uid."""
    return Runner(stage.user, ref, runner.scenario, identity=["--user", f"{stage.user.uid}:{stage.user.gid}"])


def image_facts(runner: Runner, ref: str) -> dict:
    """What the image says of itself: its labels (version, patches) and id."""
    info = json.loads(runner.user.podman("image", "inspect", ref, check=True).stdout)[0]
    labels = info["Config"].get("Labels") or {}
    return {"ref": ref, "id": info["Id"][:19], **{k: v for k, v in labels.items() if "version" in k or "patches" in k}}


def trust(runner: Runner, name: str) -> dict[str, dict]:
    """OpenClaw's own view of each baked plugin in the running gateway: origin, status, trusted install."""
    script = "; ".join(f"echo '=== {p}'; openclaw plugins inspect {p} --json 2>/dev/null" for p in CONTRACT.plugins)
    found = {}
    for chunk in runner.exec(name, script).stdout.split("=== ")[1:]:
        plugin_id, _, body = chunk.partition("\n")
        try:
            plugin = json.loads(body).get("plugin", {})
        except json.JSONDecodeError:
            plugin = {"unreadable": body[-300:]}
        found[plugin_id.strip()] = {k: plugin.get(k) for k in ("origin", "status", "version", "trustedOfficialInstall")}
    return found


def npm_root(runner: Runner, name: str) -> dict:
    """The managed npm root the entrypoint writes: the manifest's dependencies and where each link points."""
    root = f"{CONTRACT.env['OPENCLAW_STATE_DIR']}/npm"
    script = (
        "import json, os, sys; root = sys.argv[1]; scope = os.path.join(root, 'node_modules', '@openclaw'); "
        "print(json.dumps({'dependencies': json.load(open(os.path.join(root, 'package.json')))['dependencies'], "
        "'links': {n: os.readlink(os.path.join(scope, n)) for n in sorted(os.listdir(scope))}}))"
    )
    return json.loads(runner.exec(name, f"python3 -c {shlex.quote(script)} {root}").stdout)


def stop_and_exit_code(runner: Runner, name: str) -> int:
    runner.stop(name, grace=30)
    return runner.exit_code(name)


def session_store(volumes: Volumes) -> dict[str, list[str]]:
    """Every session store file OpenClaw keeps under /state (sessions.json) and the session keys in it."""
    stores = {}
    for path in sorted((volumes.state / ".openclaw").rglob("sessions.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {"<unreadable>": None}
        stores[str(path.relative_to(volumes.state))] = sorted(data) if isinstance(data, dict) else ["<not a map>"]
    return stores


def converse(stage: Stage, room: str, bot: str, trigger: str, run_id: str) -> str:
    """One turn with a tool call: the reply must carry the tool's output (the run's marker)."""
    reply, _ = ask(stage.human, room, bot, f"Please note this run ({trigger}).")
    assert f"upgrade run {run_id}" in reply["body"], reply["body"]
    return reply["body"]


def test_upgrade_from_previous_release_keeps_everything(stage: Stage, runner, volumes: Volumes, scenario):
    """The previous release's image holds a conversation (tool call, reply) and runtime npm/uv installs, stops;
    this image on the same volumes: the message sent meanwhile answered once with the earlier turn in the
    model's context, same room, no re-join, both plugins trusted, the installs run, every stop exits 0."""
    run_id = secrets.token_hex(4)
    name = "oc-upgrade-gw"
    old = pod_runner(stage, runner, stage.old.ref)
    new = pod_runner(stage, runner, runner.image)
    bot = stage.synapse.register(f"bot-upgrade-{run_id}")
    first, second, third = f"before-{run_id}", f"down-{run_id}", f"after-{run_id}"
    stage.model.steps += [
        Step(first, f"echo 'upgrade run {run_id}' | tee /state/workspace/upgrade-run-{run_id}.txt; openclaw --version"),
        Step(second, f"echo '== marker from before the upgrade'; cat /state/workspace/upgrade-run-{run_id}.txt"),
        Step(third, f"echo 'after {run_id}'; openclaw --version; {RUN_INSTALLED}"),
    ]
    overlay = overlay_copy(stage.user, volumes, OVERLAYS)
    gateway_env = Env(OPENCLAW_MATRIX_HOMESERVER=stage.synapse.url, OPENCLAW_MATRIX_TOKEN=bot.token)
    extra = ["--pod", POD, "-v", f"{overlay}:{OVERLAY_MOUNT}:ro"]
    scenario.fact("scripted_model", f"harness/model_server.py on 127.0.0.1:{MODEL_PORT} in pod {POD} (stand-in)")
    scenario.fact("old_image", image_facts(runner, stage.old.ref))
    scenario.fact("new_image", image_facts(runner, runner.image))
    transcript: list[dict] = []
    stops: dict[str, int] = {}
    try:
        # 1. the previous release: a conversation with a tool call, runtime installs
        start_gateway(old, name, volumes, gateway_env, extra, scenario, label="old_start")
        room = open_dm(stage.human, bot.user_id, "qa upgrade")
        poll_join(stage, room, bot.user_id)
        scenario.fact("reply_before_upgrade", converse(stage, room, bot.user_id, first, run_id))
        installed = old.exec(name, f"{NPM_INSTALL}; {UV_INSTALL}; {RUN_INSTALLED}")
        scenario.fact("installed_under_old", installed.stdout.strip().splitlines())
        assert installed.ok, installed.stderr
        scenario.fact("trust_under_old", trust(old, name))
        scenario.fact("npm_root_under_old", npm_root(old, name))
        scenario.fact("sessions_under_old", session_store(volumes))
        stops["old"] = stop_and_exit_code(old, name)
        old_logs = logs_text(old, name, volumes)
        old.remove(name)
        assert (volumes.state / STATE_RECORD["file"].removeprefix("/state/")).read_text().strip() == previous()

        # 2. a message while no gateway runs, then this image on the same volumes
        down_sent = stage.human.send_text(room, f"What did you note before the upgrade? ({second})")
        sent_at = time.monotonic()
        start_gateway(new, name, volumes, gateway_env, extra, scenario, label="new_start")
        reply = await_reply(stage.human, room, bot.user_id, down_sent)
        scenario.fact("sent_while_down_to_reply_s", round(time.monotonic() - sent_at, 2))
        scenario.fact("reply_to_message_sent_while_down", reply["body"])
        assert f"upgrade run {run_id}" in reply["body"]
        reply3, _ = ask(stage.human, room, bot.user_id, f"And now? ({third})")
        scenario.fact("reply_after_upgrade", reply3["body"])
        assert f"after {run_id}" in reply3["body"]
        assert (
            "npm tool from before the upgrade" in reply3["body"] and "uv tool from before the upgrade" in reply3["body"]
        )

        # exactly once: one answer in the room, one model turn for it
        answers = [
            m
            for m in scripted_replies(stage.human, room, bot.user_id, down_sent)
            if f"upgrade run {run_id}" in m["body"]
        ]
        calls = [r for r in stage.model.snapshot() if r["kind"] == f"tool_call:{second}"]
        scenario.fact("answers_to_the_message_sent_while_down", {"room": len(answers), "model_calls": len(calls)})
        assert len(answers) == 1 and len(calls) == 1, "the message sent while down was not answered exactly once"
        # what the model received after the upgrade: the earlier release's turn, tool output included
        history = calls[0]["request"]["messages"][:-1]
        scenario.fact("history_seen_by_model_after_upgrade", [m.get("role") for m in history])
        assert any(m.get("role") == "tool" and f"upgrade run {run_id}" in json.dumps(m) for m in history), (
            "the conversation held under the previous release is not in the model's context after the upgrade"
        )

        # same room, no re-join; trust re-pointed for both plugins; the installs still run
        joins = bot_joins(stage.human, room, bot.user_id)
        scenario.fact("bot_join_events", joins)
        assert joins == 1, "the bot re-joined the room after the upgrade"
        trusted = trust(new, name)
        scenario.fact("trust_after_upgrade", trusted)
        assert {p: v["trustedOfficialInstall"] for p, v in trusted.items()} == {p: True for p in CONTRACT.plugins}
        root = npm_root(new, name)
        scenario.fact("npm_root_after_upgrade", root)
        assert set(root["dependencies"].values()) == {CONTRACT.openclaw_version}
        assert sorted(root["links"].values()) == sorted(CONTRACT.plugin_path(p) for p in CONTRACT.plugins)
        again = new.exec(name, RUN_INSTALLED)
        scenario.fact("installs_after_upgrade", again.stdout.strip().splitlines())
        assert again.ok, again.stderr
        untrusted = [line for line in (old_logs + logs_text(new, name, volumes)).splitlines() if UNTRUSTED in line]
        scenario.fact("untrusted_plugin_lines", untrusted[:3])
        assert untrusted == []
        scenario.fact("sessions_after_upgrade", session_store(volumes))
        transcript = timeline(stage.human, room)
        stops["new"] = stop_and_exit_code(new, name)
        recorded = (volumes.state / STATE_RECORD["file"].removeprefix("/state/")).read_text().strip()
        scenario.fact("state_record_after_upgrade", recorded)
        assert recorded == CONTRACT.openclaw_version
    finally:
        scenario.fact("stop_exit_codes", stops)
        scenario.fact("room_transcript", transcript)
        record_model_exchanges(scenario, stage.model, run_id)
        scenario.add(runner.user.podman("logs", "--tail", "80", name))
        runner.remove(name)
    assert stops == {"old": 0, "new": 0}, "every stop must exit 0"


def log_messages(text: str) -> list[str]:
    """The gateway's log as `LEVEL message` lines (its JSON lines; other lines as they are)."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if isinstance(entry, dict) and "message" in entry:
            out.append(f"{entry.get('_meta', {}).get('logLevelName', '?')} {entry['message']}"[:300])
    return out


def poll_join(stage: Stage, room: str, bot: str) -> None:
    poll(lambda: bot in stage.human.joined_members(room), 90, "the bot auto-joining the DM", interval=0.2)


def test_rollback_to_previous_release_is_refused_in_one_line(stage: Stage, runner, volumes: Volumes, scenario):
    """This image's /state under the previous release: exit 78 and one line, /state untouched; with the
    documented override the old release starts, and the evidence records what OpenClaw does with it."""
    run_id = secrets.token_hex(4)
    name = "oc-rollback-gw"
    old = pod_runner(stage, runner, stage.old.ref)
    new = pod_runner(stage, runner, runner.image)
    bot = stage.synapse.register(f"bot-rollback-{run_id}")
    first, later = f"new-{run_id}", f"old-{run_id}"
    stage.model.steps += [
        Step(first, f"echo 'upgrade run {run_id}'"),
        Step(later, f"echo 'rolled back {run_id}'; openclaw --version"),
    ]
    overlay = overlay_copy(stage.user, volumes, OVERLAYS)
    gateway_env = Env(OPENCLAW_MATRIX_HOMESERVER=stage.synapse.url, OPENCLAW_MATRIX_TOKEN=bot.token)
    extra = ["--pod", POD, "-v", f"{overlay}:{OVERLAY_MOUNT}:ro"]
    scenario.fact("old_image", image_facts(runner, stage.old.ref))
    scenario.fact("new_image", image_facts(runner, runner.image))
    try:
        # this release holds a conversation, then stops
        start_gateway(new, name, volumes, gateway_env, extra, scenario, label="new_start")
        room = open_dm(stage.human, bot.user_id, "qa rollback")
        poll_join(stage, room, bot.user_id)
        converse(stage, room, bot.user_id, first, run_id)
        assert stop_and_exit_code(new, name) == 0
        new.remove(name)
        sessions = session_store(volumes)
        scenario.fact("sessions_before_rollback", sessions)
        assert any(keys for keys in sessions.values()), "no session was stored: nothing to protect"
        before = host_tree(volumes.state)

        # the previous release on it: refused in one line, nothing changed
        # named, so that a release that does start (no refusal) is removed below, not left running in the pod
        named = [*extra, "--name", f"{name}-refused"]
        refused = old.run(None, volumes=volumes, env=gateway_env, extra=named, timeout=120)
        # the container's own lines (podman adds its `time="…" level=…` notes, e.g. about health checks)
        lines = [line for line in refused.stderr.splitlines() if line.strip() and not line.startswith("time=")]
        scenario.fact("rollback_exit_code", refused.returncode)
        scenario.fact("rollback_output", lines)
        assert refused.returncode == 78, f"the previous release started on a newer /state: {lines[-3:]}"
        assert len(lines) == 1 and previous() in lines[0] and CONTRACT.openclaw_version in lines[0], lines
        assert f"{ALLOW_DOWNGRADE}=1" in lines[0]
        assert host_tree(volumes.state) == before, "the refused rollback changed /state"

        # with the override: what OpenClaw itself does with the newer state (recorded, not judged)
        allowed = Env({**gateway_env, ALLOW_DOWNGRADE: "1"})
        started = old.start(name, volumes=volumes, env=allowed, extra=extra)
        live = old.wait_live(name, seconds=90) if started.ok else None
        outcome: dict = {"started": started.ok, "live": bool(live and live.ok)}
        if outcome["live"]:
            try:
                reply, _ = ask(stage.human, room, bot.user_id, f"Still there? ({later})", deadline_s=90)
                outcome["reply"] = reply["body"]
                call = next(r for r in stage.model.snapshot() if r["kind"] == f"tool_call:{later}")
                history = call["request"]["messages"][:-1]
                outcome["history_roles_seen_by_model"] = [m.get("role") for m in history]
                outcome["earlier_turn_in_context"] = any(f"upgrade run {run_id}" in json.dumps(m) for m in history)
            except AssertionError as err:
                outcome["reply"] = f"none: {err}"
            outcome["stop_exit_code"] = stop_and_exit_code(old, name)
        else:
            outcome["exit_code"] = old.wait_exit(name, timeout=60)[0] if started.ok else None
        outcome["sessions_after"] = session_store(volumes)
        outcome["log_messages"] = log_messages(logs_text(old, name, volumes))[-25:]
        scenario.fact("with_override", outcome)
    finally:
        record_model_exchanges(scenario, stage.model, run_id)
        runner.remove(f"{name}-refused")
        runner.remove(name)
