#!/usr/bin/env python3
"""The bytes each Debian package the builder asks for brings into the image alone, read from the built image.

"ffmpeg pulls in N MB" is the argument for what the size goal cannot reach; this computes N. The image's
dpkg status and file lists are read from its docker-archive in one pass with the files the container sees;
each root's exclusive share (image/package_shares.py) is measured as the file bytes present in the image.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

from harness.evidence import write_json
from image.contents import archive_layers, image_files
from image.package_shares import DpkgCapture, closure, exclusive, owned_files, parse_status, root_sets, share_bytes
from image.parity.sources import Sources
from image.paths import EVIDENCE
from image.record import CURRENT_IMAGE, ImageRecord


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "package_shares.json")
    parser.add_argument("--record", type=Path, default=CURRENT_IMAGE, help="image record of the image to read")
    args = parser.parse_args()
    image = ImageRecord.read(args.record)
    capture = DpkgCapture()
    sizes: list[int] = []

    def layers() -> Iterator[tuple[str, Iterator[tarfile.TarInfo]]]:
        for index, size, tar in archive_layers(image.archive):
            sizes.append(size)
            yield str(index), capture.members(tar)

    files = image_files(layers())
    if not capture.status:
        raise SystemExit(f"{image.archive} has no dpkg status: not a Debian-based image")
    packages = parse_status(capture.status)
    owned = owned_files(capture.lists, capture.links)
    roots = root_sets(packages, Sources.load().debian["packages"])
    shares = exclusive(packages, roots)
    reached = closure(packages, [n for names in roots.values() for n in names])
    alone = set().union(*shares.values())
    rows = {
        root: {
            "packages": sorted(names),
            "bytes": share_bytes(names, owned, files),
            "largest": sorted(
                ({"package": n, "bytes": share_bytes([n], owned, files)} for n in names), key=lambda r: -r["bytes"]
            )[:5],
        }
        for root, names in shares.items()
    }
    figures = {
        "builder": image.builder,
        "image_id": image.image_id,
        "image_bytes": sum(sizes),
        "dpkg_bytes": share_bytes(packages, owned, files),
        "installed_packages": len(packages),
        "shared": {"packages": len(reached - alone), "bytes": share_bytes(reached - alone, owned, files)},
        "unreached": sorted(set(packages) - reached),  # installed, yet no root depends on it (e.g. a Recommends)
        "roots": dict(sorted(rows.items(), key=lambda item: -item[1]["bytes"])),
    }
    mb = lambda n: f"{n / 1e6:.1f} MB"  # noqa: E731
    print(f"image {mb(figures['image_bytes'])}; dpkg-owned files {mb(figures['dpkg_bytes'])} "
          f"in {len(packages)} packages")  # fmt: skip
    for root, row in figures["roots"].items():
        top = ", ".join(f"{r['package']} {mb(r['bytes'])}" for r in row["largest"][:3])
        print(f"{mb(row['bytes']):>10}  {root} alone ({len(row['packages'])} packages: {top})")
    print(f"{mb(figures['shared']['bytes']):>10}  reached by two roots or more ({figures['shared']['packages']})")
    if figures["unreached"]:
        print(f"not reached from any root: {figures['unreached']}", file=sys.stderr)
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
