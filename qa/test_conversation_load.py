"""Many people talk to the bot at once: no message is lost, and nobody's conversation leaks into another's.

What a small team does to a shared bot, with real parts: a real Synapse, the real image in rootless
podman, the real gateway and Matrix plugin (the stage of harness/matrix_pod.py: a loopback-only pod).
The one stand-in is the SCRIPTED model (harness/model_server.py) in echo mode: it answers each turn
with the tokens of the user messages it was given, so the room shows which messages reached the model.

- USERS people, each in their own DM, send MESSAGES messages each, every one right after the bot's
  reply to the previous one (the moment the previous turn is still finishing), all at once;
- at the same time one more person sends BURST messages back to back without waiting.

Pass: every message's token reaches the model (a turn into which OpenClaw folded several messages
must hold them all) and the room gets the reply to every turn; the gateway logs no lost turn
("conflicted", "handler failed"); every model request carries one person's messages only (its history
included). Recorded: reply latency p50/p95, wall time, the container's RSS before and after.

The overlay is qa/overlays/ plus an allowlist of this run's people; the session scope is the image's
own (the template's `session.dmScope`), which is what is under test.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.containers import Runner, Volumes
from harness.evidence import EVIDENCE_DIR, write_json
from harness.matrix_pod import OVERLAY_MOUNT, logs_text, matrix_pod, open_dm, overlay_copy, start_gateway, timeline
from harness.model_server import ECHO_PREFIX, ScriptedModel, turn_text
from harness.preconditions import require_matrix_pod
from harness.synapse import Client
from plumbing.waiting import poll

pytestmark = pytest.mark.container

POD = "oc-load-pod"
MODEL_PORT = 18090  # qa/overlays/20-scripted-model.json5 points the agent here
SYNAPSE_PORT = 18008
OVERLAY_DIR = Path(__file__).parent / "overlays"
USERS, MESSAGES, BURST = 6, 5, 8
REPLY_DEADLINE_S = 90  # one message's reply (seconds when nothing is lost; a busy 2-core host: tens)
BURST_DEADLINE_S = 240  # all replies to the burst: its turns run one after another
TOKEN = re.compile(r"load-[0-9a-f]{8}-u\d+-m\d+")
LOST_TURN = re.compile(r"conflicted|handler failed")
RSS_SCRIPT = """
import glob, json
rows = []
for path in glob.glob('/proc/[0-9]*/status'):
    try:
        fields = dict(line.split(':', 1) for line in open(path) if ':' in line)
        rows.append((fields['Name'].strip(), int(fields.get('VmRSS', '0 kB').split()[0])))
    except (OSError, KeyError, ValueError):
        pass
print(json.dumps(rows))
"""


@pytest.fixture(scope="module")
def stage(qa_user, image):
    require_matrix_pod()
    model = ScriptedModel([], echo=TOKEN)
    with matrix_pod(qa_user, POD, synapse_port=SYNAPSE_PORT, model_port=MODEL_PORT, model=model) as pod:
        yield pod


def user_of(token: str) -> str:
    return token.split("-")[2]


def replied_tokens(client: Client, room: str, bot: str) -> dict[str, float]:
    """token -> when (monotonic, first seen now) for every token in the bot's echo replies in `room`."""
    now = time.monotonic()
    found = {}
    for row in timeline(client, room):
        if row["type"] == "m.room.message" and row["sender"] == bot and (row.get("body") or "").startswith(ECHO_PREFIX):
            found.update(dict.fromkeys(TOKEN.findall(row["body"]), now))
    return found


def converse(
    client: Client, room: str, bot: str, tokens: list[str], start: threading.Barrier
) -> dict[str, float | None]:
    """Send each message right after the reply to the previous one arrives; token -> latency s (None: lost)."""
    latencies: dict[str, float | None] = {}
    start.wait()
    for token in tokens:
        client.send_text(room, f"Message {token.rsplit('-m', 1)[1]} from me, please confirm: {token}")
        sent = time.monotonic()
        try:
            poll(lambda t=token: t in replied_tokens(client, room, bot), REPLY_DEADLINE_S, token, interval=0.4)
            latencies[token] = time.monotonic() - sent
        except AssertionError:
            latencies[token] = None  # lost: go on with the next message, as a person would
    return latencies


