#!/usr/bin/env python3
"""Entrypoint overhead before exec, as a ratio to a bare `python3 -c pass`, measured in one run.

Both are started the same way (fresh interpreter, same python, interleaved so machine noise hits
both alike); the entrypoint runs `--check` (everything but exec) on temp dirs. Prints the medians,
the overhead in ms (goal < 100 ms) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.evidence import write_json

REPO = Path(__file__).resolve().parent.parent
ENTRY = REPO / "entry" / "openclaw_nix_entry.py"
GOAL_MS = 100.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        env = {
            "PATH": os.environ["PATH"],
            "OPENCLAW_NIX_ROOT": root,
            "OPENCLAW_GATEWAY_TOKEN": "bench",
            "OPENCLAW_MATRIX_HOMESERVER": "https://m.example",
            "OPENCLAW_MATRIX_TOKEN": "x",
        }
        bare, entry = [], []
        for _ in range(args.runs):
            bare.append(timed([args.python, "-c", "pass"], env))
            entry.append(timed([args.python, str(ENTRY), "--check"], env))
    b, e = statistics.median(bare) * 1000, statistics.median(entry) * 1000
    figures = {
        "runs": args.runs,
        "python_c_pass_ms": round(b, 1),
        "entrypoint_check_ms": round(e, 1),
        "overhead_ms": round(e - b, 1),
        "ratio": round(e / b, 2),
        "goal_overhead_ms": GOAL_MS,
    }
    print(f"{'measure':<28}{'median ms':>10}")
    print(f"{'python3 -c pass':<28}{b:>10.1f}")
    print(f"{'entrypoint --check':<28}{e:>10.1f}")
    print(f"overhead {e - b:.1f} ms (goal < {GOAL_MS:.0f} ms), ratio entrypoint/bare = {e / b:.2f}")
    if args.json:
        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
