#!/usr/bin/env python3
"""The official-style baseline image for the benchmarks, built from the parity builder's parts.

What OpenClaw's own Dockerfile amounts to, with no toolchain: Debian bookworm minbase + ca-certificates +
tini + curl (mmdebstrap, same suite, sources and doc excludes as our base), then the parity build's own
`node` (node 22 + npm), `openclaw` (`npm install -g openclaw@<pin>`) and `plugins` (the two plugin
tarballs under plugins_dir/<id>) layers, byte for byte. tini is PID 1 and runs the gateway directly: no
entrypoint, no config seeding, no env beyond PATH, NODE_ENV=production and LANG (the bench passes
OPENCLAW_CONFIG_PATH / OPENCLAW_STATE_DIR / HOME at run time and mounts the same rendered config).

Cached: the image id is a function of the Debian recipe, the three parity layers' digests and the image
config; nothing is rebuilt or loaded while podman already holds that id under TAG.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

from harness.podman import QaUser
from image.archive import oci_config, write_docker_archive
from image.contract import Contract
from image.layers import Layer, tar_entries, write_layer
from image.parity import debian
from image.parity.build import layer_path
from image.parity.sources import Sources
from image.paths import WORK
from image.provenance import source_date_epoch
from image.record import ImageRecord, LayerRecord
from pipeline.load import loaded_id, pull
from plumbing.files import write_json

TAG = "localhost/openclaw-official-style:bench"
PACKAGES = ["ca-certificates", "tini", "curl"]
PARITY_PARTS = ("node", "openclaw", "plugins")
HERE = WORK / "bench-official"
LABEL = "bench-official-rootfs"  # debian.build_rootfs removes stale `<label>-*` trees: ours alone


def image_config(contract: Contract, layers: list[tuple[str, Layer]], epoch: int) -> dict:
    """What OpenClaw's own Dockerfile sets: tini running the gateway, no entrypoint of ours."""
    config = {
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "NODE_ENV=production",
            "LANG=C.UTF-8",
        ],
        "Entrypoint": ["tini", "--"],
        "Cmd": contract.cmd,
        "ExposedPorts": contract.exposed_ports,
        "Labels": {"org.opencontainers.image.title": "openclaw official-style baseline (bench only)"},
    }
    return oci_config(config, layers, epoch, "bench baseline layer")


def rootfs_layer(epoch: int) -> Layer:
    """minbase + ca-certificates + tini + curl as a layer, cached beside its mmdebstrap tarball."""
    deb = Sources.load().debian
    rootfs = debian.build_rootfs(deb, PACKAGES, deb["dpkg_excludes"], WORK, LABEL, epoch)
    out = HERE / f"{rootfs.stem}.layer.tar"
    meta = out.with_suffix(".json")
    if out.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return Layer(out, m["diff_id"], m["size"])
    for stale in HERE.glob(f"{LABEL}-*"):
        stale.unlink()
    layer = write_layer(tar_entries(rootfs), out, epoch)
    write_json(meta, {"diff_id": layer.diff_id, "size": layer.size})
    return layer


def parity_layer(name: str) -> Layer:
    """The parity build's layer, hard-linked here so a rebuild under us cannot change what we read."""
    meta = json.loads(layer_path(name).with_suffix(".json").read_text())
    link = HERE / f"{name}-{meta['diff_id'].split(':')[1][:16]}.tar"
    if not link.exists():
        for stale in HERE.glob(f"{name}-*.tar"):
            stale.unlink()
        os.link(layer_path(name), link)
    if link.stat().st_size != meta["size"]:
        link.unlink()
        raise SystemExit(f"{layer_path(name)} does not match its .json (being rebuilt?): try again")
    return Layer(link, meta["diff_id"], meta["size"])


def ensure_baseline(user: QaUser | None = None) -> ImageRecord:
    """Build (when its inputs changed) and load the baseline; returns its image record."""
    user = user or QaUser()
    HERE.mkdir(parents=True, exist_ok=True)
    epoch = source_date_epoch()
    layers = [("debian", rootfs_layer(epoch)), *((n, parity_layer(n)) for n in PARITY_PARTS)]
    config = image_config(Contract.load(), layers, epoch)
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = "sha256:" + hashlib.sha256(blob).hexdigest()  # what write_docker_archive returns
    archive = HERE / "official-style.tar"
    record = ImageRecord(
        "official-style", image_id, archive, TAG, tuple(LayerRecord(n, la.diff_id, la.size) for n, la in layers)
    )
    previous = loaded_id(user, TAG)
    if previous == image_id:
        print(f"[baseline] {TAG} = {image_id[:19]} already loaded", flush=True)
        return record
    written = write_docker_archive(archive, TAG, config, layers)
    assert written == image_id, (written, image_id)
    try:
        started = time.monotonic()
        pull(user, record)
    finally:
        archive.unlink(missing_ok=True)  # ~570 MB; the layers stay cached
    if previous:  # our own earlier baseline, now untagged: drop it (no other image is touched)
        user.podman("rmi", previous.split(":")[1])
    print(f"[baseline] loaded {TAG} = {image_id[:19]} in {time.monotonic() - started:.1f} s", flush=True)
    return record


def main() -> int:
    record = ensure_baseline()
    for layer in record.layers:
        print(f"[baseline] {layer.name}: {layer.size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
