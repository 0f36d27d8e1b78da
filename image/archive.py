"""Write a docker-archive (what `podman load` reads, and what Nix's streamLayeredImage emits).

Layout: manifest.json, <config-digest>.json, <diff-id>/layer.tar per layer. The image config is
built from the contract so both builders stamp identical Env/Entrypoint/Cmd/ports/no User.
No Volumes (podman would create an anonymous volume per run) and no WorkingDir under /state
(runc would create it as container root, a subuid under keep-id, leaving it unwritable).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from pathlib import Path

from image.contract import Contract
from image.layers import Layer
from plumbing.files import replaced


def oci_config(config: dict, layers: list[tuple[str, Layer]], epoch: int, origin: str) -> dict:
    """An image config around `config` (the run settings): the layers' diff ids, one history entry each."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for _, layer in layers]},
        "history": [{"created": created, "created_by": f"{origin}: {name}"} for name, _ in layers],
    }


def image_config(contract: Contract, layers: list[tuple[str, Layer]], labels: dict[str, str], epoch: int) -> dict:
    config = {
        "Env": contract.env_list,
        "Entrypoint": contract.entrypoint,
        "Cmd": contract.cmd,
        "ExposedPorts": contract.exposed_ports,
        "Healthcheck": contract.healthcheck,
        "Labels": labels,
    }
    return oci_config(config, layers, epoch, "openclaw-nix layer")


def write_docker_archive(out: Path, repo_tag: str, config: dict, layers: list[tuple[str, Layer]]) -> str:
    """Write the archive atomically; returns the image id (sha256 of the config JSON)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(blob).hexdigest()
    manifest = [
        {
            "Config": f"{image_id}.json",
            "RepoTags": [repo_tag],
            "Layers": [f"{layer.diff_id.split(':')[1]}/layer.tar" for _, layer in layers],
        }
    ]
    with replaced(out) as tmp, tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:

        def add_bytes(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, fileobj=_BytesReader(data))

        for name, layer in layers:
            digest = layer.diff_id.split(":")[1]
            info = tarfile.TarInfo(f"{digest}/layer.tar")
            info.size, info.mtime, info.mode = layer.size, 0, 0o644
            print(f"[archive] + {name} ({layer.size / 1e6:.0f} MB)", flush=True)
            with layer.path.open("rb") as fh:
                tar.addfile(info, fh)
        add_bytes(f"{image_id}.json", blob)
        add_bytes("manifest.json", json.dumps(manifest).encode())
    return "sha256:" + image_id


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk, self.pos = self.data[self.pos : end], min(end, len(self.data))
        return chunk
