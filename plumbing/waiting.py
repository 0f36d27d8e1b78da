"""Waiting on a condition with a deadline: the one way the pipeline and QA wait, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(condition: Callable[[], T], deadline_s: float, what: str, interval: float = 0.25) -> T:
    """Call `condition` until it returns something truthy (returned) or `deadline_s` passes (AssertionError
    naming `what`)."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(interval)
