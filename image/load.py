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
    print(
        f"[load] podman pull docker-archive: < {archive} as {user.name} ({archive.stat().st_size / 1e6:.0f} MB)",
        flush=True,
    )
    started = time.monotonic()
    # stdin is opened by this (root) process: the QA user need not be able to read the build dir.
    # `pull docker-archive:` names the format: `podman load` first tries the file as an OCI archive, which
    # unpacks all of it (1 GB) to a temp dir before giving up (8-12 s here); it also copies stdin to a temp
    # file first. Read in place as a docker-archive, the layers podman already holds are skipped unread,
    # so loading after a template change costs the small app layer only. The tag comes from the archive.
    result = user.podman("pull", "-q", "docker-archive:/dev/stdin", stdin=archive, timeout=1800)
    if not result.ok:
        raise SystemExit(f"podman pull docker-archive: failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
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
