"""Where an image comes from: the source revision and the build timestamp, shared by both builders,
the publisher and the reproducibility check."""

from __future__ import annotations

import os
from pathlib import Path

from image.paths import REPO
from plumbing import commands

# Like Nix's dockerTools: every layer's mtimes clamp to 1970-01-01T00:00:01Z, so a layer's digest depends
# on its inputs only, not on when (or at which commit) it was built. SOURCE_DATE_EPOCH overrides.
DEFAULT_EPOCH = 1


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))


def git_revision(repo: Path = REPO) -> str:
    """HEAD, with `-dirty` when the tree differs from it; evidence/ is output (an F1 run rewrites it while
    it builds), so changes there do not make the image's revision dirty."""
    rev = commands.run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip() or "unknown"
    dirty = commands.run(
        ["git", "status", "--porcelain", "--", ":(top)", ":(top,exclude)evidence"], cwd=repo
    ).stdout.strip()
    return rev + ("-dirty" if dirty and rev != "unknown" else "")
