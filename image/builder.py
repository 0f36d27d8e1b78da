"""Which builder makes the image: Nix where it can build, the parity builder otherwise.

OPENCLAW_NIX_BUILDER=nix|parity forces one; `auto` (default) asks Nix for a dry-run build of the
flake once per flake.lock and caches the answer, so `doit` stays fast. Never silent: the choice
and its reason are printed and recorded in build/builder.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

from image.paths import BUILD, REPO

CHOICE = BUILD / "builder.json"
FLAKE_ATTR = ".#openclaw-nix-image"


def _key() -> str:
    lock = REPO / "flake.lock"
    data = lock.read_bytes() if lock.exists() else b""
    return hashlib.sha256(data + str(shutil.which("nix")).encode()).hexdigest()[:16]


def probe_nix() -> tuple[bool, str]:
    """Can Nix build the flake here? A dry run must resolve nixpkgs and every input."""
    if shutil.which("nix") is None:
        return False, "nix is not installed"
    proc = subprocess.run(
        ["nix", "build", "--dry-run", "--no-link", "--accept-flake-config", FLAKE_ATTR],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode == 0:
        return True, "nix build --dry-run succeeded"
    lines = proc.stderr.strip().splitlines() or ["no output"]
    reason = next((line for line in lines if line.startswith("error:")), lines[-1])
    return False, f"nix build --dry-run failed: {reason[:300]}"


def choose() -> dict:
    forced = os.environ.get("OPENCLAW_NIX_BUILDER", "auto")
    if forced in ("nix", "parity"):
        return {"builder": forced, "reason": f"OPENCLAW_NIX_BUILDER={forced}"}
    key = _key()
    if CHOICE.exists():
        cached = json.loads(CHOICE.read_text())
        if cached.get("key") == key:
            return cached
    ok, reason = probe_nix()
    choice = {"builder": "nix" if ok else "parity", "reason": reason, "key": key}
    BUILD.mkdir(parents=True, exist_ok=True)
    CHOICE.write_text(json.dumps(choice, indent=2) + "\n")
    return choice


_announced = False


def announce(choice: dict) -> None:
    """Say once per run which builder makes the image and why."""
    global _announced
    if _announced:
        return
    _announced = True
    if choice["builder"] == "parity":
        print(
            f"[image] Nix cannot build here ({choice['reason']}): using the parity builder "
            "(Debian/npm/PyPI parts, same contract, template and entrypoint).",
            flush=True,
        )
    else:
        print(f"[image] building with Nix ({choice['reason']}).", flush=True)
