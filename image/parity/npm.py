"""npm with the pinned node, for the parity builder and the host-side template check: unpack the
pinned runtime once, `npm install -g` a verified tarball, and prune what the image never reads or
could never load (sources.toml [prune])."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from image.parity.downloads import npm_tarball, unpack_npm
from image.parity.sources import NpmPackage, Sources
from image.paths import NPM_CACHE, WORK
from plumbing import commands


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
        commands.stream(
            [node, npm_cli, "install", "-g", "--prefix", prefix, "--omit=dev", "--no-save", tarball], env=env
        )
    prune_build_intermediates(prefix)
    prune_unloadable_natives(prefix, sources.prune)
    prune_unread(prefix, sources.prune)
    prune_package_files(prefix, sources.prune)
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


def prune_package_files(root: Path, prune: dict) -> int:
    """Remove the files and folders sources.toml [prune.package_files] names, relative to each package of that
    name npm put below `root` (node_modules/<name>). Returns the bytes removed; a listed path the package
    does not have is skipped (a newer version may have dropped it)."""
    removed = 0
    for name, paths in sorted(prune.get("package_files", {}).items()):
        for package in sorted(root.rglob(f"node_modules/{name}")):
            for rel in paths:
                path = package / rel
                if path.is_dir() and not path.is_symlink():
                    removed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
                    shutil.rmtree(path)
                elif path.is_file() or path.is_symlink():
                    removed += 0 if path.is_symlink() else path.stat().st_size
                    path.unlink()
    return removed


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
