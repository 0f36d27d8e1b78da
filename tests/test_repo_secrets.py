"""No secret literal anywhere in the repository (every tracked file, evidence included)."""

from __future__ import annotations

import subprocess

from harness.image_scan import SECRET_PATTERNS
from image.paths import REPO


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [f for f in out.decode().split("\0") if f]


def findings(files: list[str]) -> list[str]:
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{name}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(data)]
    return found


def test_no_secret_pattern_in_tracked_files():
    files = tracked_files()
    assert len(files) > 50
    assert findings(files) == []


def test_the_scan_would_catch_one(tmp_path, monkeypatch):
    planted = tmp_path / "leak.env"
    planted.write_text("GITHUB_TOKEN=ghp_" + "a1B2" * 9 + "\n")
    monkeypatch.setattr("tests.test_repo_secrets.REPO", tmp_path)
    assert findings(["leak.env"]) == ["leak.env: GitHub token"]
