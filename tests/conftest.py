"""Shared fixtures: the contract, and a runner for the entrypoint as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import k8s
from image.contract import CONTRACT_PATH, ENTRY_PATH, Contract
from image.parity.npm import node_toolchain
from image.parity.sources import Sources

UNPRIVILEGED_UID = 65534  # nobody: used to make "unwritable" real when the tests run as root
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's 3.11: readable by any uid, has tomllib


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract.load()


@pytest.fixture(scope="session")
def pinned_node() -> Path:
    """The image's pinned node binary (the parity builder's download cache): node's own behaviour is asked
    of it, not assumed from its docs."""
    try:
        return node_toolchain(Sources.load())[0]
    except Exception as err:  # no download cache and no registry: say so, never pass
        pytest.skip(f"not run: the pinned node is not available ({err})")


@dataclass
class EntryRun:
    returncode: int
    stdout: str
    stderr: str
    root: Path

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")


def install_app(dest: Path, contract: Contract) -> Path:
    """Lay out entry + contract + template as the image's app_dir does; world-readable."""
    dest.mkdir(parents=True, exist_ok=True)
    for src, name in (
        (ENTRY_PATH, ENTRY_PATH.name),
        (CONTRACT_PATH, "contract.toml"),
        (contract.template_path, contract.template_path.name),
    ):
        shutil.copy(src, dest / name)
        os.chmod(dest / name, 0o755)
    for parent in (dest, *dest.parents):
        if parent == Path("/tmp") or parent == Path("/"):
            break
        os.chmod(parent, 0o755)
    return dest / ENTRY_PATH.name


@pytest.fixture
def run_entry(tmp_path: Path, contract: Contract):
    """Run the entrypoint with OPENCLAW_NIX_ROOT=tmp, a clean env plus `env`.

    As another uid it runs from an image-like copy under tmp with the system python, since the
    checkout and the venv may live where that uid cannot read (e.g. under /root).
    """

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        root: Path | None = None,
        uid: int | None = None,
    ) -> EntryRun:
        root = root or tmp_path / "root"
        root.mkdir(exist_ok=True)
        full_env = {"PATH": os.environ["PATH"], "OPENCLAW_NIX_ROOT": str(root), **(env or {})}
        kwargs: dict = {}
        python, entry = sys.executable, ENTRY_PATH
        if uid is not None:
            kwargs = {"user": uid, "group": uid, "extra_groups": []}
            python, entry = SYSTEM_PYTHON, install_app(tmp_path / "app", contract)
        proc = subprocess.run(
            [python, str(entry), *args], env=full_env, capture_output=True, text=True, timeout=30, **kwargs
        )
        return EntryRun(proc.returncode, proc.stdout, proc.stderr, root)

    return run


def make_unwritable(path: Path) -> int | None:
    """Make `path` unwritable for the entrypoint; returns the uid to run it as (None: ours)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # root ignores mode bits: run as an unprivileged uid that does not own the dir.
        os.chmod(path, 0o755)
        return UNPRIVILEGED_UID
    os.chmod(path, 0o555)
    return None


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    """deploy/k8s rendered with `kubectl kustomize` ("not run" without kubectl)."""
    try:
        return k8s.render()
    except k8s.ToolMissing as err:
        pytest.skip(f"not run: {err}")
