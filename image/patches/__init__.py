"""Fixes of the pinned upstream packages, applied at build time by both builders (see apply.py)."""

from __future__ import annotations

from pathlib import Path

PATCH_DIR = Path(__file__).resolve().parent


def specs() -> list[Path]:
    """Every patch spec, in name order (the Nix build reads the same folder: flake.nix)."""
    return sorted(PATCH_DIR.glob("*.toml"))
