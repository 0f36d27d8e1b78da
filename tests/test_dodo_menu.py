"""`doit list` and `doit help` are a menu: they must not probe Nix, touch podman or write a file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from image.paths import REPO
from plumbing import commands


def test_doit_list_and_help_do_no_work(tmp_path: Path):
    spy = tmp_path / "bin"
    spy.mkdir()
    called = tmp_path / "called"
    for tool in ("nix", "podman", "runuser"):
        (spy / tool).write_text(f"#!/bin/sh\necho {tool} >> {called}\nexit 1\n")
        (spy / tool).chmod(0o755)
    build = tmp_path / "build"
    env = {
        "PATH": f"{spy}:{os.environ['PATH']}",
        "OPENCLAW_NIX_BUILD": str(build),
        "OPENCLAW_NIX_BUILDER": "auto",
    }
    before = sorted(p.name for p in REPO.iterdir())
    for argv in (["list", "--all"], ["help"], ["help", "image"], ["help", "f1_replay"]):
        result = commands.run([sys.executable, "-m", "doit", *argv], cwd=REPO, env=env, timeout=120)
        assert result.ok, result.stderr
    assert not called.exists(), called.read_text()
    assert not build.exists()
    assert sorted(p.name for p in REPO.iterdir()) == before
