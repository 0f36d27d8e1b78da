"""Bundled OpenClaw plugins the template turns off (they can do nothing in the image as shipped) stay
off in the running gateway, and an operator overlay turns one back on: the documented way back."""

from __future__ import annotations

import re
import shutil

import json5
import pytest

from harness.containers import CONTRACT, gateway
from plumbing.waiting import poll

pytestmark = pytest.mark.container
OVERLAY = CONTRACT.volumes["overlay"]["path"]
# The gateway's own log line once it listens: "listening (9 plugins: browser, canvas, ...; 3.5s)"
LISTENING = re.compile(r"listening \(\d+ plugins: ([^;)]*)")


def turned_off() -> list[str]:
    """The plugin ids the shipped template disables (read from it, not assumed)."""
    entries = json5.loads(CONTRACT.template_path.read_text())["plugins"]["entries"]
    return sorted(k for k, v in entries.items() if v.get("enabled") is False)


def started_plugins(volumes) -> list[str] | None:
    log = volumes.logs / "openclaw.log"
    found = LISTENING.findall(log.read_text(errors="replace")) if log.exists() else []
    return sorted(p.strip() for p in found[-1].split(",")) if found else None


def overlay(volumes, plugin_ids: list[str]) -> list[str]:
    path = volumes.root / "enable-plugins.json5"
    path.write_text("{ plugins: { entries: {" + ", ".join(f"{p}: {{ enabled: true }}" for p in plugin_ids) + "} } }\n")
    path.chmod(0o644)
    shutil.chown(path, volumes.state.owner(), volumes.state.group())
    return ["-v", f"{path}:{OVERLAY}:ro"]


def test_template_turns_idle_bundled_plugins_off_and_an_overlay_turns_them_on(runner, volumes, scenario):
    """What the template turns off does not start; the same plugins start with an overlay enabling them."""
    off = turned_off()
    if not off:
        pytest.skip("not run: the template turns no bundled plugin off")
    with gateway(runner, "qa-bundled-off", volumes, scenario):
        plain = poll(lambda: started_plugins(volumes), 60, "the gateway's listening line")
    scenario.fact("started_without_overlay", plain)
    assert not set(off) & set(plain), f"{off} disabled in the template but started: {plain}"
    assert set(CONTRACT.plugins) <= set(plain), "the baked channel plugins must still start"
    (volumes.logs / "openclaw.log").unlink()
    with gateway(runner, "qa-bundled-on", volumes, scenario, extra=overlay(volumes, off)):
        enabled = poll(lambda: started_plugins(volumes), 90, "the gateway's listening line with the overlay")
    scenario.fact("started_with_overlay", enabled)
    assert set(off) <= set(enabled), f"the overlay enabled {off}, the gateway started {enabled}"
