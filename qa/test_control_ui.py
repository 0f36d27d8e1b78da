"""The Control UI through the container, in a real browser (issue 14).

OpenClaw's gateway serves its web Control UI on the gateway port. These scenarios open it the way an operator
does, in Debian's headless Chromium driven by Playwright for Python (chosen over Selenium + chromium-driver:
it speaks CDP to the system browser, so no driver binary has to match the browser version and nothing tries to
download one; details in harness/browser.py), against the real image in rootless podman with `-p 127.0.0.1:<free
port>:18789`, and assert every step from what the page shows (DOM text); each step leaves a PNG in the
evidence directory.

What was measured on OpenClaw 2026.6.11 behind podman's port publishing (slirp4netns: the gateway sees the
browser's connections coming from 10.0.2.100, not from loopback):
- **Origins.** The image's template lists `http://127.0.0.1:18789` and `http://localhost:18789` in
  `gateway.controlUi.allowedOrigins` (the two a `bind: lan` gateway would seed itself when the list is empty),
  so the README's runbook (`-p 127.0.0.1:18789:18789`) connects with no overlay (checked by hand; not a test
  here: the host's 18789 may be taken). Published on another host port, or reached under another host name,
  the page loads but the WebSocket is refused: "Browser origin not allowed". The fix is an operator overlay
  listing every full origin the browser uses; OpenClaw's include merge appends them to the template's two.
  No allowlisted env var exists for it; the contract needs none.
- **Device pairing.** A browser on the gateway host (origin and Host both 127.0.0.1/localhost, right token) is
  approved silently: OpenClaw treats a container's published loopback port as local. Under any other name (an
  ingress) the browser is a new remote device: "Device pairing required" with a request ID, approved with
  `podman exec <name> openclaw devices approve <requestId>` (docs/web/control-ui.md), then Connect again.
- An ingress name must also be a secure context (https), else the browser has no WebCrypto and OpenClaw
  refuses the device-less UI (docs/web/control-ui.md, "Insecure HTTP"; not exercised here); the test stands in
  for the ingress's TLS with Chromium's `--unsafely-treat-insecure-origin-as-secure` for that one origin.

The chat step uses the scripted model (harness/model_server.py, the Matrix scenarios' stand-in, labelled as such in
the UI and in evidence) through the operator overlay qa/overlays/20-scripted-model.json5.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request

import pytest

from harness.browser import ControlUi, chromium, chromium_missing
from harness.containers import NO_ENTRY_UID, TEST_TOKEN, free_port, gateway, gateway_up, restricted_runner
from harness.evidence import EVIDENCE_DIR, write_json
from harness.model_server import SCRIPTED_PREFIX, ModelServer, ScriptedModel, Step
from harness.preconditions import cannot_run
from harness.synapse import Netns
from image.paths import REPO
from plumbing.waiting import poll

pytestmark = pytest.mark.container

INGRESS_HOST = "openclaw.qa.test"  # the name an operator's ingress would give the UI; mapped to 127.0.0.1
MODEL_OVERLAY = REPO / "qa" / "overlays" / "20-scripted-model.json5"
CHAT_TRIGGER = "uicheck"  # the scripted model answers a message containing it with an exec of CHAT_COMMAND
CHAT_COMMAND = "jq --version"


@pytest.fixture
def browser_ready():
    reason = chromium_missing()
    if reason:
        cannot_run(reason)


def overlay_dir(qa_user, volumes, origins: list[str], with_model: bool) -> str:
    """The operator overlay: a read-only directory of *.json5 owned by the QA user. 50-control-ui.json5
    is exactly what a user writes to reach the UI under other origins."""
    target = volumes.root / "overlay"
    qa_user.mkdirs(target)
    files = {
        "50-control-ui.json5": (
            "// The browser origins the Control UI is opened from (full origins, scheme://host:port).\n"
            "// They are added to the image's http://127.0.0.1:18789 and http://localhost:18789.\n"
            + json.dumps({"gateway": {"controlUi": {"allowedOrigins": origins}}}, indent=2)
            + "\n"
        )
    }
    if with_model:
        files[MODEL_OVERLAY.name] = MODEL_OVERLAY.read_text()
    for name, text in files.items():
        qa_user.write_file(target / name, text)
    return str(target)


def model_port() -> int:
    """The port qa/overlays/20-scripted-model.json5 points the agent at (inside the container)."""
    return int(re.search(r'baseUrl:\s*"http://127\.0\.0\.1:(\d+)/', MODEL_OVERLAY.read_text()).group(1))


def host_healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read()).get("ok") is True
    except OSError:
        return False


class Steps:
    """Step timings for the evidence."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.last = time.monotonic()

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.scenario.facts.setdefault("step_seconds", {})[step] = round(now - self.last, 1)
        self.last = now


