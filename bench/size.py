#!/usr/bin/env python3
"""Image size per layer (uncompressed and gzip -1), against a plain node + `npm install openclaw`
baseline built the same way in the same run, and the nix-openclaw closure sizes reported upstream.

Baseline = Debian minbase with only ca-certificates (mmdebstrap, same suite and sources) + the same
node and openclaw layers: what a hand-written "node + npm install openclaw" image carries. The toolchain
is what our base adds over that minbase, plus the tools layer. Goal: image <= baseline + toolchain
(+ the plugins and app layers, which the baseline lacks). The base is also built once more without
sources.toml's dpkg_excludes_unused, to show what trimming the unused GPU/display stack (and the rest
of that list) saves.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

from harness.evidence import write_json
from image.layers import tar_entries, write_layer
from image.parity import debian
from image.parity.build import layer_path
from image.parity.sources import Sources
from image.paths import EVIDENCE, WORK
from image.provenance import source_date_epoch
from image.record import ImageRecord

# Reported for nix-openclaw v2026.6.11 (../shared/notes/openclaw-facts.md), not measured here: no Nix build.
NIX_REPORTED_MB = {"openclaw-gateway closure": 900, "openclaw (batteries) closure": 1850}


def gzip_size(path: Path) -> int:
    compressor, total = zlib.compressobj(1, zlib.DEFLATED, 31), 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            total += len(compressor.compress(chunk))
    return total + len(compressor.flush())


def rootfs_layer_sizes(label: str, packages: list[str], excludes: list[str], links: bool = False) -> dict[str, int]:
    """Uncompressed and gzip size of a Debian rootfs (cached in the work dir) written as a layer; with `links`,
    duplicate files stored as hardlinks, as the image's base layer is."""
    deb = Sources.load().debian
    rootfs = debian.build_rootfs(deb, packages, excludes, WORK, label, source_date_epoch())
    layer = WORK / f"{label}.layer.tar"
    try:
        write_layer(tar_entries(rootfs, link_duplicates=links), layer, source_date_epoch())
        return {"bytes": layer.stat().st_size, "gzip_bytes": gzip_size(layer)}
    finally:
        layer.unlink(missing_ok=True)


def mb(n: int) -> float:
    return round(n / 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "size.json")
    args = parser.parse_args()
    image = ImageRecord.read()
    if image.builder != "parity":
        raise SystemExit("size bench reads the parity layers; build with the parity builder first")
    layers = {}
    for layer in image.layers:
        layers[layer.name] = {"bytes": layer.size, "gzip_bytes": gzip_size(layer_path(layer.name))}
        print(f"[size] {layer.name}: {mb(layer.size)} MB", flush=True)
    deb = Sources.load().debian
    minbase_sizes = rootfs_layer_sizes("bench-minbase", ["ca-certificates"], deb["dpkg_excludes"])
    # the same base without dpkg_excludes_unused: what trimming the GPU/display stack saves
    links = Sources.load().prune.get("link_duplicates", False)
    untrimmed = rootfs_layer_sizes("bench-untrimmed-base", deb["packages"], deb["dpkg_excludes"], links)
    total = {k: sum(v[k] for v in layers.values()) for k in ("bytes", "gzip_bytes")}
    baseline = {k: minbase_sizes[k] + layers["node"][k] + layers["openclaw"][k] for k in total}
    toolchain = {k: layers["base"][k] - minbase_sizes[k] + layers["tools"][k] for k in total}
    extras = {k: layers["plugins"][k] + layers["app"][k] for k in total}
    figures = {
        "image_id": image.image_id,
        "layers": layers,
        "total": total,
        "minbase": minbase_sizes,
        "base_untrimmed": untrimmed,
        "ratio_base_trimmed_to_untrimmed": round(layers["base"]["bytes"] / untrimmed["bytes"], 2),
        "baseline_node_npm_openclaw": baseline,
        "toolchain": toolchain,
        "plugins_and_app": extras,
        "ratio_image_to_baseline": round(total["bytes"] / baseline["bytes"], 2),
        "within_goal": total["bytes"] <= baseline["bytes"] + toolchain["bytes"] + extras["bytes"],
        "nix_reported_mb": NIX_REPORTED_MB,
    }
    print(f"\n{'layer':<12}{'MB':>9}{'gzip MB':>9}")
    for name, size in layers.items():
        print(f"{name:<12}{mb(size['bytes']):>9}{mb(size['gzip_bytes']):>9}")
    print(f"{'total':<12}{mb(total['bytes']):>9}{mb(total['gzip_bytes']):>9}")
    print(
        f"\nbaseline (minbase + node + npm install openclaw): {mb(baseline['bytes'])} MB "
        f"({mb(baseline['gzip_bytes'])} MB gzip); image/baseline = {figures['ratio_image_to_baseline']}"
    )
    print(
        f"toolchain {mb(toolchain['bytes'])} MB, plugins+app {mb(extras['bytes'])} MB; "
        f"image <= baseline + toolchain + plugins + app: {figures['within_goal']}"
    )
    print(
        f"base layer {mb(layers['base']['bytes'])} MB vs {mb(untrimmed['bytes'])} MB without "
        f"dpkg_excludes_unused: trimmed/untrimmed = {figures['ratio_base_trimmed_to_untrimmed']}"
    )
    print(f"nix-openclaw closures (reported upstream, not built here): {NIX_REPORTED_MB}")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
