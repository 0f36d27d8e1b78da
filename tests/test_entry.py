"""The entrypoint, as a real process: seeding, substitution, errors, exec."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import json5
import pytest

from entry.openclaw_nix_entry import EX_CONFIG, escape_for_openclaw, render
from image.contract import ENTRY_PATH
from tests.conftest import UNPRIVILEGED_UID, make_unwritable
from tests.openclaw_semantics import resolve, substitute

TOKEN = {"OPENCLAW_GATEWAY_TOKEN": "t"}
TRICKY = [
    'a"b\\c',
    "quote \" and 'single'",
    "back\\slash\\\\ and \\u0041",
    "new\nline\r\ttab",
    "${OPENCLAW_GATEWAY_TOKEN}",
    "$${HOME} and $$${PATH} and ${lower} and ${",
    "ünïcødé ✓ 🦀 \u2028\u2029",
    '", "injected": "x',
    "}, evil: {",
    "x" * 65536,
]


def seeded_config(run, env: dict[str, str]) -> dict:
    result = run("--check", env=env)
    assert result.returncode == 0, result.stderr
    return json5.loads(result.path("/config/openclaw.json").read_text())


def test_check_writes_config_with_substituted_token(run_entry):
    result = run_entry("--check", env={**TOKEN, "OPENCLAW_MATRIX_TOKEN": 'a"b\\c'})
    assert result.returncode == 0, result.stderr
    config = json5.loads(result.path("/config/openclaw.json").read_text())
    assert config["channels"]["matrix"]["accessToken"] == 'a"b\\c'
    assert config["gateway"]["auth"]["token"] == "t"
    assert "would exec: openclaw gateway run" in result.stdout


@pytest.mark.parametrize("value", TRICKY, ids=lambda v: repr(v[:20]))
def test_tricky_values_survive_entrypoint_and_openclaw(run_entry, value, contract):
    env = {**TOKEN, "OPENCLAW_MATRIX_TOKEN": value}
    config = seeded_config(run_entry, env)
    baseline = seeded_config(run_entry, TOKEN)
    # same keys everywhere: no injection, nothing dropped
    assert flatten_keys(config) == flatten_keys(baseline)
    # what the gateway sees after its own ${VAR} expansion (with the full env) is the value itself
    seen = resolve(config, {**env, "HOME": "/state/home", "PATH": "/bin"})
    assert seen["channels"]["matrix"]["accessToken"] == value


def flatten_keys(obj, prefix="") -> set[str]:
    if isinstance(obj, dict):
        return {k2 for k, v in obj.items() for k2 in {prefix + k} | flatten_keys(v, prefix + k + ".")}
    return set()


def test_escape_is_inverse_of_openclaw_substitution():
    for value in TRICKY:
        assert substitute(escape_for_openclaw(value), {"OPENCLAW_GATEWAY_TOKEN": "LEAK", "HOME": "LEAK"}) == value


def test_non_allowlisted_placeholder_reaches_gateway_literally():
    rendered = render('{a: "${SECRET_FROM_ENV}", b: "${ALLOWED}", c: "$${KEPT}"}', {"ALLOWED": "v"})
    parsed = json5.loads(rendered)
    seen = resolve(parsed, {"SECRET_FROM_ENV": "leaked", "KEPT": "leaked", "ALLOWED": "x"})
    assert seen == {"a": "${SECRET_FROM_ENV}", "b": "v", "c": "${KEPT}"}


@pytest.mark.parametrize("env", [{}, {"OPENCLAW_GATEWAY_TOKEN": ""}], ids=["missing", "empty"])
def test_missing_required_token_fails_and_writes_nothing(run_entry, env, tmp_path):
    root = tmp_path / "root"
    stale = root / "config" / "openclaw.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("previous")
    result = run_entry("--check", env=env, root=root)
    assert result.returncode == EX_CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "OPENCLAW_GATEWAY_TOKEN" in lines[0] and "-e OPENCLAW_GATEWAY_TOKEN=" in lines[0]
    assert stale.read_text() == "previous"
    assert sorted(p.name for p in root.rglob("*")) == ["config", "openclaw.json"]


def test_missing_optional_var_warns_and_uses_empty_or_default(run_entry):
    result = run_entry("--check", env=TOKEN)
    assert result.returncode == 0
    assert "warning: OPENCLAW_MATRIX_HOMESERVER is not set" in result.stderr
    assert "OPENCLAW_LOG_LEVEL" not in result.stderr  # it has a default
    config = json5.loads(result.path("/config/openclaw.json").read_text())
    assert config["channels"]["matrix"]["homeserver"] == ""
    assert config["logging"]["level"] == "info"
    config = seeded_config(run_entry, {**TOKEN, "OPENCLAW_LOG_LEVEL": "debug"})
    assert config["logging"]["level"] == "debug"


def test_config_dir_is_emptied_not_removed_and_file_is_0600(run_entry, tmp_path):
    root = tmp_path / "root"
    config_dir = root / "config"
    (config_dir / "sub").mkdir(parents=True)
    (config_dir / "sub" / "x").write_text("x")
    (config_dir / "old.json").write_text("{}")
    (config_dir / "link").symlink_to("/etc/passwd")
    inode = config_dir.stat().st_ino
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    assert config_dir.stat().st_ino == inode
    assert sorted(p.name for p in config_dir.iterdir()) == ["openclaw.json"]
    assert stat.S_IMODE((config_dir / "openclaw.json").stat().st_mode) == 0o600
    assert Path("/etc/passwd").exists()


def test_reseed_gives_identical_content_and_discards_edits(run_entry):
    first = run_entry("--check", env=TOKEN)
    config = first.path("/config/openclaw.json")
    original = config.read_text()
    config.write_text(original.replace("pairing", "open"))
    second = run_entry("--check", env=TOKEN)
    assert second.returncode == 0
    assert config.read_text() == original


def test_state_dirs_created_and_existing_state_untouched(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    keep = root / "state" / "workspace" / "notes.md"
    keep.parent.mkdir(parents=True)
    keep.write_text("my notes")
    (root / "state" / ".openclaw").mkdir()
    (root / "state" / ".openclaw" / "openclaw.sqlite").write_bytes(b"db")
    before = digest_tree(root / "state")
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    for directory in contract.state_dirs:
        assert (root / directory.lstrip("/")).is_dir(), directory
    after = digest_tree(root / "state")
    assert {k: v for k, v in after.items() if k in before} == before


def test_state_subdir_of_another_uid_is_one_line_not_a_traceback(run_entry, tmp_path, contract):
    """An old volume with a /state directory the entrypoint cannot create into: exit 78 naming it."""
    root = tmp_path / "root"
    nested = [d for d in contract.state_dirs if any(o != d and d.startswith(o + "/") for o in contract.state_dirs)]
    parent = root / str(Path(nested[0]).parent).lstrip("/")  # e.g. the XDG cache holding node's compile cache
    parent.mkdir(parents=True)
    parent.chmod(0o555)  # root ignores modes: then the entrypoint runs as another uid
    for directory in (root / "state", root / "logs", root / "config"):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o777)
    for directory in (root, tmp_path):
        directory.chmod(0o755)
    uid = UNPRIVILEGED_UID if os.geteuid() == 0 else None
    result = run_entry("--check", env=TOKEN, root=root, uid=uid)
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert result.returncode == EX_CONFIG, result.stderr
    assert "Traceback" not in result.stderr
    assert len(errors) == 1 and f"cannot create {nested[0]}" in errors[0], errors


def test_state_dirs_are_created_private_and_existing_modes_kept(run_entry, tmp_path, contract):
    """What the entrypoint creates under /state is 0700 (credentials); what the user's volume has keeps its mode."""
    root = tmp_path / "root"
    existing = root / contract.env["HOME"].lstrip("/")
    existing.mkdir(parents=True)
    existing.chmod(0o755)
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    modes = {d: stat.S_IMODE((root / d.lstrip("/")).stat().st_mode) for d in contract.state_dirs}
    assert modes.pop(contract.env["HOME"]) == 0o755
    assert modes and set(modes.values()) == {0o700}, modes


