"""Secrets from files: `<allowlisted name>_FILE` (podman secrets, Kubernetes Secret volumes)."""

from __future__ import annotations

import json5
import pytest

from entry.openclaw_nix_entry import EX_CONFIG
from tests.conftest import UNPRIVILEGED_UID

SECRET = 'file-token "with" \\ quotes'


def config_of(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json5.loads(result.path("/config/openclaw.json").read_text())


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"], ids=["bare", "newline", "crlf"])
def test_value_comes_from_the_file_minus_one_trailing_newline(run_entry, tmp_path, ending):
    secret = tmp_path / "token"
    secret.write_text(SECRET + ending)
    config = config_of(run_entry("--check", env={"OPENCLAW_GATEWAY_TOKEN_FILE": str(secret)}))
    assert config["gateway"]["auth"]["token"] == SECRET


def test_every_allowlisted_name_accepts_a_file(run_entry, tmp_path, contract):
    env = {}
    for item in contract.allowlist:
        (tmp_path / item["name"]).write_text(f"from-file-{item['name']}\n")
        env[f"{item['name']}_FILE"] = str(tmp_path / item["name"])
    result = run_entry("--check", env=env)
    text = result.path("/config/openclaw.json").read_text()
    assert result.returncode == 0, result.stderr
    for item in contract.allowlist:
        assert f"from-file-{item['name']}" in text, item["name"]
    assert "is not set" not in result.stderr  # none of them counts as unset


def test_name_and_file_both_set_is_an_error(run_entry, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("x")
    result = run_entry("--check", env={"OPENCLAW_GATEWAY_TOKEN": "y", "OPENCLAW_GATEWAY_TOKEN_FILE": str(secret)})
    assert result.returncode == EX_CONFIG
    assert result.stderr.strip().splitlines() == [
        "openclaw-nix: error: OPENCLAW_GATEWAY_TOKEN and OPENCLAW_GATEWAY_TOKEN_FILE are both set: set only one of them"
    ]


def test_missing_file_is_one_line_naming_it_and_writes_nothing(run_entry, tmp_path):
    missing = tmp_path / "nowhere" / "token"
    result = run_entry("--check", env={"OPENCLAW_GATEWAY_TOKEN_FILE": str(missing)})
    assert result.returncode == EX_CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"OPENCLAW_GATEWAY_TOKEN_FILE={missing}" in lines[0], lines
    assert "No such file" in lines[0]
    assert not result.path("/config/openclaw.json").exists()


def test_unreadable_file_names_it_never_its_content(run_entry, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value\n")
    secret.chmod(0o600)  # readable by its owner only; the entrypoint runs as another uid
    tmp_path.chmod(0o755)
    result = run_entry(
        "--check", env={"OPENCLAW_MATRIX_TOKEN_FILE": str(secret), "OPENCLAW_GATEWAY_TOKEN": "t"}, uid=UNPRIVILEGED_UID
    )
    assert result.returncode == EX_CONFIG, result.stderr
    assert "OPENCLAW_MATRIX_TOKEN_FILE=" in result.stderr and "Permission denied" in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout


def test_empty_file_for_a_required_name_is_missing(run_entry, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("\n")
    result = run_entry("--check", env={"OPENCLAW_GATEWAY_TOKEN_FILE": str(secret)})
    assert result.returncode == EX_CONFIG
    assert "OPENCLAW_GATEWAY_TOKEN is not set or empty" in result.stderr


def test_a_file_that_is_not_utf8_is_refused_without_quoting_it(run_entry, tmp_path):
    secret = tmp_path / "token"
    secret.write_bytes(b"ab\xffsecret")
    result = run_entry("--check", env={"OPENCLAW_GATEWAY_TOKEN_FILE": str(secret)})
    assert result.returncode == EX_CONFIG
    assert result.stderr.strip().splitlines() == [
        f"openclaw-nix: error: OPENCLAW_GATEWAY_TOKEN_FILE={secret}: "
        "the file is not UTF-8 text; write the value as UTF-8"
    ]
