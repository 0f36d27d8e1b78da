#!/usr/bin/env python3
"""The edit loop a user lives in: one line added to the template, then `doit` to a loaded, smoke-tested image.

Each round appends a new comment line to the template (a new app layer and image id: nothing is served
from an earlier round) and times `doit` (the default chain, ending in the smoke tier), listing the
tasks it ran; then `doit` with nothing changed. Median and [min, max] of the rounds; the template is
restored and the chain brought up to date at the end (untimed). Goal: edit -> smoke-tested < 120 s,
nothing changed < 1 s.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time
from pathlib import Path

from chain import run_chain

from harness.evidence import write_json
from image.contract import Contract
from image.paths import EVIDENCE
from pipeline.order import DEFAULT

GOAL_EDIT_S = 120
GOAL_NOOP_S = 1


def one_round(template: Path, original: str, index: int) -> dict:
    template.write_text(original + f"// edit-loop bench round {index} at {time.time():.0f}\n")
    edit_s, edit_ran = run_chain(*DEFAULT)
    noop_s, noop_ran = run_chain(*DEFAULT)
    return {"round": index, "edit_s": edit_s, "edit_ran": edit_ran, "noop_s": noop_s, "noop_ran": noop_ran}


def main() -> int:
    # a SIGTERM must still run the `finally` that restores the template
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "edit_loop.json")
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="skip the untimed `doit` before and after (when only the smoke tier is stale: an edit reruns it anyway)",
    )
    args = parser.parse_args()
    template = Contract.load().template_path
    original = template.read_text()
    if not original.endswith("\n"):
        original += "\n"
    if not args.no_settle:
        run_chain(*DEFAULT)  # up to date first (untimed)
    rounds = []
    try:
        for index in range(1, args.rounds + 1):
            rounds.append(one_round(template, original, index))
            print(rounds[-1], flush=True)
    finally:
        template.write_text(original)
    if not args.no_settle:
        run_chain(*DEFAULT)  # back to the committed template (untimed)
    result = {
        "settled": not args.no_settle,
        "what": "one comment line appended to the template, then `doit` (default chain, smoke tier); then `doit` again",
        "rounds": rounds,
        "edit_to_smoke_tested_s": {
            "median": statistics.median(r["edit_s"] for r in rounds),
            "range": [min(r["edit_s"] for r in rounds), max(r["edit_s"] for r in rounds)],
            "goal": GOAL_EDIT_S,
        },
        "nothing_changed_s": {
            "median": statistics.median(r["noop_s"] for r in rounds),
            "range": [min(r["noop_s"] for r in rounds), max(r["noop_s"] for r in rounds)],
            "goal": GOAL_NOOP_S,
        },
    }
    write_json(args.json, result)
    edit, noop = result["edit_to_smoke_tested_s"]["median"], result["nothing_changed_s"]["median"]
    print(f"edit -> smoke-tested: median {edit:.1f} s (goal < {GOAL_EDIT_S} s); tasks: {rounds[-1]['edit_ran']}")
    print(f"nothing changed: median {noop:.2f} s (goal < {GOAL_NOOP_S} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
