"""Which builder makes the image: Nix where it can build, the parity builder otherwise.

OPENCLAW_NIX_BUILDER=nix|parity forces one; `auto` (default) asks Nix for a dry-run build of the
flake once per flake.lock and caches the answer, so `doit` stays fast. Never silent: the choice
and its reason are printed and recorded in build/builder.json.
"""

from __future__ import annotations

import hashlib
import os
import shutil

from image.paths import BUILD, REPO
from plumbing import commands
from plumbing.files import read_json, write_json

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
    proc = commands.run(
        ["nix", "build", "--dry-run", "--no-link", "--accept-flake-config", FLAKE_ATTR], cwd=REPO, timeout=300
    )
    if proc.returncode == 0:
        return True, "nix build --dry-run succeeded"
    lines = proc.stderr.strip().splitlines() or ["no output"]
    reason = next((line for line in lines if line.startswith("error:")), lines[-1])
    return False, f"nix build --dry-run failed: {reason[:300]}"


def _forced() -> dict | None:
    forced = os.environ.get("OPENCLAW_NIX_BUILDER", "auto")
    if forced in ("nix", "parity"):
        return {"builder": forced, "reason": f"OPENCLAW_NIX_BUILDER={forced}"}
    return None


def current() -> dict | None:
    """The choice without doing anything (for task collection and `doit list`): forced by env, else
    the recorded one if it is still valid for this flake.lock and nix; None while undecided."""
    forced = _forced()
    if forced:
        return forced
    cached = read_json(CHOICE)
    return cached if cached and cached.get("key") == _key() else None


def choose() -> dict:
    """Decide (probing Nix once per flake.lock) and record the choice in build/builder.json, a forced
    one too: the file is the `builder` task's target and F1's record of what was used."""
    choice = current()
    if not choice:
        ok, reason = probe_nix()
        choice = {"builder": "nix" if ok else "parity", "reason": reason, "key": _key()}
    write_json(CHOICE, choice)
    return choice


def announce(choice: dict) -> None:
    """Say which builder makes the image and why."""
    if choice["builder"] == "parity":
        print(
            f"[image] Nix cannot build here ({choice['reason']}): using the parity builder "
            "(Debian/npm/PyPI parts, same contract, template and entrypoint).",
            flush=True,
        )
    else:
        print(f"[image] building with Nix ({choice['reason']}).", flush=True)