def burst(client: Client, room: str, bot: str, tokens: list[str], start: threading.Barrier) -> dict[str, float | None]:
    """Send every message back to back, then wait for replies that cover them all; token -> latency s."""
    start.wait()
    sent = {}
    for token in tokens:
        client.send_text(room, f"Quick one, {token}")
        sent[token] = time.monotonic()
    seen: dict[str, float] = {}

    def covered():
        for token, when in replied_tokens(client, room, bot).items():
            seen.setdefault(token, when)
        return all(t in seen for t in tokens)

    with contextlib.suppress(AssertionError):  # a timeout leaves the lost ones out of `seen`
        poll(covered, BURST_DEADLINE_S, "replies covering the burst", interval=0.4)
    return {t: (seen[t] - sent[t]) if t in seen else None for t in tokens}


def rss(runner: Runner, name: str) -> dict:
    """Resident memory inside the container: total MB and the largest process."""
    rows = json.loads(runner.exec(name, f"python3 -c {shlex.quote(RSS_SCRIPT)}").stdout or "[]")
    top = max(rows, key=lambda r: r[1], default=("none", 0))
    return {"total_mb": round(sum(r[1] for r in rows) / 1024, 1), "largest": {top[0]: round(top[1] / 1024, 1)}}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def test_conversation_load(stage, runner: Runner, volumes: Volumes, scenario):
    """Six people in their own DMs, five messages each right after each reply, plus an eight-message burst,
    all at once: every message reaches the model and is answered, no turn is lost, no history is shared."""
    run_id = secrets.token_hex(4)
    name = "oc-load-gw"
    runner = Runner(runner.user, runner.image, scenario, identity=["--user", f"{stage.user.uid}:{stage.user.gid}"])
    bot = stage.synapse.register(f"bot-load-{run_id}")
    people = [stage.synapse.register(f"load-{run_id}-u{i}") for i in range(1, USERS + 2)]
    allow = {"channels": {"matrix": {"dm": {"allowFrom": [p.user_id for p in people]}}}}
    sources = sorted(OVERLAY_DIR.glob("*.json5"))
    overlay = overlay_copy(stage.user, volumes, sources, {"30-load-people.json5": json.dumps(allow, indent=2)})
    env = {"OPENCLAW_MATRIX_HOMESERVER": stage.synapse.url, "OPENCLAW_MATRIX_TOKEN": bot.token}
    extra = ["--pod", POD, "-v", f"{overlay}:{OVERLAY_MOUNT}:ro"]
    scenario.fact("scripted_model", f"harness/model_server.py (echo) on 127.0.0.1:{MODEL_PORT} in pod {POD} (stand-in)")
    scenario.fact("load", {"users": USERS, "messages_each": MESSAGES, "burst": BURST})
    records: list[dict] = []
    try:
        start_gateway(runner, name, volumes, env, extra, scenario)
        rooms = [open_dm(p, bot.user_id, f"load {i}") for i, p in enumerate(people, 1)]
        for person, room in zip(people, rooms, strict=True):
            poll(lambda c=person, r=room: bot.user_id in c.joined_members(r), 90, "the bot joining every DM", 0.4)
        scenario.fact("rss_before", rss(runner, name))
        plan = {i: [f"load-{run_id}-u{i}-m{m}" for m in range(1, MESSAGES + 1)] for i in range(1, USERS + 1)}
        plan[USERS + 1] = [f"load-{run_id}-u{USERS + 1}-m{m}" for m in range(1, BURST + 1)]
        start = threading.Barrier(USERS + 1)
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=USERS + 1) as pool:
            jobs = [
                pool.submit(converse if i <= USERS else burst, people[i - 1], rooms[i - 1], bot.user_id, tokens, start)
                for i, tokens in plan.items()
            ]
            latencies = {k: v for job in jobs for k, v in job.result().items()}
        scenario.fact("wall_s", round(time.monotonic() - began, 1))
        scenario.fact("rss_after", rss(runner, name))
        answered = [v for v in latencies.values() if v is not None]
        lost = sorted(t for t, v in latencies.items() if v is None)
        scenario.fact("messages", {"sent": len(latencies), "answered": len(answered), "lost": lost})
        burst_user = f"u{USERS + 1}"
        for label, chosen in (("all", lambda t: True), ("back_to_back", lambda t: user_of(t) != burst_user)):
            values = [v for t, v in latencies.items() if v is not None and chosen(t)]
            scenario.fact(f"reply_latency_s_{label}", {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95)})
        # a burst's messages queue behind each other in their session: the last waits for all turns before it
        scenario.fact(
            "burst_reply_latency_s", [None if v is None else round(v, 1) for v in latencies.values()][-BURST:]
        )

        records = [r for r in stage.model.snapshot() if TOKEN.search(json.dumps(r["request"].get("messages", [])))]
        turns = [TOKEN.findall(turn_text(r["request"]["messages"])) for r in records]
        reached = {t for turn in turns for t in turn}
        histories = [sorted({user_of(t) for t in TOKEN.findall(json.dumps(r["request"]["messages"]))}) for r in records]
        shared = [h for h in histories if len(h) > 1]
        replied = {p.user_id: replied_tokens(p, room, bot.user_id) for p, room in zip(people, rooms, strict=True)}
        unanswered_turns = [
            turn
            for turn in turns
            if turn and not all(t in replied[people[int(user_of(t)[1:]) - 1].user_id] for t in turn)
        ]
        log = logs_text(runner, name, volumes)
        lost_lines = [line[:300] for line in log.splitlines() if LOST_TURN.search(line)]
        scenario.fact(
            "model",
            {
                "requests": len(records),
                "turns_folding_several_messages": sum(len(t) > 1 for t in turns),
                "requests_with_other_peoples_history": len(shared),
                "messages_not_reaching_the_model": sorted(set(latencies) - reached),
                "turns_without_reply_in_the_room": unanswered_turns,
            },
        )
        scenario.fact("log_lost_turn_lines", {"count": len(lost_lines), "first": lost_lines[:4]})
        scenario.fact("log_session_init_retries", sum("session init retry" in line for line in log.splitlines()))

        assert lost == [], f"{len(lost)} of {len(latencies)} messages never answered: {lost}"
        assert set(latencies) <= reached, f"messages that never reached the model: {sorted(set(latencies) - reached)}"
        assert unanswered_turns == [], "model turns whose reply never reached the room"
        assert lost_lines == [], lost_lines[:4]
        assert shared == [], f"{len(shared)} of {len(records)} model requests carry other people's messages"
    finally:
        write_json(
            EVIDENCE_DIR / f"{scenario.name}.model-records.json",
            {
                "label": "SCRIPTED model (harness/model_server.py, echo): per request the turn's tokens, whose "
                "messages its history holds, the scripted answer",
                "records": [
                    {
                        "kind": r["kind"],
                        "turn": TOKEN.findall(turn_text(r["request"]["messages"])),
                        "history_users": sorted(
                            {user_of(t) for t in TOKEN.findall(json.dumps(r["request"]["messages"]))}
                        ),
                        "messages": len(r["request"]["messages"]),
                        "response": r["response_message"].get("content"),
                        "seconds": round(r["answered"] - r["received"], 3),
                    }
                    for r in records
                ],
            },
        )
        scenario.notes.append(f"per-request model summary: {scenario.name}.model-records.json")
        scenario.add(runner.user.podman("logs", "--tail", "60", name))
        runner.remove(name)
