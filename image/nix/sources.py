"""The flake's source-only inputs (kubenix, nixpkgs.lib) as local trees, for offline evaluation.

There is no GitHub here: each input is read from a local git copy whose location is configuration
(image.paths: OPENCLAW_NIX_KUBENIX_GIT / OPENCLAW_NIX_NIXPKGS_LIB_GIT, default under
OPENCLAW_NIX_SOURCES). The tree of the rev flake.lock pins is exported once (`git archive`, what a
GitHub tarball unpacks to) and its NAR hash checked against the lock, so what is evaluated is exactly
what a networked `nix flake check` would fetch. Without the copy or the rev: `SourceMissing`, which
callers report as "not run", never as a pass.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from image.nix.lock import commit_time, export_source, nar_hash, root_inputs
from image.paths import KUBENIX_GIT, NIXPKGS_LIB_GIT, REPO, WORK
from plumbing import commands
from plumbing.files import write_json


class SourceMissing(RuntimeError):
    """A local copy the check needs is absent: the check is "not run"."""


@dataclass(frozen=True)
class Source:
    input: str  # the flake input name
    owner: str
    repo: str
    git_dir: Path
    env: str  # the variable that points at the local copy

    @property
    def github(self) -> str:
        return f"{self.owner}/{self.repo}"


SOURCES = {
    "kubenix": Source("kubenix", "hall", "kubenix", KUBENIX_GIT, "OPENCLAW_NIX_KUBENIX_GIT"),
    "nixpkgs-lib": Source(
        "nixpkgs-lib", "nix-community", "nixpkgs.lib", NIXPKGS_LIB_GIT, "OPENCLAW_NIX_NIXPKGS_LIB_GIT"
    ),
}
EXPORTS = WORK / "nix-sources"


def locked(name: str, flake_dir: Path = REPO) -> dict:
    """flake.lock's `locked` entry of one of our inputs (rev, narHash, lastModified, ...)."""
    lock = json.loads((flake_dir / "flake.lock").read_text())
    return lock["nodes"][root_inputs(lock)[name]]["locked"]


def require_rev(source: Source, rev: str) -> None:
    if not (source.git_dir / "HEAD").exists():
        raise SourceMissing(
            f"no local git copy of {source.github} at {source.git_dir} "
            f"(set {source.env} or OPENCLAW_NIX_SOURCES; there is no GitHub here)"
        )
    if commands.run(["git", "-C", source.git_dir, "cat-file", "-e", f"{rev}^{{commit}}"]).returncode != 0:
        raise SourceMissing(f"{source.git_dir} lacks {rev}, the rev flake.lock pins for {source.github}")


def tree(name: str, flake_dir: Path = REPO) -> Path:
    """The source tree flake.lock pins for input `name`, exported from the local copy (once per rev)."""
    source = SOURCES[name]
    pin = locked(name, flake_dir)
    dest = EXPORTS / f"{name}-{pin['rev']}"
    marker = dest.with_name(dest.name + ".narhash")
    if not (marker.exists() and marker.read_text() == pin["narHash"]):
        require_rev(source, pin["rev"])
        commands.run(["rm", "-rf", dest], check=True)
        export_source(source.git_dir, pin["rev"], dest)
        got = nar_hash(dest)
        if got != pin["narHash"]:
            raise RuntimeError(
                f"{source.github} {pin['rev']}: the exported tree hashes to {got}, flake.lock says {pin['narHash']}"
            )
        marker.write_text(got)
    return dest


def source_node(source: Source, rev: str, narhash: str, last_modified: int) -> dict:
    """The flake.lock node a networked `nix flake lock` writes for a `flake = false` GitHub input."""
    return {
        "flake": False,
        "locked": {
            "lastModified": last_modified,
            "narHash": narhash,
            "owner": source.owner,
            "repo": source.repo,
            "rev": rev,
            "type": "github",
        },
        "original": {"owner": source.owner, "repo": source.repo, "type": "github"},
    }


def pin(name: str, rev: str = "HEAD", flake_dir: Path = REPO) -> dict:
    """Pin input `name` in flake.lock at `rev` of its local copy (default: the copy's HEAD)."""
    source = SOURCES[name]
    require_rev(source, rev)
    full = commands.run(["git", "-C", source.git_dir, "rev-parse", f"{rev}^{{commit}}"], check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        narhash = nar_hash(export_source(source.git_dir, full, Path(tmp) / "src"))
    lock_path = flake_dir / "flake.lock"
    lock = json.loads(lock_path.read_text())
    lock["nodes"][name] = source_node(source, full, narhash, commit_time(source.git_dir, full))
    root_inputs(lock)[name] = name
    write_json(lock_path, lock, sort_keys=True)
    print(f"flake.lock: {name} = {source.github} {full} {narhash}")
    return lock


if __name__ == "__main__":
    for input_name in sys.argv[1:] or list(SOURCES):
        pin(input_name)
