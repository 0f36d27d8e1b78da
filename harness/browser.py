"""A real headless browser for the Control UI scenarios: Debian's Chromium, driven by Playwright for Python.

Why Playwright (PyPI `playwright`, used only as a driver: `executable_path=/usr/bin/chromium`, never
`playwright install`) rather than Selenium + Debian's `chromium-driver`:
- the browser talks to Playwright over the Chrome DevTools Protocol, so nothing has to match the
  browser's version but CDP itself: no chromedriver to keep in step with the chromium package, and no
  Selenium Manager that tries to download a driver when one is missing (this machine's network is closed);
- screenshots, per-profile contexts (a new context = a new browser profile = a new device for OpenClaw's
  pairing) and DOM text reads are one call each; the wheel ships its own node driver, so the install
  is one pip package and the browser is the distribution's.

Everything the scenarios assert is read from the page's DOM text; the waits are `harness.containers.poll`
loops over those reads, each with a deadline.

Chromium runs as root here, so `--no-sandbox`; the other flags keep it off the (closed) network. Two
flags make a test host name behave like an operator's ingress without leaving 127.0.0.1:
`--host-resolver-rules` maps the name to 127.0.0.1 (the published port), and
`--unsafely-treat-insecure-origin-as-secure` gives that http:// origin the secure context a TLS-terminating
ingress would give it (OpenClaw's Control UI needs WebCrypto for its device identity, which browsers only
offer on https:// or localhost).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from harness.evidence import EVIDENCE_DIR, SECRETS, Scenario, redact
from plumbing.waiting import poll

CHROMIUM = Path(os.environ.get("OPENCLAW_NIX_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--no-sandbox",  # root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 800}
ACTION_TIMEOUT_MS = 15_000  # a single click/fill; the scenario's waits are polls with their own deadlines


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        return f"{CHROMIUM} not found (Debian package chromium; run setup/bootstrap.sh)"
    return None


@contextlib.contextmanager
def chromium(host_map: dict[str, str] | None = None, secure_origins: list[str] = ()) -> Iterator[Browser]:
    """Headless Debian Chromium. `host_map` resolves test names (to 127.0.0.1 only); `secure_origins` are
    http:// origins treated as secure contexts, as behind a TLS ingress."""
    args = list(FLAGS)
    if host_map:
        args.append("--host-resolver-rules=" + ", ".join(f"MAP {name} {ip}" for name, ip in host_map.items()))
    if secure_origins:
        args.append("--unsafely-treat-insecure-origin-as-secure=" + ",".join(secure_origins))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ControlUi:
    """One browser profile (to OpenClaw: one device) on one Control UI origin. Every read is DOM text."""

    browser: Browser
    origin: str  # e.g. http://127.0.0.1:PORT
    scenario: Scenario
    page: Page = field(init=False)
    errors: list[str] = field(default_factory=list)
    # the gateway's answers to the UI's WebSocket `connect` requests, in order: "hello-ok" or the error
    # code (e.g. AUTH_TOKEN_MISMATCH); read from frames the browser RECEIVED (the sent ones hold the token)
    handshakes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context = self.browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(ACTION_TIMEOUT_MS)
        self.page.on("pageerror", lambda err: self.errors.append(redact(str(err))[:500]))
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def handshakes_since(self, count: int) -> list[str]:
        """The gateway's answers after the first `count`. Playwright delivers events only while it is
        called, so this makes one cheap call first."""
        self.page.evaluate("0")
        return self.handshakes[count:]

    def _received(self, payload: str | bytes) -> None:
        try:
            frame = json.loads(payload)
        except ValueError:
            return
        if not isinstance(frame, dict) or frame.get("type") != "res":
            return
        if frame.get("ok") and (frame.get("payload") or {}).get("type") == "hello-ok":
            self.handshakes.append("hello-ok")
        elif not frame.get("ok"):
            error = frame.get("error") or {}
            self.handshakes.append((error.get("details") or {}).get("code") or error.get("code") or "error")

    def close(self) -> None:
        self.context.close()

    # --- navigation and the login gate ------------------------------------------------------------
    def open(self, path: str = "/") -> int:
        """Load a page of the UI; the HTTP status of the document."""
        response = self.page.goto(self.origin + path, wait_until="domcontentloaded")
        return response.status if response else 0

    def title(self) -> str:
        return self.page.title()

    def gate(self) -> dict:
        """The login gate as the page shows it: its headline, failure title and failure lines ({} if gone).

        Read in one evaluate call: one snapshot of one render (separate locator reads can straddle a re-render
        and mix two states of the gate)."""
        return self.page.evaluate(
            """() => {
              const gate = document.querySelector('.login-gate');
              if (!gate) return {};
              const texts = (sel) => [...gate.querySelectorAll(sel)].map((e) => e.innerText.trim()).filter(Boolean);
              const failure = gate.querySelector('.login-gate__failure');
              return {
                title: texts('.login-gate__title').join(' '),
                sub: texts('.login-gate__sub').join(' '),
                kind: failure ? failure.getAttribute('data-kind') : null,
                failure: texts('.login-gate__failure-title').join(' '),
                summary: texts('.login-gate__failure-summary').join(' '),
                steps: texts('.login-gate__failure-steps li'),
                // the gateway's own error, in the collapsed "Raw error" (credentials redacted by the UI)
                raw: [...gate.querySelectorAll('.login-gate__failure-raw')].map((e) => e.textContent.trim()).join(' '),
              };
            }"""
        )

    def wait_gate_failure(self, title: str, deadline_s: float = 30) -> dict:
        """Poll until the login gate's failure title reads `title`; the gate then."""
        return poll(
            lambda: (g := self.gate()) and g["failure"] == title and g["kind"] and g["raw"] and g,
            deadline_s,
            f"login gate '{title}' with the gateway's error",
        )

    def connect(self, token: str) -> None:
        """What an operator does on the login gate: paste the token, press Connect."""
        self.page.get_by_label("Gateway Token").fill(token)
        self.page.get_by_role("button", name="Connect", exact=True).click()

    def press_connect(self) -> None:
        self.page.get_by_role("button", name="Connect", exact=True).click()

    def connected(self) -> bool:
        """Past the login gate: the chat composer is on screen."""
        page = self.page
        return page.locator(".login-gate").count() == 0 and page.locator("textarea[placeholder^='Message']").count() > 0

    def wait_connected(self, deadline_s: float = 30) -> None:
        poll(self.connected, deadline_s, "the Control UI past its login gate (chat composer shown)")

    # --- views -----------------------------------------------------------------------------------
    def wait_channel_cards(self, titles: set[str], deadline_s: float = 30) -> dict[str, dict]:
        """The Channels view once it shows a card for each of `titles`."""
        return poll(lambda: (c := self.channel_cards()) and titles <= set(c) and c, deadline_s, f"{titles} cards")

    def channel_cards(self) -> dict[str, dict]:
        """The Channels view: per channel card its status rows, callout and per-account rows."""
        return self.page.evaluate(
            """() => {
              const out = {};
              for (const card of document.querySelectorAll('.card')) {
                const title = card.querySelector(':scope > .card-title');
                if (!title) continue;
                const rows = (list) => {
                  const r = {};
                  if (!list) return r;
                  for (const row of list.querySelectorAll(':scope > div')) {
                    const label = row.querySelector('.label');
                    const spans = row.querySelectorAll('span');
                    if (label && spans.length > 1) r[label.innerText.trim()] = spans[1].innerText.trim();
                  }
                  return r;
                };
                out[title.innerText.trim()] = {
                  sub: (card.querySelector(':scope > .card-sub') || {}).innerText || '',
                  status: rows(card.querySelector(':scope > .status-list')),
                  callout: [...card.querySelectorAll(':scope > .callout')].map(c => c.innerText.trim()),
                  accounts: [...card.querySelectorAll('.account-card')].map(a => ({
                    id: (a.querySelector('.account-card-id') || {}).innerText || '',
                    status: rows(a.querySelector('.status-list')),
                    error: (a.querySelector('.account-card-error') || {}).innerText || '',
                  })),
                };
              }
              return out;
            }"""
        )

    def send_chat(self, text: str) -> None:
        box = self.page.locator("textarea[placeholder^='Message']")
        box.fill(text)
        box.press("Enter")

    def chat_groups(self, role: str) -> list[str]:
        """The text of each chat group of `role` (user, tool, assistant), in order."""
        return [t.strip() for t in self.page.locator(f".chat-group.{role}").all_inner_texts()]

    def run_status(self) -> str:
        """The composer's run status chip ("In progress", "Done", "Interrupted"; "" when none is shown)."""
        return " ".join(t.strip() for t in self.page.locator(".agent-chat__run-status-label").all_inner_texts())

    def body_text(self) -> str:
        return self.page.locator("body").inner_text()

    # --- evidence --------------------------------------------------------------------------------
    def assert_no_secret_on_screen(self) -> None:
        """No registered secret (the gateway token) is readable on the page: not in its text, not in any
        input that is not a password field. Checked before every screenshot (a PNG cannot be redacted)."""
        shown = self.page.evaluate(
            """() => [document.body.innerText,
                      ...[...document.querySelectorAll('input, textarea')]
                          .filter(e => e.type !== 'password').map(e => e.value)].join('\\n')"""
        )
        leaked = [s for s in SECRETS if s and s in shown]
        assert not leaked, "a secret is readable on the page; refusing to take a screenshot"

    def screenshot(self, step: str, directory: Path = EVIDENCE_DIR) -> Path:
        """A PNG of the viewport in the evidence directory, named after the scenario and the step."""
        self.assert_no_secret_on_screen()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.scenario.name}.{step}.png"
        self.page.screenshot(path=str(path))
        self.scenario.facts.setdefault("screenshots", []).append(path.name)
        return path
