"""Pin nix-openclaw in flake.lock offline, from a local git copy of it.

With network, `nix flake lock` does all of this. Offline (our machines) we compute the same facts
ourselves: the source tree of the rev (`git archive`, which is what a GitHub tarball unpacks to
once Nix strips its top directory), its NAR hash (`nix hash path`), and the commit time as
lastModified. `nix flake lock --override-input nix-openclaw path:SRC` then writes the transitive
nodes from nix-openclaw's own lock, and the nix-openclaw node is turned into the github node a
networked `nix flake lock` would write.

Usage: python -m image.nix_lock GIT_DIR   (a clone of openclaw/nix-openclaw containing the rev)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from image.contract import Contract
from image.paths import REPO

NIX = ["nix", "--extra-experimental-features", "nix-command flakes"]


def export_source(git_dir: Path, rev: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(git_dir), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def nar_hash(path: Path) -> str:
    return subprocess.run([*NIX, "hash", "path", str(path)], capture_output=True, text=True, check=True).stdout.strip()


def commit_time(git_dir: Path, rev: str) -> int:
    out = subprocess.run(
        ["git", "-C", str(git_dir), "log", "-1", "--format=%ct", rev], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip())


def root_inputs(lock: dict) -> dict:
    """The flake's own inputs in a flake.lock: input name -> node name (or a `follows` path)."""
    return lock["nodes"][lock["root"]]["inputs"]


def nix_openclaw_node(lock: dict) -> dict:
    """The flake.lock node of our nix-openclaw input (its `locked` and `original` entries)."""
    return lock["nodes"][root_inputs(lock)["nix-openclaw"]]


def github_node(lock: dict, rev: str, narhash: str, last_modified: int) -> dict:
    """The lock with its nix-openclaw node as a networked `nix flake lock` would write it."""
    node = nix_openclaw_node(lock)
    original = node["original"]
    node["locked"] = {
        "lastModified": last_modified,
        "narHash": narhash,
        "owner": original["owner"],
        "repo": original["repo"],
        "rev": rev,
        "type": "github",
    }
    return lock


def relock(git_dir: Path, repo: Path = REPO) -> dict:
    rev = Contract.load().raw["openclaw"]["nix_openclaw_rev"]
    with tempfile.TemporaryDirectory() as tmp:
        src = export_source(git_dir, rev, Path(tmp) / "src")
        narhash = nar_hash(src)
        subprocess.run([*NIX, "flake", "lock", "--override-input", "nix-openclaw", f"path:{src}"], cwd=repo, check=True)
    lock_path = repo / "flake.lock"
    lock = github_node(json.loads(lock_path.read_text()), rev, narhash, commit_time(git_dir, rev))
    lock_path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    print(f"flake.lock: nix-openclaw {rev} {narhash}")
    return lock


if __name__ == "__main__":
    relock(Path(sys.argv[1]))
