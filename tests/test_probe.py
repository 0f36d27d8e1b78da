"""The image's health probe (entry/openclaw_nix_probe.py) against real files, filesystems and HTTP servers.

A full filesystem is a real tmpfs of 64 KiB, mounted in a user + mount namespace (`unshare -rm`, no root
needed); the gateway is a local HTTP server answering as OpenClaw does (200 live, 503 with the failing
channels). The one stand-in is a slow write, to show the time budget holds while /state hangs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from entry import openclaw_nix_probe as probe
from entry.openclaw_nix_entry import load_contract
from image.contract import CONTRACT_PATH, PROBE_PATH
from tests.conftest import SYSTEM_PYTHON, UNPRIVILEGED_UID

READY = (200, {"ready": True, "failing": []})
WHATSAPP = (503, {"ready": False, "failing": ["whatsapp"]})


class Gateway:
    """A local HTTP server answering /healthz and /readyz the way OpenClaw 2026.6.11 does."""

    def __init__(self) -> None:
        self.ready = READY
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = (200, {"ok": True, "status": "live"}) if self.path == "/healthz" else gateway.ready
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


@pytest.fixture
def settings(gateway, tmp_path) -> probe.Settings:
    state = tmp_path / "state"
    state.mkdir()
    real = probe.Settings.from_contract(load_contract(CONTRACT_PATH))
    return replace(real, port=gateway.port, state=str(state), timeout=2.0)


def silent_port() -> tuple[socket.socket, int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung gateway."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock, sock.getsockname()[1]


def test_the_contract_wires_the_probe_everywhere(contract):
    """HEALTHCHECK and Kubernetes probes name the probe command and modes it has; it ends before they give up."""
    command = contract.probe["command"]
    assert contract.healthcheck["Test"] == ["CMD", command, "healthcheck"]
    assert set(contract.kubernetes["probes"].values()) <= set(probe.LABELS)
    assert contract.kubernetes["probes"]["live"] == "live", "liveness must not depend on /state"
    assert contract.probe["timeout"] * 1e9 < contract.healthcheck["Timeout"]


@pytest.mark.parametrize("use_tmpfile", [True, False], ids=["O_TMPFILE", "named-then-unlinked"])
def test_write_check_passes_and_leaves_nothing(tmp_path, use_tmpfile):
    (tmp_path / "kept").write_text("mine")
    assert probe.write_check(str(tmp_path), 4096, use_tmpfile) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_fallback_removes_only_stale_leftovers(tmp_path):
    """A probe killed between create and unlink leaves a named file: the next fallback run removes it once
    it is older than a probe can live; a younger one may be another probe's and stays."""
    stale, young = tmp_path / f"{probe.LEFTOVER}1", tmp_path / f"{probe.LEFTOVER}2"
    stale.write_bytes(b"x")
    young.write_bytes(b"x")
    old = time.time() - probe.STALE_S - 5
    os.utime(stale, (old, old))
    assert probe.write_check(str(tmp_path), 4096, use_tmpfile=False) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [young.name]


def test_write_check_names_the_os_error(tmp_path):
    missing = tmp_path / "missing"
    assert "No such file or directory (errno ENOENT)" in probe.write_check(str(missing), 4096)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "ENOTDIR" in probe.write_check(str(a_file), 4096)


FULL_TMPFS = textwrap.dedent(
    """
    import errno, json, os, sys
    sys.path.insert(0, sys.argv[2])
    import openclaw_nix_probe as probe

    state, seen = sys.argv[1], {}
    fd = os.open(os.path.join(state, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    for chunk in (65536, 4096, 1):  # fill to the last byte
        try:
            while True:
                os.write(fd, b"x" * chunk)
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    os.close(fd)
    seen["full"] = probe.write_check(state, 4096)
    seen["full_fallback"] = probe.write_check(state, 4096, use_tmpfile=False)
    os.truncate(os.path.join(state, "filler"), os.path.getsize(os.path.join(state, "filler")) - 16384)
    seen["16k_left"] = probe.write_check(state, 4096)
    seen["16k_left_again"] = probe.write_check(state, 4096)  # the first write did not keep its space
    seen["entries"] = sorted(os.listdir(state))
    seen["free_text"] = probe.free_bytes(state)
    print(json.dumps(seen))
    """
)


def in_tmpfs(tmp_path: Path, options: str, script: str) -> str:
    """Run `script` (python, argv: state dir, dir of the probe module) on a tmpfs mounted at the state dir
    with `options`, in a user + mount namespace of our own (`unshare -rm`, no root needed); its stdout."""
    if shutil.which("unshare") is None:
        pytest.skip("not run: unshare (util-linux) is not installed")
    tried = subprocess.run(["unshare", "-rm", "true"], capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"not run: no user namespaces here ({tried.stderr.strip()})")
    state, app = tmp_path / "state", tmp_path / "app"
    state.mkdir()
    app.mkdir()
    shutil.copy(PROBE_PATH, app)
    (app / "script.py").write_text(script)
    command = f"mount -t tmpfs -o {options} tmpfs {state} && {sys.executable} {app / 'script.py'} {state} {app}"
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_full_filesystem_fails_and_a_few_kib_pass(tmp_path):
    """A 64 KiB tmpfs filled to the last byte: ENOSPC (both ways of opening); with 16 KiB freed the probe
    passes, again and again (its write is gone after each run), and nothing but the filler is there."""
    seen = json.loads(in_tmpfs(tmp_path, "size=64k,mode=1777", FULL_TMPFS))
    assert "errno ENOSPC" in seen["full"] and "errno ENOSPC" in seen["full_fallback"], seen
    assert seen["16k_left"] is None and seen["16k_left_again"] is None, seen
    assert seen["entries"] == ["filler"]
    assert seen["free_text"].endswith("KiB free"), seen


