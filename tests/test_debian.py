"""Debian sources for mmdebstrap are only the suite's Debian entries; lock drift is reported or fatal."""

from __future__ import annotations

import pytest

from image.parity import debian

HOST_SOURCES = """Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://thirdparty.invalid/apt
Suites: nodistro
Components: main
"""


def test_only_the_suites_entries_are_kept(tmp_path, monkeypatch):
    (tmp_path / "debian.sources").write_text(HOST_SOURCES)
    (tmp_path / "other.list").write_text("deb http://thirdparty.invalid/apt cloud-sdk-bookworm main\n")
    monkeypatch.setattr(debian, "SOURCE_DIRS", [tmp_path])
    monkeypatch.setattr(debian, "SOURCES_LIST", tmp_path / "sources.list")
    text = debian.suite_sources("bookworm")
    assert "mirror.invalid/debian-security" in text and "Suites: bookworm bookworm-updates" in text
    assert "thirdparty" not in text
    with pytest.raises(SystemExit, match="no apt source"):
        debian.suite_sources("trixie")


def test_lock_written_then_drift_reported_then_strict_fails(tmp_path, monkeypatch):
    lock = tmp_path / "debian-packages.lock"
    monkeypatch.delenv("OPENCLAW_NIX_DEBIAN_LOCK", raising=False)
    assert debian.check_lock(["a=1", "b=2"], lock) == []
    assert debian.check_lock(["a=1", "b=2"], lock) == []
    assert debian.check_lock(["a=1", "b=3", "c=1"], lock) == ["+ c=1", "~ b: 2 -> 3"]
    monkeypatch.setenv("OPENCLAW_NIX_DEBIAN_LOCK", "strict")
    with pytest.raises(SystemExit, match="drifted"):
        debian.check_lock(["a=1"], lock)
    monkeypatch.setenv("OPENCLAW_NIX_DEBIAN_LOCK", "update")
    debian.check_lock(["a=9"], lock)
    assert "a=9" in lock.read_text()
