"""Prove the pipeline is incremental: after a full run, every default doit task is up to date.

`doit list --all --status` asks doit itself (file_dep, targets, uptodate) without running anything;
any default task (or sub-task) not marked U is printed and fails the check.
"""

from __future__ import annotations

import sys

from image.paths import REPO
from pipeline.order import DEFAULT
from plumbing import commands


def stale_tasks() -> list[str]:
    out = commands.run([sys.executable, "-m", "doit", "list", "--all", "--status"], cwd=REPO, check=True).stdout
    rows = [line.split()[:2] for line in out.splitlines() if line[:2] in ("R ", "U ", "I ")]
    names = [name for _, name in rows]
    leaves = {name: status for status, name in rows if not any(n.startswith(name + ":") for n in names)}
    return sorted(n for n, s in leaves.items() if s != "U" and n.split(":")[0] in DEFAULT)


def main() -> int:
    stale = stale_tasks()
    if stale:
        print(f"not incremental: a second `doit` would rerun {stale}", file=sys.stderr)
        return 1
    print("second `doit`: every default task is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
