"""Stop race: a normal stop exits 0 wherever in the start it lands, and never harms /state.

30 start/stop cycles, alternating fresh and reused volumes, with the stop sent at six moments of
the start: right after `podman run` returns (the entrypoint is running), 1 s in (node loading),
the first `/healthz` answer, the gateway's "ready" log line, 2 s after ready, and after a settle.
Every fifth cycle (one per moment) mounts deploy/k8s's overlay, as the Kubernetes base does: the
entrypoint then runs the pinned openclaw to check it before exec, a window of its own.
Each cycle records exit code and stop time; after every cycle the state database passes SQLite's
integrity check, and the next start on the same volumes must come up (no stale lock).

Moments are found by polling with a deadline (the port is published on 127.0.0.1 so the host polls
it directly: `podman exec` costs up to seconds here), never by sleeping and hoping.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from harness.containers import CONTRACT, Volumes, free_port, host_live
from harness.evidence import Scenario
from harness.k8s import K8S_DIR
from plumbing.waiting import poll

MATRIX_ONLY = K8S_DIR / "config-overlay" / "matrix-only.json5"

PHASES = ("entrypoint", "loading", "healthz", "ready", "ready+2s", "settled")
CYCLES = int(os.environ.get("OPENCLAW_NIX_STOP_CYCLES", "30"))
GRACE = 60
# Diagnosis only (e.g. comparing env variants by hand); empty in the suite.
EXTRA = os.environ.get("OPENCLAW_NIX_STOP_EXTRA", "").split()
READY_LINE = '"gateway ready"'  # the JSON log line of the gateway subsystem


def logged_ready(volumes: Volumes, since: int) -> bool:
    log = volumes.logs / "openclaw.log"
    try:
        with log.open("rb") as fh:
            fh.seek(since)
            return READY_LINE.encode() in fh.read()
    except OSError:
        return False


def log_size(volumes: Volumes) -> int:
    log = volumes.logs / "openclaw.log"
    return log.stat().st_size if log.exists() else 0


def wait_for_phase(phase: str, port: int, volumes: Volumes, log_start: int, started: float) -> None:
    """Return at the moment of the start the phase names (deadline: 120 s)."""
    if phase == "entrypoint":
        return
    if phase == "loading":
        poll(lambda: time.monotonic() - started >= 1.0, 5, f"1 s after start ({phase})", interval=0.05)
        return
    if phase == "healthz":
        poll(lambda: host_live(port), 120, "/healthz", interval=0.05)
        return
    poll(lambda: logged_ready(volumes, log_start), 120, "the gateway's ready log line", interval=0.05)
    if phase in ("ready+2s", "settled"):
        pause = 2.0 if phase == "ready+2s" else 8.0
        at = time.monotonic() + pause
        poll(lambda: time.monotonic() >= at, pause + 5, phase, interval=0.1)


def state_db_intact(state: Path) -> str:
    """SQLite's own integrity check of every database OpenClaw keeps in /state ('ok' when all pass;
    'none' before OpenClaw has created one)."""
    problems = []
    dbs = sorted(state.rglob("*.sqlite"))
    if not dbs:
        return "none"
    for db in dbs:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            problems.append(f"{db.relative_to(state)}: {result}")
    return "; ".join(problems) or "ok"


def test_stop_exits_zero_anywhere_in_the_start(runner, qa_user, request, scenario: Scenario):
    """30 start/stop cycles, stops spread over the whole start: every exit 0, /state intact."""
    name = "qa-stop-race"
    cycles = []
    reused = Volumes(qa_user.home / "qa-volumes" / f"{request.node.name}-reused")
    qa_user.run(["podman", "unshare", "rm", "-rf", str(reused.root)], check=True)
    qa_user.mkdirs(reused.state, reused.logs)
    overlay_file = reused.root / MATRIX_ONLY.name  # a copy the QA user can read wherever the checkout is
    overlay_file.write_text(MATRIX_ONLY.read_text())
    overlay_file.chmod(0o644)
    try:
        for index in range(CYCLES):
            phase = PHASES[index % len(PHASES)]
            fresh = index % 2 == 0
            volumes = reused
            if fresh:
                volumes = Volumes(qa_user.home / "qa-volumes" / f"{request.node.name}-fresh-{index}")
                qa_user.run(["podman", "unshare", "rm", "-rf", str(volumes.root)], check=True)
                qa_user.mkdirs(volumes.state, volumes.logs)
            port = free_port()
            log_start = log_size(volumes)
            started = time.monotonic()
            overlay = index % 5 == 0
            extra = ["-p", f"127.0.0.1:{port}:{CONTRACT.port}", *EXTRA]
            if overlay:
                extra += ["-v", f"{overlay_file}:{CONTRACT.volumes['overlay']['path']}:ro"]
            run = runner.start(name, volumes=volumes, extra=extra)
            assert run.ok, run.stderr
            wait_for_phase(phase, port, volumes, log_start, started)
            stop_at = time.monotonic() - started
            stop = runner.user.podman("stop", "-t", str(GRACE), name, timeout=GRACE + 60)
            exit_code = runner.exit_code(name)
            record = {
                "cycle": index + 1,
                "phase": phase,
                "volumes": "fresh" if fresh else "reused",
                "overlay": overlay,
                "stop_after_start_s": round(stop_at, 2),
                "exit_code": exit_code,
                "stop_s": round(stop.seconds, 2),
                "state_db": state_db_intact(volumes.state),
            }
            if exit_code != 0:
                record["logs_tail"] = runner.logs(name).stdout.splitlines()[-5:]
            runner.remove(name)
            cycles.append(record)
            print(record, flush=True)
        # the volumes every reused cycle stopped on still start: no stale lock, no crash-loop breaker
        runner.start(name, volumes=reused, extra=["--network=none"])
        final_live = runner.wait_live(name).ok
    finally:
        runner.remove(name)
    scenario.fact("cycles", cycles)
    scenario.fact("non_zero_exits", [c for c in cycles if c["exit_code"] != 0])
    scenario.fact("stop_s_max", max(c["stop_s"] for c in cycles))
    scenario.fact("final_start_on_reused_volumes_live", final_live)
    assert [c for c in cycles if c["exit_code"] != 0] == []
    assert all(c["stop_s"] < GRACE for c in cycles)
    assert [c for c in cycles if c["state_db"] not in ("ok", "none")] == []
    assert state_db_intact(reused.state) == "ok", "the reused volumes hold OpenClaw's database, intact"
    assert final_live
