"""The entrypoint links node's per-uid compile cache directory to the one baked into the image."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import UNPRIVILEGED_UID

TOKEN = {"OPENCLAW_GATEWAY_TOKEN": "t"}
BUILD_UID = 30001  # some uid the image build ran as, never the one the tests run as


def baked(root: Path, contract, tag: str) -> str:
    """A baked cache with one node tag directory (and a stray file node would not make); its image path."""
    shipped = root / contract.compile_cache.lstrip("/")
    (shipped / f"{tag}-{BUILD_UID}").mkdir(parents=True)
    (shipped / f"{tag}-{BUILD_UID}" / "1a2b3c4d").write_bytes(b"cache")
    (shipped / "README").write_text("not a cache directory")
    return f"{contract.compile_cache}/{tag}-{BUILD_UID}"


def env(contract, **extra: str) -> dict[str, str]:
    return {**TOKEN, "NODE_COMPILE_CACHE": contract.env["NODE_COMPILE_CACHE"], **extra}


def open_volumes(root: Path) -> None:
    """/state, /logs, /config and /tmp writable by any uid, as the image's mount points are."""
    for directory in ("state", "logs", "config", "tmp"):
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory).chmod(0o1777)


def test_this_uid_gets_a_link_to_the_baked_cache(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    target = baked(root, contract, "v22.23.3-x64-9ac5647c")
    result = run_entry("--check", env=env(contract), root=root)
    assert result.returncode == 0, result.stderr
    cache = result.path(contract.env["NODE_COMPILE_CACHE"])
    assert sorted(p.name for p in cache.iterdir()) == [f"v22.23.3-x64-9ac5647c-{os.getuid()}"]
    assert os.readlink(cache / f"v22.23.3-x64-9ac5647c-{os.getuid()}") == target


def test_another_uid_gets_its_own_name(run_entry, tmp_path, contract):
    """What Kubernetes does: a uid nobody knew at build time."""
    if os.geteuid() != 0:
        return  # only root can start the entrypoint as another uid; the test above covers our own
    root = tmp_path / "root"
    target = baked(root, contract, "v22.23.3-x64-9ac5647c")
    open_volumes(root)
    for directory in (root, tmp_path):
        directory.chmod(0o755)
    result = run_entry("--check", env=env(contract), root=root, uid=UNPRIVILEGED_UID)
    assert result.returncode == 0, result.stderr
    link = result.path(contract.env["NODE_COMPILE_CACHE"]) / f"v22.23.3-x64-9ac5647c-{UNPRIVILEGED_UID}"
    assert os.readlink(link) == target


def test_a_stale_link_is_replaced_and_a_real_directory_kept(run_entry, tmp_path, contract):
    """A /tmp kept across restarts may hold a previous image's link, or a cache node made itself."""
    root = tmp_path / "root"
    target = baked(root, contract, "v22.23.3-x64-9ac5647c")
    baked(root, contract, "v22.23.3-x64-0000beef")
    cache = root / contract.env["NODE_COMPILE_CACHE"].lstrip("/")
    cache.mkdir(parents=True)
    (cache / f"v22.23.3-x64-9ac5647c-{os.getuid()}").symlink_to("/somewhere/old")
    (cache / f"v22.23.3-x64-0000beef-{os.getuid()}").mkdir()
    result = run_entry("--check", env=env(contract), root=root)
    assert result.returncode == 0, result.stderr
    assert os.readlink(cache / f"v22.23.3-x64-9ac5647c-{os.getuid()}") == target
    kept = cache / f"v22.23.3-x64-0000beef-{os.getuid()}"
    assert kept.is_dir() and not kept.is_symlink()


def test_no_link_when_the_cache_is_disabled_or_not_shipped(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    result = run_entry("--check", env=env(contract), root=root)  # nothing baked
    assert result.returncode == 0, result.stderr
    assert not result.path(contract.env["NODE_COMPILE_CACHE"]).exists()
    baked(root, contract, "v22.23.3-x64-9ac5647c")
    result = run_entry("--check", env=env(contract, NODE_DISABLE_COMPILE_CACHE="1"), root=root)
    assert result.returncode == 0, result.stderr
    assert not result.path(contract.env["NODE_COMPILE_CACHE"]).exists()


def test_an_unwritable_cache_dir_warns_and_starts(run_entry, tmp_path, contract):
    """The cache only saves time: a failure to link it is a warning, never a refusal to start."""
    root = tmp_path / "root"
    baked(root, contract, "v22.23.3-x64-9ac5647c")
    cache = root / contract.env["NODE_COMPILE_CACHE"].lstrip("/")
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the directory should be")
    result = run_entry("--check", env=env(contract), root=root)
    assert result.returncode == 0, result.stderr
    assert "compile cache not linked" in result.stderr
