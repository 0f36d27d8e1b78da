"""What the baked compile cache relies on, asked of the pinned node itself (not assumed from its docs):

- node names its cache sub-directory after the uid, and V8 flags (NODE_OPTIONS) change that name;
- a cache made by one uid and reached by another through a link named for it is read, and entries read
  whole are not written back at exit ("skip ... because cache was the same");
- a module missing from a read-only cache is compiled as usual: the failed write at exit costs nothing
  visible (exit 0, nothing written).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from image.contract import COMPILE_CACHE_FLUSH
from tests.conftest import UNPRIVILEGED_UID


@pytest.fixture
def node(pinned_node, tmp_path) -> Path:
    """The pinned node, copied beside the test's files (made readable for any uid by readable_tree)."""
    copy = tmp_path / "bin" / "node"
    copy.parent.mkdir()
    copy.write_bytes(pinned_node.read_bytes())
    copy.chmod(0o755)
    return copy


def program(root: Path) -> Path:
    """A main script and three modules; EXTRA=1 loads a third one the cache was not made with."""
    (root / "mods").mkdir(parents=True)
    for i in (1, 2, 3):
        (root / "mods" / f"m{i}.js").write_text(f"module.exports = function f{i}() {{ return {i}; }};\n")
    main = root / "main.js"
    main.write_text(
        'require("./mods/m1.js"); require("./mods/m2.js"); if (process.env.EXTRA) require("./mods/m3.js");\n'
    )
    return main


def run(node: Path, main: Path, cache: Path, uid: int | None = None, **env: str) -> subprocess.CompletedProcess:
    kwargs = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
    full = {"PATH": "/usr/bin:/bin", "NODE_COMPILE_CACHE": str(cache), "NODE_DEBUG_NATIVE": "COMPILE_CACHE", **env}
    return subprocess.run([node, main], env=full, capture_output=True, text=True, timeout=60, check=False, **kwargs)


def readable_tree(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    for parent in root.parents:
        if parent in (Path("/"), Path("/tmp")):
            break
        parent.chmod(parent.stat().st_mode | 0o755)


def test_cache_directory_is_named_after_the_uid_and_the_v8_flags(node, tmp_path):
    main = program(tmp_path)
    assert run(node, main, tmp_path / "a").returncode == 0
    assert run(node, main, tmp_path / "b", NODE_OPTIONS="--max-semi-space-size=2").returncode == 0
    (plain,) = os.listdir(tmp_path / "a")
    (flagged,) = os.listdir(tmp_path / "b")
    assert plain.endswith(f"-{os.getuid()}") and flagged.endswith(f"-{os.getuid()}")
    assert plain != flagged


@pytest.mark.skipif(os.geteuid() != 0, reason="not run: starting node as another uid needs root")
def test_another_uid_reads_a_read_only_baked_cache_through_a_link_and_writes_nothing(node, tmp_path):
    main = program(tmp_path / "app")
    baked = tmp_path / "baked"
    assert run(node, main, baked).returncode == 0
    (tag,) = os.listdir(baked)
    readable_tree(tmp_path)
    before = sorted(os.listdir(baked / tag))
    for path in [baked, *baked.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)  # read-only, as in the image
    links = tmp_path / "links"
    links.mkdir(mode=0o1777)
    links.chmod(0o1777)
    (links / f"{tag.rsplit('-', 1)[0]}-{UNPRIVILEGED_UID}").symlink_to(baked / tag)

    warm = run(node, main, links, uid=UNPRIVILEGED_UID)
    assert warm.returncode == 0, warm.stderr
    assert warm.stderr.count("was accepted") == 3, warm.stderr  # main.js, m1, m2
    assert "because cache was the same" in warm.stderr and "Creating temporary file" not in warm.stderr

    extra = run(node, main, links, uid=UNPRIVILEGED_UID, EXTRA="1")
    assert extra.returncode == 0, extra.stderr
    assert "m3.js" in extra.stderr and "failed" in extra.stderr  # the one write it tries is refused
    assert sorted(os.listdir(baked / tag)) == before


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
