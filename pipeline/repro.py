"""Reproducibility check: build the parity image twice from clean work trees and compare.

Same pins, same source revision, the same epoch (image.parity.build.DEFAULT_EPOCH unless
SOURCE_DATE_EPOCH is set): every layer digest and the image id must match. Where a layer differs,
the files that differ are named (path, and whether the content, mode, owner, type or link target
differs). Downloads are shared (they are verified by hash); everything else, including the Debian
rootfs, is rebuilt each time.

Usage: python -m pipeline.repro [--keep]   (writes build/repro.json)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tarfile
import time
from pathlib import Path

from image.paths import BUILD, CACHE, REPO
from image.provenance import source_date_epoch
from image.record import ImageRecord
from plumbing import commands
from plumbing.files import write_json

RUNS = CACHE / "repro"
RECORD = BUILD / "repro.json"


def build(run_dir: Path) -> float:
    shutil.rmtree(run_dir, ignore_errors=True)
    env = {"OPENCLAW_NIX_WORK": str(run_dir / "work"), "OPENCLAW_NIX_BUILD": str(run_dir / "build")}
    started = time.monotonic()
    commands.stream([sys.executable, "-m", "image.parity.build"], cwd=REPO, env=env)
    return round(time.monotonic() - started, 1)


def listing(layer_tar: Path) -> dict[str, tuple]:
    entries = {}
    with tarfile.open(layer_tar) as tar:
        for m in tar:
            digest = hashlib.sha256(tar.extractfile(m).read()).hexdigest() if m.isreg() else ""  # type: ignore[union-attr]
            entries[m.name] = (m.type, m.mode, m.uid, m.gid, m.linkname, digest)
    return entries


def differences(a: Path, b: Path) -> list[str]:
    la, lb = listing(a), listing(b)
    fields = ("type", "mode", "uid", "gid", "link", "content")
    out = [f"{name}: only in first build" for name in sorted(set(la) - set(lb))]
    out += [f"{name}: only in second build" for name in sorted(set(lb) - set(la))]
    for name in sorted(set(la) & set(lb)):
        if la[name] != lb[name]:
            which = [f for f, x, y in zip(fields, la[name], lb[name], strict=True) if x != y]
            out.append(f"{name}: {', '.join(which)} differ")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep both build trees for inspection")
    args = parser.parse_args(argv)
    seconds = [build(RUNS / f"run{i}") for i in (1, 2)]
    images = [ImageRecord.read(RUNS / f"run{i}" / "build" / "openclaw-nix-parity.json") for i in (1, 2)]
    layers = []
    for first, second in zip(images[0].layers, images[1].layers, strict=True):
        same = first.diff_id == second.diff_id
        diff = (
            []
            if same
            else differences(
                RUNS / "run1/build/parity-layers" / f"{first.name}.tar",
                RUNS / "run2/build/parity-layers" / f"{first.name}.tar",
            )
        )
        layers.append(
            {
                "layer": first.name,
                "identical": same,
                "diff_ids": [first.diff_id, second.diff_id],
                "differing_files": diff,
            }
        )
    record = {
        "source_date_epoch": source_date_epoch(),
        "build_seconds": seconds,
        "image_ids": [images[0].image_id, images[1].image_id],
        "identical": images[0].image_id == images[1].image_id,
        "layers": layers,
    }
    write_json(RECORD, record)
    for layer in layers:
        state = "identical" if layer["identical"] else f"DIFFERS ({len(layer['differing_files'])} files)"
        print(f"{layer['layer']:<10} {layer['diff_ids'][0][:19]}  {state}")
        for line in layer["differing_files"][:20]:
            print(f"    {line}")
    verdict = "reproducible" if record["identical"] else "NOT reproducible"
    print(f"image {images[0].image_id[:19]} vs {images[1].image_id[:19]}: {verdict} -> {RECORD}")
    if not args.keep:
        shutil.rmtree(RUNS, ignore_errors=True)
    return 0 if record["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
