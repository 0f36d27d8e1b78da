#!/usr/bin/env python3
"""Where a template-only rebuild spends its time, step by step, for two checkouts interleaved in one run.

bench/chain.py times the whole chain; this one runs each task of it on its own (template, entrypoint,
image:app, image:archive, load) after a template touch, so a lever on one step shows on that step. Each
round touches the template of each checkout with a new comment line (a new app layer, a new image id:
nothing is served from an earlier round), alternating which checkout goes first; the template is restored
at the end. Both checkouts load into the same QA user's podman (the same tag): give each its own build/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from chain import run_chain
from stats import summarise

from harness.evidence import write_json
from image.contract import Contract
from image.paths import EVIDENCE, REPO
from pipeline.order import BUILD_CHAIN

# the build chain, with `image` as the two sub-tasks a template change reruns
STEPS = [s for step in BUILD_CHAIN for s in (("image:app", "image:archive") if step == "image" else (step,))]


def run_step(tree: Path, step: str) -> float:
    return run_chain(step, cwd=tree)[0]


def one_round(tree: Path, tag: str) -> dict[str, float]:
    template = tree / Contract.load().template_path.relative_to(REPO)
    original = template.read_text()
    try:
        template.write_text(original + f"\n// bench touch {tag}\n")
        times = {step: run_step(tree, step) for step in STEPS}
    finally:
        template.write_text(original)
    times["total"] = round(sum(times.values()), 2)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the revision to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "rebuild_steps.json")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": REPO}
    for tree in trees.values():  # up to date first (untimed)
        for step in STEPS:
            run_step(tree, step)
    rounds: dict[str, list[dict]] = {side: [] for side in trees}
    loads = []
    for i in range(args.rounds):
        order = list(trees) if i % 2 == 0 else list(trees)[::-1]
        for side in order:
            rounds[side].append(one_round(trees[side], f"{os.getpid()}-{i}-{side}"))
            loads.append(round(os.getloadavg()[0], 2))
            print(f"round {i + 1} {side}: {rounds[side][-1]}  [load {loads[-1]}]", flush=True)
    for tree in trees.values():  # back to the committed template (untimed)
        for step in STEPS:
            run_step(tree, step)
    keys = [*STEPS, "total"]
    med, spread = summarise(rounds, keys)
    print(f"\nmedian of {args.rounds} [min-max], 1-min load {min(loads)}-{max(loads)}")
    for k in keys:
        b, a = med["before"][k], med["after"][k]
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{k:<15} before {b:>6} s {spread['before'][k]}  after {a:>6} s {spread['after'][k]}  ratio {ratio}")
    write_json(args.json, {"rounds": args.rounds, "median": med, "spread": spread, "load_1min": loads, "raw": rounds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
