"""A SCRIPTED OpenAI-compatible chat-completions endpoint: the only stand-in in the Matrix scenarios.

No model provider is reachable from the test machines, so the agent's model is this server. It is
labelled "scripted" everywhere (provider id `scripted`, model `scripted-model`, every reply starts
with SCRIPTED_PREFIX) so no evidence can be mistaken for a real model's work. Everything else in the
conversation is real: Synapse, the gateway, the Matrix plugin, the agent loop, the exec tool and the
toolchain inside the container.

The script, keyed on the conversation (not on request order, so an extra request from OpenClaw
cannot shift it):
- the last message is a user message containing a step's trigger -> answer with ONE tool call to
  the shell tool (`SHELL_TOOL`, the name OpenClaw 2026.6.11 offers; checked against the request's
  `tools`) running that step's command;
- the last message is a tool result -> answer with text: SCRIPTED_PREFIX + the tool output exactly
  as received;
- with `echo` set (a regex), a user turn no step matched -> text: ECHO_PREFIX + every match of `echo`
  in the turn's user messages (those after the last non-user message: a turn OpenClaw folded from
  several channel messages is answered with all their tokens), in order, space-separated;
- anything else -> a short text saying no step matched (recorded as unmatched).

Streaming (`"stream": true`, what OpenClaw's openai-completions adapter sends) is answered as
server-sent events of `chat.completion.chunk`s, ending in `data: [DONE]`; non-streaming requests get
one `chat.completion`. `GET /v1/models` lists the model. Every request and response is recorded
(`records`, `dump()`).

Stdlib only. The listening socket is passed in, so the caller decides the network namespace (the
Matrix scenarios create it inside the pod's loopback-only netns, see harness/synapse.py).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.evidence import write_json

MODEL_ID = "scripted-model"
SCRIPTED_PREFIX = "[scripted model] tool output:\n"
ECHO_PREFIX = "[scripted model] received:"
# The shell-execution tool OpenClaw 2026.6.11 offers the model, read from the recorded `tools` of a
# Matrix DM turn (default tool policy): agents_list apply_patch browser canvas create_goal cron dir_fetch
# dir_list edit exec file_fetch file_write gateway get_goal memory_get memory_search message nodes
# process read session_status sessions_* skill_workshop subagents tts update_goal web_fetch web_search
# write. `exec` takes {"command": ...} and runs on the gateway host (here: inside the container).
SHELL_TOOL = "exec"


@dataclass(frozen=True)
class Step:
    trigger: str  # a word the user's message contains
    command: str  # the shell command the tool call asks OpenClaw to run


class ScriptedModel:
    """The script and the record of every exchange; thread-safe."""

    def __init__(self, steps: list[Step], echo: re.Pattern | None = None):
        self.steps = steps
        self.echo = echo
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self.calls = 0

    def answer(self, body: dict) -> tuple[dict, str]:
        """(message to return, kind) for one chat-completions request body."""
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        role = last.get("role")
        offered = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        if role == "tool":
            output = _text(last.get("content"))
            return {"role": "assistant", "content": SCRIPTED_PREFIX + output}, "reply_with_tool_output"
        if role == "user":
            text = _text(last.get("content"))
            for step in self.steps:
                if step.trigger in text:
                    if SHELL_TOOL not in offered:
                        return {
                            "role": "assistant",
                            "content": f"[scripted model] the request offers no '{SHELL_TOOL}' tool: {offered}",
                        }, "no_shell_tool"
                    with self.lock:
                        self.calls += 1
                        call_id = f"call_scripted_{self.calls}"
                    return {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": call_id,
                                "type": "function",
                                "function": {"name": SHELL_TOOL, "arguments": json.dumps({"command": step.command})},
                            }
                        ],
                    }, f"tool_call:{step.trigger}"
            tokens = self.echo.findall(turn_text(messages)) if self.echo else []
            if tokens:
                return {"role": "assistant", "content": " ".join([ECHO_PREFIX, *tokens])}, "echo"
        return {"role": "assistant", "content": "[scripted model] no script step matched this request."}, "unmatched"

    def record(self, entry: dict) -> None:
        with self.lock:
            self.records.append(entry)

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.records)

    def dump(self, path: Path) -> None:
        write_json(path, self.snapshot())


def turn_text(messages: list[dict]) -> str:
    """The text of the current user turn: the user messages after the last message of another role."""
    turn: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "user":
            break
        turn.insert(0, _text(message.get("content")))
    return "\n".join(turn)


def _text(content) -> str:
    """A message's content as text (string, or a list of {type: text} parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return json.dumps(content)


def chunks(message: dict, model: str, completion_id: str, created: int, usage: bool) -> list[dict]:
    """The chat.completion.chunk sequence that streams `message`."""

    def chunk(delta: dict, finish: str | None) -> dict:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    out = [chunk({"role": "assistant", "content": ""}, None)]
    if message.get("tool_calls"):
        for index, call in enumerate(message["tool_calls"]):
            out.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call["id"],
                                "type": "function",
                                "function": {
                                    "name": call["function"]["name"],
                                    "arguments": call["function"]["arguments"],
                                },
                            }
                        ]
                    },
                    None,
                )
            )
        out.append(chunk({}, "tool_calls"))
    else:
        out.append(chunk({"content": message["content"]}, None))
        out.append(chunk({}, "stop"))
    if usage:
        out.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
    return out


class Handler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: everything is in the records
        pass

    def _json(self, status: int, data: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "scripted"}]})
        else:
            self._json(404, {"error": {"message": f"scripted model server: no {self.path}"}})

    def do_POST(self):
        received = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"scripted model server: no {self.path}"}})
            return
        body = json.loads(raw or b"{}")
        script = self.server.script
        message, kind = script.answer(body)
        created = int(received)
        completion_id = f"chatcmpl-scripted-{len(script.records) + 1}"
        model = body.get("model") or MODEL_ID
        entry = {
            "received": received,
            "path": self.path,
            "stream": bool(body.get("stream")),
            "kind": kind,
            "request": body,
            "tools_offered": [t.get("function", {}).get("name") for t in body.get("tools") or []],
            "response_message": message,
        }
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for item in chunks(message, model, completion_id, created, usage):
                self.wfile.write(b"data: " + json.dumps(item).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
        else:
            finish = "tool_calls" if message.get("tool_calls") else "stop"
            self._json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )
        entry["answered"] = time.time()
        script.record(entry)


class ModelServer(ThreadingHTTPServer):
    """Serves `script` on an already bound and listening socket (the caller picks the namespace)."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, script: ScriptedModel):
        super().__init__(sock.getsockname()[:2], Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.script = script
        self.thread: threading.Thread | None = None

    def start(self) -> ModelServer:
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def main() -> None:  # manual use: python -m harness.model_server [PORT] (host loopback); records on ^C
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18090
    script = ScriptedModel([Step("toolchain", "jq --version; git --version")])
    server = ModelServer(socket.create_server(("127.0.0.1", port)), script)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
        print(json.dumps(script.snapshot(), indent=2))


if __name__ == "__main__":
    main()
