"""Pin nix-openclaw in flake.lock offline, from a local git copy of it.

With network, `nix flake lock` does all of this. Offline (our machines) we compute the same facts
ourselves: the source tree of the rev (`git archive`, which is what a GitHub tarball unpacks to
once Nix strips its top directory), its NAR hash (`nix hash path`), and the commit time as
lastModified. `nix flake lock --override-input nix-openclaw path:SRC` then writes the transitive
nodes from nix-openclaw's own lock, and the nix-openclaw node is turned into the github node a
networked `nix flake lock` would write.

Usage: python -m image.nix.lock GIT_DIR   (a clone of openclaw/nix-openclaw containing the rev)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from image.contract import Contract
from image.paths import REPO
from plumbing import commands
from plumbing.files import write_json

NIX = ["nix", "--extra-experimental-features", "nix-command flakes"]


def export_source(git_dir: Path, rev: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "src.tar"
        commands.run(["git", "-C", git_dir, "archive", rev], stdout_to=archive, check=True)
        commands.run(["tar", "-x", "-C", dest, "-f", archive], check=True)
    return dest


def nar_hash(path: Path) -> str:
    return commands.run([*NIX, "hash", "path", path], check=True).stdout.strip()


def commit_time(git_dir: Path, rev: str) -> int:
    out = commands.run(["git", "-C", git_dir, "log", "-1", "--format=%ct", rev], check=True).stdout
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
    rev = Contract.load().nix_openclaw_rev
    with tempfile.TemporaryDirectory() as tmp:
        src = export_source(git_dir, rev, Path(tmp) / "src")
        narhash = nar_hash(src)
        commands.stream([*NIX, "flake", "lock", "--override-input", "nix-openclaw", f"path:{src}"], cwd=repo)
    lock_path = repo / "flake.lock"
    lock = github_node(json.loads(lock_path.read_text()), rev, narhash, commit_time(git_dir, rev))
    write_json(lock_path, lock, sort_keys=True)
    print(f"flake.lock: nix-openclaw {rev} {narhash}")
    return lock


if __name__ == "__main__":
    relock(Path(sys.argv[1]))
