"""How long each doit task took in this run: doit's console output unchanged, durations kept in
memory for the F1 record (doit itself does not keep them)."""

from __future__ import annotations

import time

from doit.reporter import ConsoleReporter

SECONDS: dict[str, float] = {}  # base task name -> seconds, summed over its sub-tasks


class TimedReporter(ConsoleReporter):
    """doit's console reporter that also times every executed task."""

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self._started: dict[str, float] = {}

    def execute_task(self, task):
        self._started[task.name] = time.monotonic()
        super().execute_task(task)

    def add_success(self, task):
        self._record(task)
        super().add_success(task)

    def add_failure(self, task, fail_info):
        self._record(task)
        super().add_failure(task, fail_info)

    def complete_run(self):
        """After doit's own summary: one line with each executed task's seconds (progress a user reads,
        and the per-step times the fresh-machine evidence keeps)."""
        super().complete_run()
        if SECONDS:
            self.outstream.write("[timing] " + ", ".join(f"{name} {s:.1f} s" for name, s in SECONDS.items()) + "\n")

    def _record(self, task) -> None:
        started = self._started.pop(task.name, None)
        if started is not None:
            base = task.name.split(":")[0]
            SECONDS[base] = round(SECONDS.get(base, 0.0) + time.monotonic() - started, 1)
