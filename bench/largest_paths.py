#!/usr/bin/env python3
"""The ten largest files in the built image and what each is for, read from its docker-archive.

Answers "where do the bytes go" with paths rather than layers: the layers are read in order as the
container sees them (a later layer's file replaces an earlier one, whiteouts delete), a hardlink counts
once, and each path gets the purpose image/contents.py PURPOSES gives it. A path with no purpose is reported as such
(tests/test_size_report.py fails on committed evidence that has one): whoever changes the image says what
a new large file is for, or removes it.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

from harness.evidence import write_json
from image.contents import archive_layers, image_files, largest
from image.paths import EVIDENCE
from image.record import ImageRecord

GOAL_BYTES = 900_000_000  # image size goal with the full toolchain (`podman image inspect`)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "largest_paths.json")
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    image = ImageRecord.read()
    names = [layer.name for layer in image.layers]
    sizes: list[int] = []

    def layers() -> Iterator[tuple[str, tarfile.TarFile]]:
        for index, size, tar in archive_layers(image.archive):
            sizes.append(size)
            yield (names[index] if index < len(names) else f"layer {index}"), tar

    files = image_files(layers())
    total = sum(sizes)
    top = largest(files, args.count)
    figures = {
        "builder": image.builder,
        "image_id": image.image_id,
        "image_bytes": total,
        "files_bytes": sum(size for size, _ in files.values()),
        "files": len(files),
        "goal_bytes": GOAL_BYTES,
        "within_goal": total <= GOAL_BYTES,
        "largest": top,
    }
    print(f"image {total / 1e6:.1f} MB ({len(files)} files, {figures['files_bytes'] / 1e6:.1f} MB of file data); "
          f"goal <= {GOAL_BYTES / 1e6:.0f} MB: {'met' if figures['within_goal'] else 'NOT met'}")  # fmt: skip
    for row in top:
        print(f"{row['bytes'] / 1e6:8.1f} MB  {row['path']}  [{row['layer']}]  {row['purpose'] or 'NOT DESCRIBED'}")
    write_json(args.json, figures)
    undescribed = [row["path"] for row in top if row["purpose"] is None]
    if undescribed:
        print(f"no purpose written for {undescribed}: add them to PURPOSES in image/contents.py", file=sys.stderr)
    return 1 if undescribed else 0


if __name__ == "__main__":
    sys.exit(main())
