"""A full /state must not look healthy: the image's signals while /state cannot take a write, and recovery.

OpenClaw's own /healthz and /readyz do not look at the disk: with /state full they keep answering live
and ready while the gateway's writes fail. The image's probe command (entry/openclaw_nix_probe.py) is
what its HEALTHCHECK and the Kubernetes probes run; this scenario checks what each signal says in three
phases, with real parts (a real Synapse, the real image in rootless podman, the real gateway and Matrix
plugin; the one stand-in is the SCRIPTED model of harness/model_server.py in echo mode):

- before: a DM conversation; every signal passes;
- full: /state is a small tmpfs that a runaway writer inside the container keeps full (it takes any
  space that appears within 10 ms); the HEALTHCHECK is unhealthy and `ready` fails naming /state, while `live` and
  /healthz still pass (no restart: it would free nothing); what OpenClaw's /readyz and the gateway do
  with a message sent meanwhile are recorded;
- freed: the writer stops and its file goes; the HEALTHCHECK and `ready` pass again within a minute;
  nothing of /state is lost (every file from before is there, the config unchanged) and a new message
  is answered with the earlier conversation still in the session the model receives.

Run as the README's identity (keep-id) and as Kubernetes does (read-only root, uid without a passwd entry).
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
from pathlib import Path

import pytest

from harness.containers import CONTRACT, NO_ENTRY_UID, Runner, Volumes, restricted_runner
from harness.evidence import EVIDENCE_DIR, write_json
from harness.matrix_pod import OVERLAY_MOUNT, logs_text, matrix_pod, open_dm, overlay_copy, start_gateway, timeline
from harness.model_server import ECHO_PREFIX, ScriptedModel
from harness.preconditions import require_matrix_pod
from plumbing.waiting import poll

pytestmark = pytest.mark.container

POD = "oc-fullstate-pod"
MODEL_PORT = 18090  # qa/overlays/20-scripted-model.json5 points the agent here
SYNAPSE_PORT = 18008
HUMAN = "human"  # qa/overlays/10-matrix.json5 allows exactly @human:<SERVER_NAME>
OVERLAY_DIR = Path(__file__).parent / "overlays"
TOKEN = re.compile(r"fs-[0-9a-f]{8}-m\d")
STATE = CONTRACT.volumes["state"]["path"]
# Room for what a start and a few turns write to /state (measured: node's compile cache is most of it).
STATE_TMPFS_MB = 256
FILLER = f"{STATE}/qa-filler"
PID_FILE = "/tmp/qa-filler.pid"
# A runaway writer: one process appending to a file on /state, retrying every 10 ms after ENOSPC, so any
# space the gateway frees meanwhile (a file replaced by rename, a journal trimmed) is taken again at once
# and /state stays full, as when something real keeps writing.
WRITER = (
    "import os, time\n"
    f"fd = os.open({FILLER!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)\n"
    "while True:\n"
    "    try:\n"
    "        os.write(fd, bytes(65536))\n"
    "    except OSError:\n"
    "        time.sleep(0.01)\n"
)
RUNAWAY = f"echo $$ > {PID_FILE}; exec python3 -c {shlex.quote(WRITER)}"
NO_REPLY_WHILE_FULL_S = 45  # how long a message sent while full is watched (it may or may not be answered)
RECOVERY_S = 60  # the HEALTHCHECK passes again within this after space is freed
PROBE = CONTRACT.probe["command"]


@pytest.fixture(scope="module")
def stage(qa_user, image):
    require_matrix_pod()
    model = ScriptedModel([], echo=TOKEN)
    with matrix_pod(qa_user, POD, synapse_port=SYNAPSE_PORT, model_port=MODEL_PORT, model=model) as pod:
        yield pod


@pytest.fixture(scope="module")
def human(stage):
    """The one person the overlay lets talk to the bot (registered once per homeserver)."""
    return stage.synapse.register(HUMAN)


def signals(runner: Runner, name: str) -> dict:
    """Every health signal at one moment: the image HEALTHCHECK (podman runs the image config's test), the
    probe command's `live` and `ready`, and OpenClaw's own /healthz and /readyz (from inside the pod)."""
    healthcheck = runner.user.podman("healthcheck", "run", name, timeout=60)
    port, probe = CONTRACT.port, CONTRACT.probe
    script = (
        f'for m in live ready; do out=$({PROBE} "$m" 2>&1); echo "$m $? $out"; done; '
        f"echo \"healthz $(curl -s -o /dev/null -w '%{{http_code}}' --max-time 4 "
        f'http://127.0.0.1:{port}{probe["live_path"]})"; '
        f"echo \"readyz $(curl -s -w ' %{{http_code}}' --max-time 4 http://127.0.0.1:{port}{probe['ready_path']})\"; "
        f'echo "df $(df -k {STATE} | tail -n 1 | awk \'{{print $4" KiB free, "$5" used"}}\')"'
    )
    seen = runner.exec(name, script, timeout=60)
    lines = dict(line.split(" ", 1) for line in seen.stdout.splitlines() if " " in line)
    rc = {m: int(lines.get(m, "-1 ?").split(" ", 1)[0]) for m in ("live", "ready")}
    readyz_body, _, readyz_status = lines.get("readyz", "").rpartition(" ")
    return {
        # podman 4.3 prints nothing when healthy (exit 0) and "unhealthy" with exit 1
        "healthcheck": {"rc": healthcheck.returncode, "out": (healthcheck.stdout + healthcheck.stderr).strip()},
        "probe_live": {"rc": rc["live"], "out": lines.get("live", "").split(" ", 1)[-1]},
        "probe_ready": {"rc": rc["ready"], "out": lines.get("ready", "").split(" ", 1)[-1]},
        "healthz": lines.get("healthz"),
        "readyz": {"status": readyz_status, "body": readyz_body},
        "state": lines.get("df"),
    }


def state_files(runner: Runner, name: str) -> dict[str, str]:
    """/state's files (not the filler) -> sha256, read inside the container (a tmpfs the host cannot see;
    not added to the evidence: node's compile cache alone is a thousand files)."""
    script = f"cd {STATE} && find . -type f ! -path ./{Path(FILLER).name} -exec sha256sum {{}} + | sort -k 2"
    listing = runner.user.podman("exec", name, "sh", "-c", script, timeout=120)
    assert listing.ok, listing.stderr
    return {
        path.removeprefix("./"): digest
        for digest, path in (line.split(None, 1) for line in listing.stdout.splitlines())
    }


def reply_to(human, room: str, bot: str, sent: str, token: str) -> dict | None:
    """The bot's echo reply carrying `token`, after event `sent`, or None."""
    rows = timeline(human, room)
    ids = [r["event_id"] for r in rows]
    after = rows[ids.index(sent) + 1 :] if sent in ids else []
    return next(
        (
            r
            for r in after
            if r["type"] == "m.room.message"
            and r["sender"] == bot
            and token in (r.get("body") or "")
            and (r.get("body") or "").startswith(ECHO_PREFIX)
        ),
        None,
    )


IDENTITIES = ("keep_id", "readonly_uid4243")


@pytest.mark.parametrize("identity", IDENTITIES)
def test_full_state_is_not_healthy_and_recovers(stage, human, runner: Runner, volumes: Volumes, scenario, identity):
    """/state full (a runaway writer on a small tmpfs): HEALTHCHECK unhealthy, readiness false naming /state,
    liveness and /healthz still pass; freed: healthy and ready again, nothing lost, a new message answered
    with the earlier conversation in the session."""
    run_id = secrets.token_hex(4)
    name = f"oc-fullstate-{identity.replace('_', '-')}"
    if identity == "keep_id":  # the README's identity; the pod holds --userns=keep-id
        runner = Runner(
            runner.user, runner.image, scenario, identity=["--user", f"{runner.user.uid}:{runner.user.gid}"]
        )
    else:
        runner = restricted_runner(runner, volumes, uid=NO_ENTRY_UID)
    bot = stage.synapse.register(f"bot-fs-{identity.replace('_', '-')}-{run_id}")
    tokens = [f"fs-{run_id}-m{i}" for i in (1, 2, 3)]
    overlay = overlay_copy(runner.user, volumes, sorted(OVERLAY_DIR.glob("*.json5")))
    env = {"OPENCLAW_MATRIX_HOMESERVER": stage.synapse.url, "OPENCLAW_MATRIX_TOKEN": bot.token}
    tmpfs = f"type=tmpfs,destination={STATE},tmpfs-size={STATE_TMPFS_MB}m,tmpfs-mode=1777"
    logs = f"{volumes.logs}:{CONTRACT.volumes['logs']['path']}"
    extra = ["--pod", POD, "--mount", tmpfs, "-v", logs, "-v", f"{overlay}:{OVERLAY_MOUNT}:ro"]
    scenario.fact("scripted_model", f"harness/model_server.py on 127.0.0.1:{MODEL_PORT} in pod {POD} (stand-in)")
    scenario.fact("state_volume", f"tmpfs of {STATE_TMPFS_MB} MiB at {STATE}; kept full by: {RUNAWAY}")
    phases: dict[str, dict] = {}
    try:
        start_gateway(runner, name, None, env, extra, scenario)
        room = open_dm(human, bot.user_id, f"qa full state {identity}")
        poll(lambda: bot.user_id in human.joined_members(room), 90, "the bot auto-joining the DM", interval=0.2)
        first = human.send_text(room, f"Before the disk fills up: {tokens[0]}")
        poll(lambda: reply_to(human, room, bot.user_id, first, tokens[0]), 120, "the reply before the fill")
        phases["before"] = before = signals(runner, name)
        files_before = state_files(runner, name)
        config_before = runner.exec(name, f"sha256sum {CONTRACT.env['OPENCLAW_CONFIG_PATH']}").stdout.split()[0]
        scenario.fact("state_files_before", len(files_before))
        assert before["healthcheck"]["rc"] == 0 and before["healthz"] == "200", before

        filler = runner.scenario.add(runner.user.podman("exec", "-d", name, "sh", "-c", RUNAWAY))
        assert filler.ok, filler.stderr
        poll(
            lambda: runner.exec(name, f"df -k {STATE} | tail -n 1").stdout.split()[3:4] == ["0"],
            60,
            f"{STATE} full",
        )
        phases["full"] = full = signals(runner, name)
        # the image's verdicts: unhealthy (its HEALTHCHECK) and not ready (the readiness probe's command),
        # naming /state, where both passed before; the process is still live
        assert full["healthcheck"]["rc"] != 0 and "unhealthy" in full["healthcheck"]["out"], full["healthcheck"]
        assert before["probe_ready"]["rc"] == 0 and before["probe_live"]["rc"] == 0, before
        assert full["probe_ready"]["rc"] != 0 and STATE in full["probe_ready"]["out"], full["probe_ready"]
        assert full["probe_live"]["rc"] == 0 and full["healthz"] == "200", full
        # what a message sent meanwhile gets, and what the gateway logged (recorded, OpenClaw's behaviour)
        during = human.send_text(room, f"While the disk is full: {tokens[1]}")
        try:
            reply = poll(
                lambda: reply_to(human, room, bot.user_id, during, tokens[1]),
                NO_REPLY_WHILE_FULL_S,
                "a reply while full",
            )
        except AssertionError:
            reply = None
        scenario.fact("reply_while_full", reply and reply.get("body"))
        phases["full_after_message"] = signals(runner, name)

        freed = runner.exec(name, f"kill $(cat {PID_FILE}); rm -f {FILLER}; df -k {STATE} | tail -n 1")
        assert freed.ok, freed.stderr
        recovered = poll(
            lambda: (s := signals(runner, name))["healthcheck"]["rc"] == 0 and s["probe_ready"]["rc"] == 0 and s,
            RECOVERY_S,
            "healthy and ready again after freeing /state",
            interval=2,
        )
        phases["freed"] = recovered

        last = human.send_text(room, f"After freeing the disk: {tokens[2]}")
        poll(lambda: reply_to(human, room, bot.user_id, last, tokens[2]), 120, "the reply after freeing /state")
        files_after = state_files(runner, name)
        missing = sorted(set(files_before) - set(files_after))
        scenario.fact("state_files_missing_after", missing)
        config_after = runner.exec(name, f"sha256sum {CONTRACT.env['OPENCLAW_CONFIG_PATH']}").stdout.split()[0]
        assert missing == [], missing
        assert config_after == config_before
        # the session kept the conversation from before the fill: the model receives it with the new turn
        requests = [r for r in stage.model.snapshot() if tokens[2] in json.dumps(r["request"].get("messages", []))]
        assert requests, "no model request carries the message sent after freeing /state"
        history = json.dumps(requests[-1]["request"]["messages"][:-1])
        scenario.fact("history_after_freeing_has_first_message", tokens[0] in history)
        scenario.fact("history_after_freeing_has_message_sent_while_full", tokens[1] in history)
        assert tokens[0] in history, "the conversation from before the fill is not in the session"
        scenario.fact(
            "message_sent_while_full_answered_by_the_end",
            reply_to(human, room, bot.user_id, during, tokens[1]) is not None,
        )
        log = logs_text(runner, name, volumes)
        scenario.fact("enospc_log_lines", [line[:400] for line in log.splitlines() if "ENOSPC" in line][:5])
    finally:
        scenario.fact("signals", phases)
        write_json(
            EVIDENCE_DIR / f"{scenario.name}.model-records.json",
            {
                "label": "SCRIPTED model (harness/model_server.py): each request OpenClaw sent, the scripted answer",
                "records": [
                    r for r in stage.model.snapshot() if run_id in json.dumps(r["request"].get("messages", []))
                ],
            },
        )
        scenario.add(runner.user.podman("logs", "--tail", "60", name))
        runner.user.podman("exec", name, "sh", "-c", f"kill $(cat {PID_FILE}) 2>/dev/null; rm -f {shlex.quote(FILLER)}")
        runner.remove(name)