def digest_tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in path.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("volume", ["state", "logs"])
def test_unwritable_volume_fails_with_path_uid_and_fix(run_entry, tmp_path, volume):
    root = tmp_path / "root"
    root.mkdir()
    os.chmod(root, 0o755)
    for name in ("config", "state", "logs"):
        (root / name).mkdir()
        os.chmod(root / name, 0o777)
    uid = make_unwritable(root / volume)
    os.chmod(tmp_path, 0o755)
    result = run_entry("--check", env=TOKEN, root=root, uid=uid)
    assert result.returncode == EX_CONFIG
    message = result.stderr.strip()
    assert f"{root / volume} is not writable" in message
    assert f"uid {uid if uid is not None else os.getuid()}" in message
    assert "--userns=keep-id --user $(id -u):$(id -g)" in message and "fsGroup" in message
    assert not (root / "config" / "openclaw.json").exists()


def test_runs_as_arbitrary_uid_without_passwd_entry(run_entry, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch uid")
    root = tmp_path / "root"
    root.mkdir()
    for name in ("config", "state", "logs"):
        (root / name).mkdir()
        os.chown(root / name, 54321, 54321)
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o755)
    result = run_entry("--check", env=TOKEN, root=root, uid=54321)
    assert result.returncode == 0, result.stderr
    assert (root / "config" / "openclaw.json").stat().st_uid == 54321
    assert UNPRIVILEGED_UID != 54321


def test_exec_replaces_process(tmp_path):
    """The pid before and after exec is the same: no wrapper process stays in between."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import os, subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, {str(ENTRY_PATH)!r}, 'sh', '-c', 'echo $$'],"
        " stdout=subprocess.PIPE, text=True)\n"
        "out, _ = p.communicate()\n"
        "print(p.pid, out.strip())\n"
    )
    env = {"PATH": os.environ["PATH"], "OPENCLAW_NIX_ROOT": str(tmp_path / "r"), **TOKEN}
    (tmp_path / "r").mkdir()
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True).stdout
    child_pid, shell_pid = out.split()
    assert child_pid == shell_pid


def test_unknown_command_fails_clearly(run_entry):
    result = run_entry("no-such-binary-xyz", env=TOKEN)
    assert result.returncode == 127
    assert "cannot run 'no-such-binary-xyz'" in result.stderr and "PATH" in result.stderr


def test_unreadable_template_fails_clearly(run_entry, tmp_path):
    result = run_entry("--check", env={**TOKEN, "OPENCLAW_NIX_TEMPLATE": str(tmp_path / "missing.json5")})
    assert result.returncode == EX_CONFIG
    assert "cannot read the config template" in result.stderr and "missing.json5" in result.stderr
    assert not result.path("/config/openclaw.json").exists()
