"""The image's library-link check (harness/elf_links.py) finds a missing library and passes a complete one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import elf_links

TRUE = Path(shutil.which("true") or "/bin/true")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    shutil.copy(TRUE, tmp_path / "bin" / "whole")
    (tmp_path / "bin" / "script").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "link").symlink_to("whole")
    return tmp_path


def test_complete_binaries_pass(tree: Path) -> None:
    result = elf_links.scan([str(tree)])
    assert result == {"checked": 1, "missing": {}}


def test_binary_linking_a_removed_library_is_reported(tree: Path) -> None:
    """Rename the C library in a copy's dynamic string table: the copy now needs a soname nobody has."""
    data = TRUE.read_bytes()
    assert b"libc.so.6" in data
    broken = tree / "bin" / "broken"
    broken.write_bytes(data.replace(b"libc.so.6", b"libq.so.6"))
    broken.chmod(0o755)
    result = elf_links.scan([str(tree)])
    assert result["checked"] == 2
    assert result["missing"] == {str(broken): ["libq.so.6"]}


def test_binary_whose_interpreter_is_missing_is_reported(tree: Path) -> None:
    """A foreign binary (e.g. a musl prebuild) names a loader the image lacks: reported, not traced."""
    loader = elf_links.interpreter(str(TRUE))
    assert loader and loader.endswith(".so.2")
    foreign = tree / "bin" / "foreign"
    foreign.write_bytes(TRUE.read_bytes().replace(loader.encode(), loader[:-1].encode() + b"9"))
    result = elf_links.scan([str(tree)])
    assert result["missing"] == {str(foreign): [f"interpreter {loader[:-1]}9"]}