def test_read_only_state_fails(tmp_path):
    script = "import sys\nsys.path.insert(0, sys.argv[2])\nimport openclaw_nix_probe as p\n"
    out = in_tmpfs(tmp_path, "size=64k,ro", script + "print(p.write_check(sys.argv[1], 4096))\n")
    assert "errno EROFS" in out, out


def test_modes_against_a_gateway_whose_whatsapp_is_not_linked(settings, gateway):
    """live and healthcheck pass; ready names the failing channel; each says what it saw."""
    gateway.ready = WHATSAPP
    live, ready, health = (probe.probe(m, settings) for m in ("live", "ready", "healthcheck"))
    assert live[0] and live[1].startswith("live: /healthz live"), live
    assert not ready[0] and "/readyz not ready (failing whatsapp)" in ready[1], ready
    assert f"{settings.state} took a 4096-byte write" in ready[1], ready
    assert health[0] and health[1].startswith("healthy: /healthz live; "), health
    gateway.ready = READY
    ready = probe.probe("ready", settings)
    assert ready[0] and ready[1].startswith("ready: /readyz ready; "), ready


def test_state_that_cannot_take_a_write_fails_ready_and_healthcheck_not_live(settings, tmp_path):
    broken = replace(settings, state=str(tmp_path / "gone"))
    assert probe.probe("live", broken)[0]
    for mode, label in (("ready", "not ready"), ("healthcheck", "unhealthy")):
        ok, line = probe.probe(mode, broken)
        assert not ok and line.startswith(f"{label}: ") and "cannot take a write" in line, line


def test_a_hung_gateway_fails_within_the_budget(settings):
    sock, port = silent_port()
    try:
        hung = replace(settings, port=port, timeout=0.5)
        started = time.monotonic()
        for mode in ("live", "ready", "healthcheck"):
            ok, line = probe.probe(mode, hung)
            assert not ok and "timed out" in line, line
        assert time.monotonic() - started < 3 * 0.5 + 1.0
    finally:
        sock.close()


def test_no_gateway_is_not_live(settings):
    sock, port = silent_port()
    sock.close()  # nothing listens there now
    ok, line = probe.probe("live", replace(settings, port=port))
    assert not ok and line.startswith("not live: /healthz "), line


def test_a_hung_state_write_fails_within_the_budget(settings, monkeypatch):
    """Stand-in: a write that takes 30 s (a hung disk). The probe reports it at its deadline, not later."""
    monkeypatch.setattr(probe, "write_check", lambda *args: time.sleep(30))
    slow = replace(settings, timeout=0.5)
    started = time.monotonic()
    ok, line = probe.probe("healthcheck", slow)
    assert time.monotonic() - started < 1.5
    assert not ok and "did not take a 4096-byte write within 0.5 s" in line, line


@pytest.fixture
def run_probe(tmp_path, contract, gateway):
    """The probe as the image runs it: the script beside a contract (port and /state pointed at the test's)."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(PROBE_PATH, app)
    state = tmp_path / "state-dir"
    state.mkdir(mode=0o777)
    state.chmod(0o1777)
    text = CONTRACT_PATH.read_text()
    text = text.replace(f'path = "{contract.volumes["state"]["path"]}"', f'path = "{state}"', 1)
    text = text.replace(f"ports = [{contract.port}]", f"ports = [{gateway.port}]", 1)
    (app / "contract.toml").write_text(text)
    for path in (*app.iterdir(), app, *app.parents):  # readable by another uid, up to /tmp
        if path in (Path("/tmp"), Path("/")):
            break
        path.chmod(0o755)

    def run(*args: str, uid: int | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        kwargs = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
        python = SYSTEM_PYTHON if uid is not None else sys.executable
        return subprocess.run(
            [python, str(app / PROBE_PATH.name), *args],
            env={"PATH": os.environ["PATH"], **(env or {})},
            capture_output=True,
            text=True,
            timeout=30,
            **kwargs,
        )

    run.state = state
    return run


def test_command_exit_codes_and_one_line(run_probe, gateway):
    gateway.ready = WHATSAPP
    results = {mode: run_probe(mode) for mode in ("live", "ready", "healthcheck")}
    assert {m: r.returncode for m, r in results.items()} == {"live": 0, "ready": 1, "healthcheck": 0}
    assert all(len(r.stdout.splitlines()) == 1 for r in results.values()), results
    wrong = run_probe("readyz")
    assert wrong.returncode == 1 and "usage: openclaw-nix-probe {live|ready|healthcheck}" in wrong.stderr


def test_proxy_settings_are_ignored(run_probe):
    """The gateway is on loopback: a proxy in the environment must not be asked (curl needed --noproxy)."""
    proxy = "http://127.0.0.1:9"
    result = run_probe("live", env={"http_proxy": proxy, "HTTP_PROXY": proxy, "all_proxy": proxy})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="not run: needs root to run as another uid")
def test_any_uid_can_probe(run_probe):
    """An arbitrary uid (no passwd entry, as on Kubernetes) writes to a /state it may write to."""
    result = run_probe("healthcheck", uid=UNPRIVILEGED_UID + 1000)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(run_probe.state.iterdir()) == []
