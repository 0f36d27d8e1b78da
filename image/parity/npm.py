"""npm with the pinned node, for the parity builder and the host-side template check: unpack the
pinned runtime, `npm install -g` a verified tarball, and prune what the image could never load."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from image.parity.downloads import npm_tarball, unpack_npm
from image.parity.sources import Sources
from image.paths import NPM_CACHE, WORK
from plumbing import commands


def node_toolchain(sources: Sources) -> tuple[Path, Path]:
    """Unpacked pinned node + npm in the work dir, used both in the image and to run npm here."""
    node = unpack_npm(npm_tarball(sources.one("node")), WORK / "node-runtime")
    npm = unpack_npm(npm_tarball(sources.one("npm")), WORK / "npm-cli")
    return node / "bin" / "node", npm / "bin" / "npm-cli.js"


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
            [
                node,
                npm_cli,
                "install",
                "-g",
                "--prefix",
                str(prefix),
                "--omit=dev",
                "--no-save",
                tarball,
            ],
            env=env,
        )
    prune_build_intermediates(prefix)
    prune_unloadable_natives(prefix, sources.prune)


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


def prune_build_intermediates(root: Path) -> None:
    """Drop node-gyp's generated build scripts (Makefile, config.gypi): they embed the build directory's
    path, so they made two builds differ (found by `doit repro`), and nothing loads them at runtime."""
    for gypi in root.rglob("build/config.gypi"):
        for name in ("Makefile", "config.gypi"):
            (gypi.parent / name).unlink(missing_ok=True)
