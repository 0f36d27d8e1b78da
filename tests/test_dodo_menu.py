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
    state_db = tmp_path / "doit.db"  # doit's task-state file; a warm checkout already has its own
    env = {
        "PATH": f"{spy}:{os.environ['PATH']}",
        "OPENCLAW_NIX_BUILD": str(build),
        "OPENCLAW_NIX_BUILDER": "auto",
    }
    before = sorted(p.name for p in REPO.iterdir())
    for argv in (["list", "--all", "--db-file", str(state_db)], ["help"], ["help", "image"], ["help", "f1_replay"]):
        result = commands.run([sys.executable, "-m", "doit", *argv], cwd=REPO, env=env, timeout=120)
        assert result.ok, result.stderr
    assert not called.exists(), called.read_text()
    assert not build.exists()
    assert not state_db.exists(), "doit list created its task-state database"
    assert sorted(p.name for p in REPO.iterdir()) == before


def test_task_state_database_opens_on_first_use(tmp_path: Path):
    """The lazy backend writes nothing until a task's state is stored, then keeps it like doit's sqlite3."""
    from doit.dependency import JSONCodec

    from pipeline.doit_state import LazySqliteDB

    path = tmp_path / "state.db"
    untouched = LazySqliteDB(str(path), JSONCodec())
    untouched.dump()
    assert not path.exists()

    written = LazySqliteDB(str(path), JSONCodec())
    written.set("image:archive", "checker:", "md5")
    written.dump()
    assert LazySqliteDB(str(path), JSONCodec()).get("image:archive", "checker:") == "md5"
