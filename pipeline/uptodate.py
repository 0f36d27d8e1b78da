"""Prove the pipeline is incremental: after a run, every task of its chain is up to date.

`doit list --all --status` asks doit itself (file_dep, targets, uptodate) without running anything;
any task (or sub-task) of the chain not marked U is printed and fails the check. The chain is the
default one (`python -m pipeline.uptodate`), or the one ending in the full QA tier (`... qa`).
"""

from __future__ import annotations

import sys

from image.paths import REPO
from pipeline.order import DEFAULT, FULL
from plumbing import commands


def stale_tasks(chain: tuple[str, ...] = DEFAULT) -> list[str]:
    out = commands.run([sys.executable, "-m", "doit", "list", "--all", "--status"], cwd=REPO, check=True).stdout
    rows = [line.split()[:2] for line in out.splitlines() if line[:2] in ("R ", "U ", "I ")]
    names = [name for _, name in rows]
    leaves = {name: status for status, name in rows if not any(n.startswith(name + ":") for n in names)}
    return sorted(n for n, s in leaves.items() if s != "U" and n.split(":")[0] in chain)


def main(argv: list[str]) -> int:
    full = argv[:1] == ["qa"]
    command = "doit qa" if full else "doit"
    stale = stale_tasks(FULL if full else DEFAULT)
    if stale:
        print(f"not incremental: a second `{command}` would rerun {stale}", file=sys.stderr)
        return 1
    print(f"second `{command}`: every task of its chain is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
