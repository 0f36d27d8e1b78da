"""Reading a Matrix conversation with the scripted model: the bot's replies in a room, asking and waiting,
and the model's records as evidence (what OpenClaw sent it, turn by turn).

Shared by the scenarios that talk to the gateway over Matrix (qa/test_matrix.py, qa/test_upgrade.py).
"""

from __future__ import annotations

import hashlib
import json
import time

from harness.evidence import EVIDENCE_DIR, Scenario, write_json
from harness.matrix_pod import timeline
from harness.model_server import SCRIPTED_PREFIX, ScriptedModel
from harness.synapse import Client
from plumbing.waiting import poll


def bot_messages(rows: list[dict], bot: str, after_event: str) -> list[dict]:
    ids = [r["event_id"] for r in rows]
    start = ids.index(after_event) + 1 if after_event in ids else len(rows)
    return [r for r in rows[start:] if r["type"] == "m.room.message" and r["sender"] == bot]


def scripted_replies(human: Client, room: str, bot: str, after_event: str) -> list[dict]:
    """The bot's scripted replies in `room` after `after_event`."""
    msgs = bot_messages(timeline(human, room), bot, after_event)
    return [m for m in msgs if (m.get("body") or "").startswith(SCRIPTED_PREFIX.strip()[:16])]


def await_reply(human: Client, room: str, bot: str, sent: str, deadline_s: float = 120) -> dict:
    """Poll the room until the bot's scripted reply to event `sent` appears."""
    return poll(lambda: next(iter(scripted_replies(human, room, bot, sent)), None), deadline_s, "the bot's reply")


def ask(human: Client, room: str, bot: str, text: str, deadline_s: float = 120) -> tuple[dict, float]:
    """Send `text` as the human; poll the room until the bot's scripted reply appears. (reply, latency s)"""
    sent = human.send_text(room, text)
    started = time.monotonic()
    reply = await_reply(human, room, bot, sent, deadline_s)
    return reply, time.monotonic() - started


def bot_joins(human: Client, room: str, bot: str) -> int:
    """How often the bot joined `room` (a restart or upgrade must not make it join again)."""
    return sum(
        1
        for r in timeline(human, room)
        if r["type"] == "m.room.member" and r["state_key"] == bot and r["membership"] == "join"
    )


def in_conversation(record: dict, run_id: str) -> bool:
    return run_id in json.dumps(record["request"].get("messages", []))


def compact(record: dict) -> dict:
    last = record["request"].get("messages", [{}])[-1]
    return {
        "kind": record["kind"],
        "stream": record["stream"],
        "last_message": {"role": last.get("role"), "content": last.get("content")},
        "response": record["response_message"],
        "seconds": round(record["answered"] - record["received"], 3),
    }


def records_for_evidence(records: list[dict]) -> list[dict]:
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


def record_model_exchanges(scenario: Scenario, model: ScriptedModel, run_id: str) -> None:
    """The scenario's model exchanges: compact in its facts, every request in full beside its evidence."""
    mine = [r for r in model.snapshot() if in_conversation(r, run_id)]
    scenario.fact("model_exchanges", [compact(r) for r in mine])
    write_json(
        EVIDENCE_DIR / f"{scenario.name}.model-records.json",
        {
            "label": "SCRIPTED model (harness/model_server.py): each request OpenClaw sent, the scripted answer",
            "records": records_for_evidence(mine),
        },
    )
    scenario.notes.append(f"full scripted-model requests/responses: {scenario.name}.model-records.json")
