"""Medians and spreads of interleaved bench rounds: every side-by-side bench reports them the same way."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def summarise(rounds: dict[str, list[dict]], keys: Iterable[str] | None = None) -> tuple[dict, dict]:
    """Per side, the median (2 decimals) and [min, max] of each key; by default every `*_s` / `*_mb` figure."""
    keys = list(keys) if keys is not None else [k for k in rounds[next(iter(rounds))][0] if k.endswith(("_s", "_mb"))]
    med = {s: {k: round(statistics.median(r[k] for r in rs), 2) for k in keys} for s, rs in rounds.items()}
    spread = {s: {k: [min(r[k] for r in rs), max(r[k] for r in rs)] for k in keys} for s, rs in rounds.items()}
    return med, spread
