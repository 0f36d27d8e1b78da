"""Build the image with Nix and turn the streamed result into a docker-archive file.

`nix build .#openclaw-nix-image` yields a *script* (streamLayeredImage) that writes the
docker-archive to stdout: `./result | podman load`, not `podman load < result`. We run it into a
file so the load step and the QA can treat both builders' outputs alike.
NOT EXECUTED on our machines (no nixpkgs, no binary cache): see docs/what-ran-where.md.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from image.contract import Contract
from image.paths import BUILD, NIX_ARCHIVE, REPO
from image.record import ImageRecord
from plumbing import commands
from plumbing.files import replaced

RESULT_LINK = BUILD / "nix-result"


def archive_image_id(archive: Path) -> str:
    """The image id podman will report: the config blob's name in the archive's manifest."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    return "sha256:" + manifest[0]["Config"].removesuffix(".json").split("/")[-1]


def build(out: Path = NIX_ARCHIVE) -> ImageRecord:
    contract = Contract.load()
    print("[image] nix build .#openclaw-nix-image", flush=True)
    # --accept-flake-config: use flake.nix's nixConfig (nix-openclaw's binary cache); without it OpenClaw
    # and every plugin are compiled from source. A multi-user daemon still honours it only where root
    # trusts that cache (docs/nix.md, "Binary cache").
    cmd = ["nix", "build", "--accept-flake-config", ".#openclaw-nix-image", "--out-link", str(RESULT_LINK)]
    commands.stream(cmd, cwd=REPO)
    with replaced(out) as tmp:
        commands.run([RESULT_LINK], stdout_to=tmp, timeout=None, check=True)
    record = ImageRecord("nix", archive_image_id(out), out, contract.image_ref)
    record.write(out.with_suffix(".json"))
    return record
