"""The `pin` step: gather every pin (contract, parity sources, flake.lock) into build/pins.json.

Fails when the pins disagree (the parity image must carry the OpenClaw the Nix image carries),
so nothing downstream builds from inconsistent inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

from image.contract import Contract
from image.nix.lock import nix_openclaw_node
from image.parity.debian import LOCK as DEBIAN_LOCK
from image.parity.sources import Sources
from image.paths import PINS, REPO
from plumbing.files import write_json

FLAKE_LOCK = REPO / "flake.lock"


def nix_openclaw_lock(lock_path: Path = FLAKE_LOCK) -> dict | None:
    if not lock_path.exists():
        return None
    node = nix_openclaw_node(json.loads(lock_path.read_text()))
    return {k: node["locked"].get(k) for k in ("type", "owner", "repo", "rev", "narHash", "lastModified")}


def _debian_lock() -> list[str]:
    """The versions the parity base was last built from (Debian serves no older ones: see debian.py)."""
    if not DEBIAN_LOCK.exists():
        return []
    return [line for line in DEBIAN_LOCK.read_text().splitlines() if line and not line.startswith("#")]


def collect(contract: Contract, sources: Sources) -> dict:
    problems = sources.check_against(contract)
    locked = nix_openclaw_lock()
    if locked and locked["rev"] != contract.nix_openclaw_rev:
        problems.append(f"flake.lock pins nix-openclaw {locked['rev']}, the contract {contract.nix_openclaw_rev}")
    if problems:
        raise SystemExit("pins disagree:\n  " + "\n  ".join(problems))
    return {
        "openclaw": contract.openclaw_version,
        "nix_openclaw": locked or {"rev": contract.nix_openclaw_rev, "note": "no flake.lock yet"},
        "debian": {**sources.debian, "locked_packages": _debian_lock()},
        "npm": {p.name: {"version": p.version, "integrity": p.integrity, "role": p.role} for p in sources.npm},
        "pypi": {p["name"]: p["version"] for p in sources.pypi},
    }


def write(out: Path = PINS) -> dict:
    pins = collect(Contract.load(), Sources.load())
    write_json(out, pins, sort_keys=True)
    print(
        f"[pin] openclaw {pins['openclaw']}, nix-openclaw {pins['nix_openclaw']['rev'][:12]}, "
        f"{len(pins['npm'])} npm + {len(pins['pypi'])} PyPI pins -> {out}"
    )
    return pins
