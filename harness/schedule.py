"""Which QA module starts first when the scenarios run in parallel workers: the longest, by the last
runs' own evidence. xdist hands out modules in collection order; the 30-cycle stop race, collected near
the end, used to start last and then run alone for minutes while the other worker sat idle."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from plumbing.files import read_json


def last_seconds(summaries: Iterable[Path]) -> dict[str, float]:
    """Scenario name -> seconds, from earlier runs' summary.json files (missing files give nothing)."""
    found: dict[str, float] = {}
    for path in summaries:
        for scenario in read_json(path, {}).get("scenarios", []):
            found[scenario["scenario"]] = scenario["seconds"]
    return found


def longest_first(modules: dict[str, list[str]], seconds: dict[str, float]) -> list[str]:
    """Module names ordered by their scenarios' total seconds, longest first; unknown ones count as 0 and
    keep their collection order (Python's sort is stable)."""
    totals = {module: sum(seconds.get(name, 0.0) for name in names) for module, names in modules.items()}
    return sorted(modules, key=lambda module: -totals[module])
