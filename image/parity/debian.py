"""The Debian half of the parity image: which apt sources mmdebstrap uses, and the package lock.

mmdebstrap reuses the host's apt sources; we hand it only the host's entries for the pinned suite
(and its -updates/-security), so a third-party repository on the host never leaks into the image.
Debian serves only the current version of each package (no snapshot archive is reachable here), so
versions cannot be pinned in advance: image/parity/debian-packages.lock records what the base was built
from, and every build reports drift against it (OPENCLAW_NIX_DEBIAN_LOCK=update rewrites it,
=strict fails the build on drift).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from pathlib import Path

from plumbing import commands
from plumbing.files import replaced

LOCK = Path(__file__).with_name("debian-packages.lock")
# Where Debian's libnss-wrapper puts the library; the app layer links the contract's [passwd] path to it.
NSS_WRAPPER_LIB = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"
SOURCE_DIRS = [Path("/etc/apt/sources.list.d")]
SOURCES_LIST = Path("/etc/apt/sources.list")


def suite_sources(suite: str) -> str:
    """deb822 stanzas (and one-line `deb` entries) of the host that serve `suite`, -updates, -security."""
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    stanzas = []
    for folder in SOURCE_DIRS:
        for path in sorted(folder.glob("*.sources")):
            for block in path.read_text().split("\n\n"):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", block, re.M))
                suites = set(fields.get("Suites", "").split())
                if "deb" in fields.get("Types", "").split() and suites & wanted:
                    kept = [line for line in block.strip().splitlines() if not line.startswith("#")]
                    stanzas.append("\n".join(kept).replace(fields["Suites"], " ".join(sorted(suites & wanted))))
    if SOURCES_LIST.exists():
        for line in SOURCES_LIST.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] in wanted:
                stanzas.append(line)
    if not stanzas:
        raise SystemExit(f"no apt source on this host serves Debian {suite}: add one to /etc/apt/sources.list.d")
    return "\n\n".join(stanzas) + "\n"


def build_rootfs(deb: dict, packages: list[str], excludes: list[str], work: Path, label: str, epoch: int) -> Path:
    """An mmdebstrap rootfs tarball of `packages` with dpkg skipping `excludes`, cached in `work` as
    `<label>-<key>.tar` while suite, packages, excludes and the host's apt sources stay the same."""
    apt_sources = suite_sources(deb["suite"])
    recipe = {"suite": deb["suite"], "variant": deb["variant"], "packages": packages, "excludes": excludes}
    key = hashlib.sha256((json.dumps(recipe, sort_keys=True) + apt_sources).encode()).hexdigest()[:16]
    rootfs = work / f"{label}-{key}.tar"
    if rootfs.exists():
        print(f"[{label}] reusing {rootfs}", flush=True)
        return rootfs
    work.mkdir(parents=True, exist_ok=True)
    sources_file = work / f"{label}-{key}.sources"
    sources_file.write_text(apt_sources)
    cmd = [
        "mmdebstrap",
        "--quiet",
        f"--variant={deb['variant']}",
        f"--include={','.join(packages)}",
        *[f"--dpkgopt=path-exclude={p}" for p in excludes],
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        deb["suite"],
    ]
    with replaced(rootfs, suffix=".partial.tar") as partial:  # mmdebstrap picks its output format by suffix
        argv = [*cmd, str(partial), str(sources_file)]  # only the host's Debian entries for this suite
        print(f"[{label}] {' '.join(argv)}", flush=True)
        commands.stream(argv, env={"SOURCE_DATE_EPOCH": str(epoch)})
    for stale in work.glob(f"{label}-*"):  # trees of earlier recipes: up to ~700 MB each
        if stale not in (rootfs, sources_file):
            print(f"[{label}] removing stale {stale.name}", flush=True)
            stale.unlink()
    return rootfs


def installed_packages(rootfs_tar: Path) -> list[str]:
    """`name=version` of every installed package in a rootfs tarball, from its dpkg status."""
    with tarfile.open(rootfs_tar) as tar:
        return parse_dpkg_status(tar.extractfile("./var/lib/dpkg/status").read().decode())  # type: ignore[union-attr]


def parse_dpkg_status(text: str) -> list[str]:
    """`name=version` of every installed package listed in a dpkg status file's text."""
    packages = []
    for block in text.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Status): (.*)$", block, re.M))
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            packages.append(f"{fields['Package']}={fields.get('Version', '?')}")
    return sorted(packages)


def drift(locked: list[str], built: list[str]) -> list[str]:
    old, new = dict(p.split("=", 1) for p in locked), dict(p.split("=", 1) for p in built)
    changes = [f"+ {n}={new[n]}" for n in sorted(set(new) - set(old))]
    changes += [f"- {n}={old[n]}" for n in sorted(set(old) - set(new))]
    changes += [f"~ {n}: {old[n]} -> {new[n]}" for n in sorted(set(old) & set(new)) if old[n] != new[n]]
    return changes


def check_lock(built: list[str], lock: Path = LOCK) -> list[str]:
    """Compare with the lock; write it when missing or asked. Returns the drift (empty: none)."""
    mode = os.environ.get("OPENCLAW_NIX_DEBIAN_LOCK", "report")
    if not lock.exists() or mode == "update":
        lock.write_text(
            "# Debian packages of the parity base layer (generated by the build; see debian.py)\n"
            + "\n".join(built)
            + "\n"
        )
        return []
    locked = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
    changes = drift(locked, built)
    if changes:
        print(
            f"[base] Debian drift against {lock.name} ({len(changes)} changes): "
            + "; ".join(changes[:8])
            + (" ..." if len(changes) > 8 else ""),
            flush=True,
        )
        if mode == "strict":
            raise SystemExit("Debian packages drifted from the lock (OPENCLAW_NIX_DEBIAN_LOCK=strict)")
    return changes
