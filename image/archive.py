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
from contextlib import nullcontext
from pathlib import Path

from image.contract import Contract
from image.layers import Layer
from plumbing.files import replaced, write_json


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
    return oci_config({**contract.run_config, "Labels": labels}, layers, epoch, "openclaw-nix layer")


def write_docker_archive(out: Path, repo_tag: str, config: dict, layers: list[tuple[str, Layer]]) -> str:
    """Write the archive; returns the image id (sha256 of the config JSON).

    When `out` is an archive this function wrote (its index sidecar matches the file's size and mtime)
    and starts with the same layers, only what follows them is rewritten in place: a template change
    then rewrites the 40 kB app layer, not 1.2 GB. The bytes equal a full write's (tests/test_parity.py).
    Anything else (no index, a changed file, an interrupted write) gets a full write to a temp file."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(blob).hexdigest()
    manifest = [
        {
            "Config": f"{image_id}.json",
            "RepoTags": [repo_tag],
            "Layers": [f"{layer.diff_id.split(':')[1]}/layer.tar" for _, layer in layers],
        }
    ]
    index_path = _index_path(out)
    kept = _reusable_prefix(out, index_path, layers)
    index_path.unlink(missing_ok=True)  # from here until the new index is written, `out` is not reusable
    target = nullcontext(out) if kept else replaced(out)
    with target as path, path.open("r+b" if kept else "wb") as fh:
        if kept:
            fh.seek(sum(_member_bytes(layer.size) for _, layer in layers[:kept]))
            fh.truncate()
            print(f"[archive] kept {kept} unchanged layer(s) in place", flush=True)
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.GNU_FORMAT) as tar:

            def add_bytes(name: str, data: bytes) -> None:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, fileobj=_BytesReader(data))

            for name, layer in layers[kept:]:
                digest = layer.diff_id.split(":")[1]
                info = tarfile.TarInfo(f"{digest}/layer.tar")
                info.size, info.mtime, info.mode = layer.size, 0, 0o644
                print(f"[archive] + {name} ({layer.size / 1e6:.0f} MB)", flush=True)
                with layer.path.open("rb") as src:
                    tar.addfile(info, src)
            add_bytes(f"{image_id}.json", blob)
            add_bytes("manifest.json", json.dumps(manifest).encode())
    st = out.stat()
    index = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "layers": [[la.diff_id, la.size] for _, la in layers]}
    write_json(index_path, index)
    return "sha256:" + image_id


def _index_path(out: Path) -> Path:
    return out.with_name(out.name + ".index.json")


def _member_bytes(size: int) -> int:
    """Bytes one layer takes in the archive: a 512-byte header (names are < 100 chars: no long-name
    header), then the data padded to 512."""
    return tarfile.BLOCKSIZE + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _reusable_prefix(out: Path, index_path: Path, layers: list[tuple[str, Layer]]) -> int:
    """How many leading layers of `out` are already the wanted ones (0: write it all)."""
    try:
        index = json.loads(index_path.read_text())
        st = out.stat()
    except (OSError, ValueError):
        return 0
    if [st.st_size, st.st_mtime_ns] != [index.get("size"), index.get("mtime_ns")]:
        return 0
    kept = 0
    for (_, layer), old in zip(layers, index.get("layers", []), strict=False):  # the index may be shorter
        if [layer.diff_id, layer.size] != old:
            break
        kept += 1
    return kept


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk, self.pos = self.data[self.pos : end], min(end, len(self.data))
        return chunk
