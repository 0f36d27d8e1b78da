"""Where the pipeline reads and writes: the repo, the build outputs, the download cache.

Downloads and intermediate build trees live outside the repo (shared across checkouts, kept by
`doit f1_replay` unless asked), final artefacts in build/ (git-ignored). Both overridable.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("OPENCLAW_NIX_BUILD", REPO / "build"))
CACHE = Path(os.environ.get("OPENCLAW_NIX_CACHE", "/var/cache/openclaw-nix"))
DOWNLOADS = CACHE / "downloads"
NPM_CACHE = DOWNLOADS / "npm-cache"  # npm's own download cache: kept with the downloads, not the work trees
WORK = Path(os.environ.get("OPENCLAW_NIX_WORK", CACHE / "work"))
EVIDENCE = REPO / "evidence"
# Local git copies of outside sources (no GitHub here): configuration, never a path of one machine.
SOURCES = Path(os.environ.get("OPENCLAW_NIX_SOURCES", CACHE / "sources"))
NIX_OPENCLAW_GIT = Path(os.environ.get("OPENCLAW_NIX_OPENCLAW_GIT", SOURCES / "nix-openclaw.git"))
KUBENIX_GIT = Path(os.environ.get("OPENCLAW_NIX_KUBENIX_GIT", SOURCES / "kubenix.git"))
NIXPKGS_LIB_GIT = Path(os.environ.get("OPENCLAW_NIX_NIXPKGS_LIB_GIT", SOURCES / "nixpkgs.lib.git"))

PINS = BUILD / "pins.json"
CONFIG_PREVIEW = BUILD / "openclaw.preview.json"
PARITY_LAYERS = BUILD / "parity-layers"
PARITY_ARCHIVE = BUILD / "openclaw-nix-parity.tar"
NIX_ARCHIVE = BUILD / "openclaw-nix-nix.tar"
LOADED_STAMP = BUILD / "loaded.json"
# Each QA tier's evidence (scenario files, summary.json, summary.md, junit.xml): `doit smoke`, `doit qa`.
QA_EVIDENCE = {"smoke": BUILD / "qa-evidence" / "smoke", "full": BUILD / "qa-evidence" / "full"}
