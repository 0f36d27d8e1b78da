"""node's compile cache as the image uses it (NODE_COMPILE_CACHE on /state, the flush preload), asked of the
pinned node itself (not assumed from its docs):

- node names its cache sub-directory after the uid, and V8 flags (NODE_OPTIONS) change that name (a change
  of the image's flags starts once with a cold cache);
- the flush preload frees node's in-memory entries and keeps no process alive.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from image.contract import COMPILE_CACHE_FLUSH


@pytest.fixture
def node(pinned_node) -> Path:
    return pinned_node


def program(root: Path) -> Path:
    """A main script and three modules; EXTRA=1 loads the third one too."""
    (root / "mods").mkdir(parents=True)
    for i in (1, 2, 3):
        (root / "mods" / f"m{i}.js").write_text(f"module.exports = function f{i}() {{ return {i}; }};\n")
    main = root / "main.js"
    main.write_text(
        'require("./mods/m1.js"); require("./mods/m2.js"); if (process.env.EXTRA) require("./mods/m3.js");\n'
    )
    return main


def run(node: Path, main: Path, cache: Path, **env: str) -> subprocess.CompletedProcess:
    full = {"PATH": "/usr/bin:/bin", "NODE_COMPILE_CACHE": str(cache), "NODE_DEBUG_NATIVE": "COMPILE_CACHE", **env}
    return subprocess.run([node, main], env=full, capture_output=True, text=True, timeout=60, check=False)


def test_cache_directory_is_named_after_the_uid_and_the_v8_flags(node, tmp_path):
    main = program(tmp_path)
    assert run(node, main, tmp_path / "a").returncode == 0
    assert run(node, main, tmp_path / "b", NODE_OPTIONS="--max-semi-space-size=2").returncode == 0
    (plain,) = os.listdir(tmp_path / "a")
    (flagged,) = os.listdir(tmp_path / "b")
    assert plain.endswith(f"-{os.getuid()}") and flagged.endswith(f"-{os.getuid()}")
    assert plain != flagged


def test_the_flush_preload_frees_the_entries_and_keeps_no_process_alive(node, tmp_path):
    """image/compile-cache-flush.cjs (the image's NODE_OPTIONS): a short program still exits at once (the
    timer is unref'd); a long-running one has its in-memory entries flushed and cleared within ~5 s."""
    main = program(tmp_path)
    preload = f"--require={COMPILE_CACHE_FLUSH}"
    quick = run(node, main, tmp_path / "cache", NODE_OPTIONS=preload)
    assert quick.returncode == 0, quick.stderr
    assert "flushCompileCache() finished" not in quick.stderr
    waiting = tmp_path / "wait.js"
    waiting.write_text('require("./mods/m1.js"); setTimeout(() => {}, 6500);\n')
    slow = run(node, waiting, tmp_path / "cache", NODE_OPTIONS=preload)
    assert slow.returncode == 0, slow.stderr
    flushed = slow.stderr.split("flushCompileCache() finished")[0]
    assert "Clear deserialized cache" in flushed, slow.stderr  # cleared by the flush, not only at exit
