"""Load the built image archive into the QA user's rootless podman and prove it is that image.

The archive's metadata (<archive>.json, written by its builder) names the image id; loading is
skipped when podman already holds exactly that id under the contract's name (doit's uptodate).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from image.contract import Contract
from image.paths import BUILD, LOADED_STAMP
from qa.podman import QaUser

CURRENT_IMAGE = BUILD / "image.json"  # which builder's archive `doit image` produced last


def current_image_meta() -> dict:
    if not CURRENT_IMAGE.exists():
        raise SystemExit(f"{CURRENT_IMAGE} is missing: build the image first (doit image)")
    return json.loads(CURRENT_IMAGE.read_text())


def loaded_id(user: QaUser, ref: str) -> str | None:
    result = user.podman("image", "inspect", ref, "--format", "{{.Id}}")
    return "sha256:" + result.stdout.strip() if result.ok else None


def is_loaded(meta: dict | None = None) -> bool:
    try:
        meta = meta or current_image_meta()
        return loaded_id(QaUser(), meta["ref"]) == meta["image_id"]
    except (SystemExit, KeyError, FileNotFoundError):
        return False


def load(meta: dict | None = None) -> dict:
    meta = meta or current_image_meta()
    user = QaUser()
    archive = Path(meta["archive"])
    print(f"[load] podman load < {archive} as {user.name} ({archive.stat().st_size / 1e6:.0f} MB)", flush=True)
    started = time.monotonic()
    # stdin is opened by this (root) process: the QA user need not be able to read the build dir. Named as
    # `-i /dev/stdin`, podman reads it as a file, in place: a plain `podman load < archive` first copies all
    # of it (1.2 GB) to a temp file, then skips the layers it already holds; reading it in place skips them
    # unread, so loading after a template change costs its small layer only.
    result = user.podman("load", "-i", "/dev/stdin", stdin=archive, timeout=1800)
    if not result.ok:
        raise SystemExit(f"podman load failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
    got = loaded_id(user, meta["ref"])
    if got != meta["image_id"]:
        raise SystemExit(f"loaded {meta['ref']} has id {got}, the archive says {meta['image_id']}")
    stamp = {**meta, "loaded_as": user.name, "load_seconds": round(time.monotonic() - started, 1)}
    LOADED_STAMP.write_text(json.dumps(stamp, indent=2) + "\n")
    print(f"[load] {meta['ref']} = {got[:19]} ({meta['builder']} builder) in {stamp['load_seconds']} s", flush=True)
    return stamp


def main() -> int:
    Contract.load()  # fail early on a broken contract
    load()
    return 0


if __name__ == "__main__":
    sys.exit(main())
