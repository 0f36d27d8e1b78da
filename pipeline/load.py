"""Load the built image archive into the QA user's rootless podman and prove it is that image.

The image record (build/image.json, written by its builder) names the image id; loading is
skipped when podman already holds exactly that id under the contract's name (doit's uptodate).
"""

from __future__ import annotations

import sys
import time

from harness.podman import QaUser
from image.contract import Contract
from image.paths import LOADED_STAMP
from image.record import ImageRecord
from plumbing.files import write_json


def loaded_id(user: QaUser, ref: str) -> str | None:
    result = user.podman("image", "inspect", ref, "--format", "{{.Id}}")
    return "sha256:" + result.stdout.strip() if result.ok else None


def is_loaded(image: ImageRecord | None = None) -> bool:
    image = image or ImageRecord.current()
    return image is not None and loaded_id(QaUser(), image.ref) == image.image_id


def load(image: ImageRecord | None = None) -> dict:
    image = image or ImageRecord.read()
    user = QaUser()
    size_mb = image.archive.stat().st_size / 1e6
    print(f"[load] podman pull docker-archive: < {image.archive} as {user.name} ({size_mb:.0f} MB)", flush=True)
    started = time.monotonic()
    pull(user, image)
    stamp = {**image.to_json(), "loaded_as": user.name, "load_seconds": round(time.monotonic() - started, 1)}
    write_json(LOADED_STAMP, stamp)
    print(
        f"[load] {image.ref} = {image.image_id[:19]} ({image.builder} builder) in {stamp['load_seconds']} s", flush=True
    )
    return stamp


def pull(user: QaUser, image: ImageRecord) -> None:
    """Read the record's archive into `user`'s podman and prove podman now holds exactly that image id."""
    # stdin is opened by this (root) process and /dev/stdin re-opens that file (mode 644 as written): the QA user
    # needs no path to the build dir (measured with the archive under a 0700 directory of root's).
    # `pull docker-archive:` names the format: `podman load` first tries the file as an OCI archive, which
    # unpacks all of it (1 GB) to a temp dir before giving up (8-12 s here); it also copies stdin to a temp
    # file first. Read in place as a docker-archive, the layers podman already holds are skipped unread,
    # so loading after a template change costs the small app layer only. The tag comes from the archive.
    result = user.podman("pull", "-q", "docker-archive:/dev/stdin", stdin=image.archive, timeout=1800)
    if not result.ok:
        raise SystemExit(f"podman pull docker-archive: failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
    got = loaded_id(user, image.ref)
    if got != image.image_id:
        raise SystemExit(f"loaded {image.ref} has id {got}, the archive says {image.image_id}")


def main() -> int:
    Contract.load()  # fail early on a broken contract
    load()
    return 0


if __name__ == "__main__":
    sys.exit(main())
