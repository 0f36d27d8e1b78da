#!/usr/bin/env python3
"""How long each QA tier takes: wall time of the last `doit smoke` / `doit qa` run against the time its
scenarios took one after another (the sum of their own durations), and the sequential baseline of an
earlier evidence bundle (e.g. the last F1 replay, which ran every scenario in one process).

Reads build/qa-evidence/{smoke,full}/summary.json (written by the runs, not here); writes one JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from harness.evidence import write_json
from image.paths import EVIDENCE, QA_EVIDENCE
from plumbing.files import read_json


def wall_s(summary: dict) -> float | None:
    try:
        started, finished = (datetime.fromisoformat(summary[k].replace("Z", "+00:00")) for k in ("started", "finished"))
    except (KeyError, ValueError):
        return None
    return (finished - started).total_seconds()


def tier(summary: dict) -> dict:
    scenarios = summary.get("scenarios", [])
    return {
        "scenarios": len(scenarios),
        "counts": summary.get("counts"),
        "workers": summary.get("workers"),
        "wall_s": wall_s(summary),
        "sum_of_scenario_s": round(sum(s["seconds"] for s in scenarios), 1),
        "image_id": summary.get("image_id"),
        "started": summary.get("started"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=EVIDENCE / "summary.json", help="a sequential run's summary")
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "qa_tiers.json")
    parser.add_argument("--note", default="", help="conditions of the run (e.g. other load on the machine)")
    args = parser.parse_args()
    tiers = {name: read_json(folder / "summary.json", {}) for name, folder in QA_EVIDENCE.items()}
    smoke_names = {s["scenario"] for s in tiers["smoke"].get("scenarios", [])}
    baseline = read_json(args.baseline, {})
    base = {s["scenario"]: s["seconds"] for s in baseline.get("scenarios", [])}
    shared: dict[str, dict] = {}  # scenarios both runs have: how much slower this machine was at the time
    for t in tiers.values():
        for s in t.get("scenarios", []):
            if s["scenario"] in base:
                shared[s["scenario"]] = {"run_s": s["seconds"], "baseline_s": base[s["scenario"]]}
    slowdown = sum(v["run_s"] for v in shared.values()) / max(sum(v["baseline_s"] for v in shared.values()), 1e-9)
    result = {
        "what": "QA tier wall times (doit smoke / doit qa) vs the sum of their scenarios' durations "
        "and a sequential baseline",
        "note": args.note,
        "load_average_now": os.getloadavg(),
        "tiers": {name: tier(summary) for name, summary in tiers.items()},
        "baseline": {
            "summary": str(args.baseline),
            "started": baseline.get("started"),
            "wall_s": wall_s(baseline),
            "smoke_tier_sum_s": round(sum(v for k, v in base.items() if k in smoke_names), 1),
            "full_tier_sum_s": round(sum(v for k, v in base.items() if k not in smoke_names), 1),
        },
        "same_scenarios_slowdown_vs_baseline": round(slowdown, 2),
        "per_scenario": shared,
    }
    write_json(args.json, result)
    for name, figures in result["tiers"].items():
        print(
            f"{name}: {figures['scenarios']} scenarios, {figures['workers']} workers, wall {figures['wall_s']} s, "
            f"scenarios one after another {figures['sum_of_scenario_s']} s"
        )
    print(
        f"baseline ({args.baseline}): smoke {result['baseline']['smoke_tier_sum_s']} s, "
        f"full {result['baseline']['full_tier_sum_s']} s; "
        f"this run's shared scenarios x{result['same_scenarios_slowdown_vs_baseline']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
