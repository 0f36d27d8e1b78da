"""The entrypoint's release record on /state: it records which OpenClaw started there and refuses an older one
(one line, exit 78, nothing written) unless the operator allows it."""

from __future__ import annotations

import pytest

from entry.openclaw_nix_entry import EX_CONFIG, release_key
from tests.test_entry import TOKEN, digest_tree


def record_of(root, contract):
    return root / contract.state_record["file"].lstrip("/")


def test_fresh_state_records_the_image_release(run_entry, tmp_path, contract):
    result = run_entry("--check", env=TOKEN)
    assert result.returncode == 0, result.stderr
    assert record_of(result.root, contract).read_text() == contract.openclaw_version + "\n"


@pytest.mark.parametrize("recorded", ["2000.1.1", "CURRENT"], ids=["older", "same"])
def test_same_or_older_release_on_state_starts_and_is_recorded(run_entry, tmp_path, contract, recorded):
    root = tmp_path / "root"
    record = record_of(root, contract)
    record.parent.mkdir(parents=True)
    record.write_text((contract.openclaw_version if recorded == "CURRENT" else recorded) + "\n")
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    assert record.read_text() == contract.openclaw_version + "\n"


def test_newer_release_on_state_is_refused_in_one_line_writing_nothing(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    record = record_of(root, contract)
    record.parent.mkdir(parents=True)
    record.write_text("9999.1.1\n")
    (root / "config").mkdir()
    (root / "config" / "openclaw.json").write_text("{kept: true}")
    before = digest_tree(root)
    result = run_entry("--check", env=TOKEN, root=root)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == EX_CONFIG
    assert len(lines) == 1, lines
    allow = contract.state_record["allow_downgrade_env"]
    assert "9999.1.1" in lines[0] and contract.openclaw_version in lines[0] and f"{allow}=1" in lines[0]
    assert digest_tree(root) == before, "a refused start changed files"


def test_newer_release_on_state_starts_when_allowed(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    record = record_of(root, contract)
    record.parent.mkdir(parents=True)
    record.write_text("9999.1.1\n")
    allow = contract.state_record["allow_downgrade_env"]
    result = run_entry("--check", env={**TOKEN, allow: "1"}, root=root)
    assert result.returncode == 0, result.stderr
    assert "9999.1.1" in result.stderr and "warning" in result.stderr
    assert record.read_text() == contract.openclaw_version + "\n"


def test_release_order():
    assert release_key("2026.6.1") < release_key("2026.6.11") < release_key("2026.9.6")
    assert release_key("2026.6.11-beta.1") == release_key("2026.6.11")