def test_control_ui_operator_flow(runner, volumes, contract, scenario, qa_user, browser_ready):
    """Control UI via the published port, README flags: page, wrong token refused, token, device pairing
    approved with `openclaw devices`, channels' real status, a chat reply, a non-allowed origin refused."""
    name = "qa-ui-flow"
    port = free_port()
    ingress = f"http://{INGRESS_HOST}:{port}"
    allowed = [ingress, f"http://127.0.0.1:{port}"]
    refused = f"http://localhost:{port}"  # loopback too, but not listed: refused like any other origin
    overlay = overlay_dir(qa_user, volumes, allowed, with_model=True)
    overlay_mount = contract.volumes["overlay"]["path"]
    scenario.fact("published", f"127.0.0.1:{port}->{contract.port}")
    scenario.fact("allowed_origins", allowed)
    steps = Steps(scenario)
    server = netns = None
    try:
        gateway_up(
            runner,
            name,
            volumes,
            scenario,
            extra=["-p", f"127.0.0.1:{port}:{contract.port}", "-v", f"{overlay}:{overlay_mount}:ro"],
        )
        ready = time.monotonic()
        poll(lambda: host_healthz(port), 30, f"/healthz on 127.0.0.1:{port}")
        scenario.fact("host_port_ready_s", round(time.monotonic() - ready, 1))
        pid = int(qa_user.podman("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)
        netns = Netns(pid)
        model = ScriptedModel([Step(CHAT_TRIGGER, CHAT_COMMAND)])
        server = ModelServer(netns.listen("127.0.0.1", model_port()), model).start()
        steps.done("gateway_up")

        with chromium(host_map={INGRESS_HOST: "127.0.0.1"}, secure_origins=[ingress]) as browser:
            scenario.fact("browser", f"Debian chromium {browser.version} (headless, Playwright)")
            ui = ControlUi(browser, ingress, scenario)

            # 1. the page loads over the published port; no token yet: the gate asks for one
            status = ui.open("/")
            gate = ui.wait_gate_failure("Auth required")
            scenario.fact("1_page", {"http_status": status, "title": ui.title(), "gate": gate})
            assert status == 200 and ui.title() == "OpenClaw Control"
            assert gate["title"] == "OpenClaw" and gate["sub"] == "Gateway Dashboard"
            ui.screenshot("1-page-loaded")
            steps.done("page_loaded")

            # 2. a wrong token: refused, visibly
            ui.connect("wrong-" + secrets.token_hex(12))
            gate = ui.wait_gate_failure("Auth did not match")
            scenario.fact("2_wrong_token", gate)
            assert gate["kind"] == "auth-failed" and "gateway token mismatch" in gate["raw"], gate
            assert ui.handshakes[-1] == "AUTH_TOKEN_MISMATCH", ui.handshakes
            assert not ui.connected()
            ui.screenshot("2-wrong-token-refused")
            steps.done("wrong_token")

            # 3. the right token is accepted; this new browser is a device the operator must approve
            ui.connect(TEST_TOKEN)
            gate = ui.wait_gate_failure("Device pairing required")
            scenario.fact("3_right_token", gate)
            assert gate["kind"] == "pairing-required" and "pairing required" in gate["raw"], gate
            assert ui.handshakes[-1] == "PAIRING_REQUIRED", ui.handshakes
            shown = re.search(r"openclaw devices approve ([0-9a-f-]{36})", " ".join(gate["steps"]))
            assert shown, gate
            request_id = shown.group(1)
            ui.screenshot("3-pairing-required")
            steps.done("right_token")

            # 4. the operator approves it as the docs say: list, approve by request ID; then Connect
            listing = runner.exec(name, "openclaw devices list --json")
            assert listing.ok, listing.stderr
            pending = {p["requestId"]: p for p in json.loads(listing.stdout)["pending"]}
            assert request_id in pending, (request_id, list(pending))
            device = pending[request_id]
            assert device["clientId"] == "openclaw-control-ui" and device["role"] == "operator"
            scenario.fact("4_pending_request", {k: device.get(k) for k in ("clientId", "role", "scopes", "remoteIp")})
            approve = runner.exec(name, f"openclaw devices approve {request_id}")
            assert approve.ok and f"({request_id})" in approve.stdout, approve.stdout + approve.stderr
            ui.press_connect()
            ui.wait_connected()
            assert ui.handshakes[-1] == "hello-ok", ui.handshakes
            paired = json.loads(runner.exec(name, "openclaw devices list --json").stdout)["paired"]
            assert device["deviceId"] in {d["deviceId"] for d in paired}
            scenario.fact("4_approve", approve.stdout.strip().splitlines())
            ui.screenshot("4-paired-connected")
            steps.done("pairing_approved")

            # 5. channels view: matrix and whatsapp with the status the gateway reports
            ui.open("/channels")
            cards = ui.wait_channel_cards({"WhatsApp", "Matrix"})
            scenario.fact("5_channels_ui", {k: cards[k] for k in ("WhatsApp", "Matrix")})
            cli = runner.exec(name, "openclaw channels status --json")
            assert cli.ok, cli.stderr
            status = json.loads(cli.stdout)["channels"]
            scenario.fact(
                "5_channels_cli",
                {k: {f: v.get(f) for f in ("configured", "linked", "running", "lastError")} for k, v in status.items()},
            )
            wa, mx = cards["WhatsApp"], cards["Matrix"]
            assert wa["status"]["Linked"] == "No" and "not linked" in wa["callout"]
            assert status["whatsapp"]["linked"] is False and status["whatsapp"]["lastError"] == "not linked"
            for ui_label, cli_field in (("Configured", "configured"), ("Running", "running")):
                assert wa["status"][ui_label] == ("Yes" if status["whatsapp"][cli_field] else "No"), ui_label
            # no homeserver/token given: Matrix is loaded but not configured, and says so
            assert status["matrix"]["lastError"] in mx["callout"], (mx, status["matrix"])
            assert mx["accounts"] and mx["accounts"][0]["status"]["Configured"] == (
                "Yes" if status["matrix"]["configured"] else "No"
            )
            ui.screenshot("5-channels")
            steps.done("channels")

            # 6. chat: a message typed in the UI gets the agent's reply (scripted model -> exec tool)
            ui.open("/chat")
            ui.wait_connected()
            ui.send_chat(f"Please run the {CHAT_TRIGGER} for me.")
            expected = runner.exec(name, CHAT_COMMAND).stdout.strip()

            def replied():
                reply = next((t for t in ui.chat_groups("assistant") if SCRIPTED_PREFIX.strip() in t), None)
                return reply if reply and ui.run_status() != "In progress" else None

            reply = poll(replied, 90, "the agent's reply in the chat view, its run finished")
            scenario.fact("6_chat", {"tool": ui.chat_groups("tool"), "reply": reply, "podman_exec": expected})
            assert expected and expected in reply.split("\n"), (reply, expected)
            assert [r["kind"] for r in model.snapshot()][:2] == [f"tool_call:{CHAT_TRIGGER}", "reply_with_tool_output"]
            # the README's screenshot is refreshed from this one by `doit f1_replay` only (pipeline/f1.py)
            ui.screenshot("6-chat-reply")
            steps.done("chat")

            # 7. an origin not in allowedOrigins: the page loads, the gateway refuses its WebSocket
            other = ControlUi(browser, refused, scenario)
            other.open("/")
            gate = other.wait_gate_failure("Browser origin not allowed")
            scenario.fact("7_origin_refused", {"origin": refused, "gate": gate})
            assert gate["kind"] == "origin-not-allowed" and "origin not allowed" in gate["raw"], gate
            assert "gateway.controlUi.allowedOrigins" in " ".join(gate["steps"]), gate
            # the right token does not help: the gateway checks the origin first
            before = len(other.handshakes)
            other.connect(TEST_TOKEN)
            answers = poll(lambda: other.handshakes_since(before), 30, "the answer to the connect with the token")
            other.wait_gate_failure("Browser origin not allowed")
            assert set(answers) == {"CONTROL_UI_ORIGIN_NOT_ALLOWED"}, other.handshakes
            assert not other.connected()
            other.screenshot("7-origin-refused")
            steps.done("origin_refused")
            scenario.fact("handshakes", {"ingress_browser": ui.handshakes, "refused_origin_browser": other.handshakes})
            scenario.fact("page_errors", ui.errors + other.errors)
        runner.stop(name)
    finally:
        if server is not None:
            records = [
                {
                    "kind": r["kind"],
                    "last_message": r["request"].get("messages", [{}])[-1],
                    "response": r["response_message"],
                }
                for r in model.snapshot()
            ]
            write_json(EVIDENCE_DIR / f"{scenario.name}.model-records.json", records)
            server.stop()
        if netns is not None:
            netns.close()
        runner.remove(name)


def test_control_ui_read_only_arbitrary_uid(runner, volumes, contract, scenario, qa_user, browser_ready):
    """Control UI from a read-only root as uid 4243 without passwd entry (cap-drop ALL): the tokenized
    dashboard URL connects (same-host browser: no pairing) and the channels view lists both channels."""
    name = "qa-ui-hardened"
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    overlay = overlay_dir(qa_user, volumes, [origin], with_model=False)
    hardened = restricted_runner(runner, volumes, uid=NO_ENTRY_UID)
    steps = Steps(scenario)
    with gateway(
        hardened,
        name,
        volumes,
        scenario,
        extra=[
            "-p",
            f"127.0.0.1:{port}:{contract.port}",
            "-v",
            f"{overlay}:{contract.volumes['overlay']['path']}:ro",
        ],
    ):
        poll(lambda: host_healthz(port), 30, f"/healthz on 127.0.0.1:{port}")
        ident = hardened.exec(name, "id; touch /probe 2>&1 || true")
        scenario.fact("identity", ident.stdout.strip().splitlines())
        assert ident.stdout.startswith(f"uid={NO_ENTRY_UID} gid={NO_ENTRY_UID}")
        assert "Read-only file system" in ident.stdout
        steps.done("gateway_up")
        with chromium() as browser:
            scenario.fact("browser", f"Debian chromium {browser.version} (headless, Playwright)")
            ui = ControlUi(browser, origin, scenario)
            # the tokenized URL `openclaw dashboard` prints: the token in the fragment, never sent to the server
            ui.open(f"/#token={TEST_TOKEN}")
            ui.wait_connected()
            assert ui.handshakes == ["hello-ok"], ui.handshakes  # no pairing round trip
            assert TEST_TOKEN not in ui.page.url  # the UI strips it from the address bar
            ui.screenshot("1-connected")
            steps.done("connected")
            ui.open("/channels")
            cards = ui.wait_channel_cards({"WhatsApp", "Matrix"})
            scenario.fact(
                "channels_ui",
                {k: {"status": cards[k]["status"], "callout": cards[k]["callout"]} for k in ("WhatsApp", "Matrix")},
            )
            assert cards["WhatsApp"]["status"]["Linked"] == "No" and "not linked" in cards["WhatsApp"]["callout"]
            assert "not configured" in cards["Matrix"]["callout"]
            ui.screenshot("2-channels")
            steps.done("channels")
            scenario.fact("page_errors", ui.errors)
        hardened.stop(name)
