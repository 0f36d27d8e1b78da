#!/usr/bin/env python3
"""Stop fix, before vs after, side by side in one run: first start and restart to /healthz live, and
`podman stop` (time and exit code), median of --runs each, interleaved.

"before" is the same image with OpenClaw's launcher allowed to re-spawn node for its compile cache
(`-e OPENCLAW_PACKAGED_COMPILE_CACHE_RESPAWNED=`, i.e. the image env before the fix): the launcher then
stays as a supervisor that SIGKILLs the gateway 2 s after a SIGTERM and exits 1. "after" is the image as
built. Same image, same volumes layout, same host: the only difference is that one variable.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stats import summarise

from harness.containers import CONTRACT, Runner, Volumes, free_port, host_live
from harness.evidence import Scenario, write_json
from harness.podman import QaUser
from image.paths import EVIDENCE
from image.record import ImageRecord
from plumbing.waiting import poll

VARIANTS = {"before": ["-e", "OPENCLAW_PACKAGED_COMPILE_CACHE_RESPAWNED="], "after": []}


def one_round(user: QaUser, image: str, variant: str, index: int) -> dict:
    """Fresh volumes: start -> live, stop, start again on the same volumes -> live, stop."""
    vols = Volumes(user.home / "bench-volumes" / f"stop-{variant}-{index}")
    user.run(["podman", "unshare", "rm", "-rf", str(vols.root)], check=True)
    user.mkdirs(vols.state, vols.logs)
    runner = Runner(user, image, Scenario("bench-stop", "bench"))
    name = f"bench-stop-{variant}"
    port = free_port()
    figures: dict = {}
    try:
        started = time.monotonic()
        extra = ["-p", f"127.0.0.1:{port}:{CONTRACT.port}", *VARIANTS[variant]]
        if not runner.start(name, volumes=vols, extra=extra).ok:
            raise SystemExit(f"{variant}: container did not start")
        for attempt in ("first", "restart"):
            if attempt == "restart":
                started = time.monotonic()
                user.podman("start", name, check=True)
            poll(lambda: host_live(port), 180, f"{variant} {attempt} /healthz", interval=0.05)
            figures[f"{attempt}_live_s"] = round(time.monotonic() - started, 2)
            stop = user.podman("stop", "-t", "60", name, timeout=120)
            figures[f"{attempt}_stop_s"] = round(stop.seconds, 2)
            figures[f"{attempt}_exit"] = runner.exit_code(name)
        return figures
    finally:
        runner.remove(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "stop.json")
    args = parser.parse_args()
    user, image = QaUser(), ImageRecord.read()
    rounds: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for i in range(args.runs):
        for variant in VARIANTS:  # interleaved: machine noise hits both alike
            rounds[variant].append(one_round(user, image.ref, variant, i))
            print(f"round {i + 1} {variant}: {rounds[variant][-1]}", flush=True)
    keys = ("first_live_s", "restart_live_s", "first_stop_s", "restart_stop_s")
    med, spread = summarise(rounds, keys)
    nonzero = {v: sum(r[k] != 0 for r in rs for k in ("first_exit", "restart_exit")) for v, rs in rounds.items()}
    ratio = {k: round(med["after"][k] / med["before"][k], 2) for k in keys}
    print(f"\n{'':<10}" + "".join(f"{k:>16}" for k in keys) + f"{'non-zero exits':>16}")
    for v in VARIANTS:
        print(f"{v:<10}" + "".join(f"{med[v][k]:>16.2f}" for k in keys) + f"{nonzero[v]:>16}")
    print(f"{'after/bef':<10}" + "".join(f"{ratio[k]:>16.2f}" for k in keys))
    write_json(
        args.json,
        {
            "runs": args.runs,
            "builder": image.builder,
            "image_id": image.image_id,
            "median_s": med,
            "spread_s": spread,
            "non_zero_exits": nonzero,
            "ratio_after_before": ratio,
            "raw": rounds,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
