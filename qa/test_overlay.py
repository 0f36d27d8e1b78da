"""The operator config overlay in the real image: merged at every start, refused before the gateway
starts when bad, gone when unmounted. The Matrix-only overlay is the one deploy/k8s ships."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from harness.containers import CONTRACT, TEST_TOKEN, free_port, gateway
from harness.k8s import K8S_DIR
from plumbing.waiting import poll

pytestmark = pytest.mark.container
MATRIX_ONLY = K8S_DIR / "config-overlay" / "matrix-only.json5"
OVERLAY = CONTRACT.volumes["overlay"]["path"]


def mount(volumes, source_text: str, name: str = "overlay.json5") -> list[str]:
    """Write an overlay file next to the volumes (readable by the QA user) and mount it read-only."""
    path = volumes.root / name
    path.write_text(source_text)
    path.chmod(0o644)
    shutil.chown(path, volumes.state.owner(), volumes.state.group())
    return ["-v", f"{path}:{OVERLAY}:ro"]


def readyz(port: int) -> dict | None:
    """/readyz with the token: OpenClaw lists the failing channels only to an authenticated caller."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/readyz", headers={"Authorization": f"Bearer {TEST_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read())
    except OSError as err:
        body = getattr(err, "read", lambda: b"")()
        return json.loads(body) if body else None


def test_matrix_only_overlay_makes_readyz_ready_and_unmounting_restores_the_template(runner, volumes, scenario):
    """deploy/k8s's Matrix-only overlay turns WhatsApp off: /readyz ready; without it, exactly the template."""
    plain = runner.sh(f"cat {CONTRACT.env['OPENCLAW_CONFIG_PATH']}", volumes=volumes)
    assert plain.ok, plain.stderr
    name = "qa-overlay-matrix-only"
    port = free_port()
    with gateway(
        runner,
        name,
        volumes,
        scenario,
        extra=[*mount(volumes, MATRIX_ONLY.read_text()), "-p", f"127.0.0.1:{port}:{CONTRACT.port}"],
    ):
        ready = poll(lambda: (r := readyz(port)) and r.get("ready") and r, 90, "/readyz ready with WhatsApp off")
        scenario.fact("readyz", {k: ready[k] for k in ("ready", "failing")})
        listing = runner.exec(name, "ls -1 /config /config/overlay").stdout.split()
        scenario.fact("config_dir", listing)
        assert "template.json5" in listing and f"00-{OVERLAY.strip('/')}.json5" in listing
    again = runner.sh(f"cat {CONTRACT.env['OPENCLAW_CONFIG_PATH']}; ls -A /config", volumes=volumes)
    assert again.ok, again.stderr
    assert again.stdout == plain.stdout + "openclaw.json\n", "without the overlay the config is the template again"


def test_template_alone_keeps_readyz_waiting_for_whatsapp(runner, volumes, scenario):
    """The contrast the overlay exists for: with the template's WhatsApp on and no phone linked, not ready."""
    name = "qa-overlay-none"
    port = free_port()
    with gateway(runner, name, volumes, scenario, extra=["-p", f"127.0.0.1:{port}:{CONTRACT.port}"]):
        state = poll(
            lambda: (r := readyz(port)) and "whatsapp" in r.get("failing", []) and r,
            60,
            "/readyz naming whatsapp as failing once startup is done",
        )
        scenario.fact("readyz", {k: state[k] for k in ("ready", "failing")})
        assert state["ready"] is False


BAD = {
    "wrong-type": ('{gateway: {port: "not a port"}}', "gateway.port"),
    "unknown-variable": ('{channels: {matrix: {homeserver: "${SOME_SECRET}"}}}', "SOME_SECRET"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_overlay_refused_before_the_gateway_starts(runner, volumes, case, scenario):
    """A bad overlay: exit 78 and one line naming the file and the problem; the gateway never starts."""
    text, problem = BAD[case]
    result = runner.run(volumes=volumes, extra=mount(volumes, text), timeout=120)
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    scenario.fact("stderr", result.stderr.strip().splitlines())
    assert result.returncode == 78
    assert len(errors) == 1 and OVERLAY in errors[0] and problem in errors[0]
    assert not (volumes.logs / "openclaw.log").exists(), "the gateway must not have started"
