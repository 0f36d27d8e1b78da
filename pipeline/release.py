"""OpenClaw releases as inputs: build any release beside the working pin, or move the working pin to one.

  python -m pipeline.release build VERSION [--load]   an image of VERSION, tagged with it, in its own folder
  python -m pipeline.release pin VERSION              move the working pin to VERSION, then validate the template

`build` runs the parity builder on a Target whose contract and sources are the working ones with VERSION
pinned (image/release.py), in build/releases/VERSION/: same template, entrypoint, contract and builder
code; the layers that hold no OpenClaw pin (base, node, tools) are the working build's, so they must be
built (doit image). Each of its own layers is rebuilt only when its inputs changed. The image record and
labels name the version and which patches were applied or left out, and why (image/patches/apply.py).

`pin` rewrites the contract's [openclaw] pin, the openclaw and plugin entries of sources.toml (their npm
integrities are the npm lock), flake.nix's nix-openclaw input tag and flake.lock (from the local nix-openclaw
git copy, as image/nix/lock.py does), checks the pins agree (build/pins.json), then has that release's own
`openclaw config validate` judge the template: a rejection stops with OpenClaw's message and the key path.
`doit` then rebuilds.
Debian's lock does not depend on the OpenClaw release and stays as it is.

A release not in image/releases.toml is looked up first: the three packages' integrities from the npm
registry (`npm view`), the tag's commit from the nix-openclaw git copy; the entry is added to the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from harness.podman import QaUser
from image.contract import CONTRACT_PATH, ENTRY_PATH, NODE_PRELOADS, PROBE_PATH, Contract
from image.nix.lock import relock
from image.parity import build as parity
from image.parity.sources import SOURCES_PATH
from image.patches import specs as patch_specs
from image.paths import BUILD, NIX_OPENCLAW_GIT, REPO, WORK
from image.record import ImageRecord
from image.release import (
    FLAKE_PATH,
    RELEASE_PACKAGES,
    RELEASES_PATH,
    Release,
    contract_text,
    flake_text,
    known,
    previous,
    sources_text,
)
from pipeline import pins
from pipeline.load import is_loaded, pull
from pipeline.template_check import check
from plumbing import commands
from plumbing.files import read_json, write_json, write_text

RELEASES_BUILD = BUILD / "releases"
BUILDER_CODE = [REPO / "image" / f for f in ("layers.py", "parity/build.py", "parity/npm.py", "parity/downloads.py")]


def look_up(version: str, git_dir: Path = NIX_OPENCLAW_GIT) -> Release:
    """A release not yet in releases.toml: npm's integrities of its packages, the nix-openclaw tag's commit."""
    integrity = {}
    for name in RELEASE_PACKAGES:
        proc = commands.run(["npm", "view", f"{name}@{version}", "dist.integrity"], timeout=120)
        value = proc.stdout.strip()
        if proc.returncode != 0 or not value.startswith("sha512-"):
            why = proc.stderr.strip()[-300:] or "no output"
            raise SystemExit(f"{name}@{version} is not on the npm registry ({why})")
        integrity[name] = value
    ref = f"v{version}"
    proc = commands.run(["git", "-C", git_dir, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"])
    if proc.returncode != 0:
        raise SystemExit(f"nix-openclaw has no tag {ref} in {git_dir} (OPENCLAW_NIX_OPENCLAW_GIT): fetch it first")
    return Release(version, ref, proc.stdout.strip(), integrity)


def ensure(version: str) -> Release:
    """The release from releases.toml, looked up and added there when it is new."""
    release = known(version)
    if release is None:
        release = look_up(version)
        table = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in release.integrity.items())
        entry = (
            f'\n[release."{version}"]\nnix_openclaw_ref = "{release.nix_openclaw_ref}"\n'
            f'nix_openclaw_rev = "{release.nix_openclaw_rev}"\nintegrity = {{ {table} }}\n'
        )
        write_text(RELEASES_PATH, RELEASES_PATH.read_text(encoding="utf-8") + entry)
        print(f"[release] {version} added to {RELEASES_PATH.name} (nix-openclaw {release.nix_openclaw_rev[:12]})")
    return release


def side_target(release: Release) -> parity.Target:
    """The parity Target of `release` in build/releases/VERSION, its contract and sources written there."""
    root = RELEASES_BUILD / release.version
    write_text(root / "contract.toml", contract_text(release, tag=release.tag))
    write_text(root / "sources.toml", sources_text(release))
    return parity.Target(
        contract_path=root / "contract.toml",
        sources_path=root / "sources.toml",
        layers=root / "layers",
        archive=root / f"openclaw-nix-{release.version}.tar",
        work=WORK / "releases" / release.version,
        shared=parity.RELEASE_INDEPENDENT,
    )


def _digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def layer_inputs(target: parity.Target, name: str) -> str:
    """A digest of what the release's own layer `name` is built from (as doit's file_dep + config_changed)."""
    inputs = {
        "openclaw": [target.sources_path, *patch_specs(), REPO / "image/patches/apply.py"],
        "plugins": [target.sources_path, target.contract_path],
        "app": [
            target.contract_path,
            ENTRY_PATH,
            PROBE_PATH,
            *NODE_PRELOADS,
            Contract.load(target.contract_path).template_path,
        ],
    }[name]
    return _digest(*inputs, *BUILDER_CODE)


def build(version: str) -> ImageRecord:
    """Build (or reuse) the image of `version` beside the working one; returns its record."""
    release = ensure(version)
    target = side_target(release)
    for name in parity.RELEASE_INDEPENDENT:
        if read_json(target.layer_path(name).with_suffix(".json")) is None:
            raise SystemExit(f"the shared layer {name} is not built ({target.layer_path(name)}): run doit image first")
    for name in parity.LAYERS:
        if name in target.shared:
            continue
        meta_path = target.layer_path(name).with_suffix(".json")
        meta, key = read_json(meta_path), layer_inputs(target, name)
        if meta and meta.get("inputs") == key and target.layer_path(name).exists():
            print(f"[{name}] {version}: up to date", flush=True)
            continue
        parity.build_layer(name, target)
        write_json(meta_path, {**read_json(meta_path), "inputs": key})
    record = parity.build_archive(target=target)
    print(f"[release] {record.ref} = {record.image_id[:19]}, OpenClaw {record.openclaw_version}", flush=True)
    print(f"[release] patches: {record.patches}", flush=True)
    return record


def record_path(version: str) -> Path:
    """Where a side build of `version` keeps its image record."""
    return RELEASES_BUILD / version / f"openclaw-nix-{version}.json"


def build_and_load(version: str) -> ImageRecord:
    """`build`, then the QA user's podman holds it (skipped when it already holds that exact image id)."""
    record = build(version)
    if not is_loaded(record):
        print(f"[release] loading {record.ref} into {QaUser().name}'s podman", flush=True)
        pull(QaUser(), record)
    return record


def pin(version: str, git_dir: Path = NIX_OPENCLAW_GIT) -> None:
    """Move the working pin to `version`; then the chain (pins, template with that release's validator)."""
    release = ensure(version)
    before = Contract.load().openclaw_version
    write_text(CONTRACT_PATH, contract_text(release))
    write_text(SOURCES_PATH, sources_text(release))
    write_text(FLAKE_PATH, flake_text(release))
    print(f"[pin] openclaw {before} -> {version}: contract, sources.toml, flake.nix rewritten", flush=True)
    relock(git_dir)
    pins.write()
    check(Contract.load())
    print(f"[pin] the working pin is now {version}; run doit to rebuild and test the image", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build an image of VERSION beside the working one (tag = VERSION)")
    b.add_argument("version", nargs="?", help="default: the previous release of image/releases.toml")
    b.add_argument("--load", action="store_true", help="also load it into the QA user's podman")
    p = sub.add_parser("pin", help="move the working pin to VERSION and validate the template with it")
    p.add_argument("version")
    args = parser.parse_args(argv)
    if args.command == "pin":
        pin(args.version)
    else:
        version = args.version or previous()
        (build_and_load if args.load else build)(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
