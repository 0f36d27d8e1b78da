"""The entrypoint's operator overlay, plugin trust records and passwd entry, as a real process.

Overlays are judged by the real pinned `openclaw config validate` (an `openclaw` on PATH that runs the
version the image ships), so a test here fails the way the container would.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import json5
import pytest

from entry.openclaw_nix_entry import EX_CONFIG
from pipeline.template_check import openclaw_cli, with_local_plugins

TOKEN = {"OPENCLAW_GATEWAY_TOKEN": "t"}


@pytest.fixture(scope="module")
def openclaw_bin(tmp_path_factory) -> Path:
    """A directory holding an `openclaw` that runs the pinned version with its own node."""
    node, script = openclaw_cli()
    bin_dir = tmp_path_factory.mktemp("bin")
    wrapper = bin_dir / "openclaw"
    wrapper.write_text(f'#!/bin/sh\nexec {node} {script} "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir


@pytest.fixture
def run_overlay(run_entry, tmp_path, contract, openclaw_bin):
    """Run the entrypoint with `overlay` (a path or None) at the contract's overlay mount under root."""
    template = tmp_path / "template.json5"
    template.write_text(with_local_plugins(contract.template_path.read_text(), contract))
    root = tmp_path / "root"
    mount = root / contract.volumes["overlay"]["path"].lstrip("/")

    def run(files: dict[str, str] | str | None, env: dict[str, str] | None = None):
        if mount.is_dir():
            for child in mount.iterdir():
                child.unlink()
            mount.rmdir()
        elif mount.exists():
            mount.unlink()
        if isinstance(files, str):
            mount.parent.mkdir(parents=True, exist_ok=True)
            mount.write_text(files)
        elif files is not None:
            mount.mkdir(parents=True)
            for name, text in files.items():
                (mount / name).write_text(text)
        full_env = {
            **TOKEN,
            "OPENCLAW_NIX_TEMPLATE": str(template),
            "PATH": f"{openclaw_bin}:{os.environ['PATH']}",
            "HOME": str(tmp_path / "home"),
            "OPENCLAW_STATE_DIR": str(tmp_path / "oc-state"),
            **(env or {}),
        }
        return run_entry("--check", env=full_env, root=root)

    return run


def merged(config_dir: Path) -> dict:
    """OpenClaw's include semantics (objects deep-merge, arrays concatenate, later wins) in Python."""

    def merge(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            return {**a, **{k: merge(a[k], v) if k in a else v for k, v in b.items()}}
        if isinstance(a, list) and isinstance(b, list):
            return a + b
        return b

    result: dict = {}
    for include in json.loads((config_dir / "openclaw.json").read_text())["$include"]:
        result = merge(result, json5.loads((config_dir / include).read_text()))
    return result


def test_no_overlay_keeps_the_plain_template(run_overlay):
    result = run_overlay(None)
    assert result.returncode == 0, result.stderr
    config_dir = result.path("/config")
    assert sorted(p.name for p in config_dir.iterdir()) == ["openclaw.json"]
    assert "$include" not in (config_dir / "openclaw.json").read_text()


def test_overlay_file_is_merged_over_the_template_with_substitution(run_overlay, contract):
    overlay = '{channels: {whatsapp: {enabled: false}, matrix: {homeserver: "${OPENCLAW_MATRIX_HOMESERVER}"}}}'
    result = run_overlay(overlay, env={"OPENCLAW_MATRIX_HOMESERVER": "https://hs.example"})
    assert result.returncode == 0, result.stderr
    config_dir = result.path("/config")
    top = json.loads((config_dir / "openclaw.json").read_text())
    assert top["$include"][0] == "./template.json5"
    # read before includes are resolved: OpenClaw's merged value is written beside them
    assert top["logging"]["file"] == contract.log_file
    config = merged(config_dir)
    assert config["channels"]["whatsapp"]["enabled"] is False
    assert config["channels"]["matrix"]["homeserver"] == "https://hs.example"
    assert config["gateway"]["auth"]["token"] == "t"
    for path in config_dir.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not [p for p in config_dir.iterdir() if p.name.startswith(".stage-")]


def test_overlay_directory_merges_in_name_order_and_skips_hidden_entries(run_overlay):
    files = {
        "20-later.json5": '{logging: {level: "debug"}}',
        "10-first.json5": '{logging: {level: "warn"}, channels: {whatsapp: {enabled: false}}}',
        "..data.json5": "{ not even json5",
        "notes.txt": "ignored",
    }
    result = run_overlay(files)
    assert result.returncode == 0, result.stderr
    includes = json.loads(result.path("/config/openclaw.json").read_text())["$include"]
    assert includes == ["./template.json5", "./overlay/00-10-first.json5", "./overlay/01-20-later.json5"]
    config = merged(result.path("/config"))
    assert json.loads(result.path("/config/openclaw.json").read_text())["logging"]["level"] == "debug"
    assert config["logging"]["level"] == "debug" and config["channels"]["whatsapp"]["enabled"] is False


BAD_OVERLAYS = {
    "syntax": ("{channels: {whatsapp: {enabled: false}", "Failed to parse include file"),
    "wrong-type": ('{gateway: {port: "not a port"}}', "gateway.port"),
    "unknown-var": ('{channels: {matrix: {homeserver: "${MY_SECRET_URL}"}}}', "MY_SECRET_URL"),
    "include": ('{agents: {$include: "../../etc/passwd"}}', "$include is not supported in an overlay"),
}


@pytest.mark.parametrize("case", sorted(BAD_OVERLAYS))
def test_bad_overlay_stops_with_one_line_naming_the_file(run_overlay, case, contract):
    text, problem = BAD_OVERLAYS[case]
    result = run_overlay({"10-ok.json5": "{logging: {level: 'warn'}}", "50-bad.json5": text})
    assert result.returncode == EX_CONFIG, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert "50-bad.json5" in errors[0] and problem in errors[0]
    assert "10-ok.json5" not in errors[0]
    config_dir = result.path("/config")
    assert not (config_dir / "openclaw.json").exists()
    assert not [p for p in config_dir.rglob("*") if p.is_file()], "nothing half-written"


def test_broken_managed_npm_root_only_warns(run_entry, tmp_path, contract):
    """A non-object package.json or a plugin without name/version on /state must not stop every start."""
    root = tmp_path / "root"
    fake_plugins(root, contract)
    (root / contract.plugin_path(contract.plugins[0]).lstrip("/") / "package.json").write_text("{}")
    npm_root = root / contract.env["OPENCLAW_STATE_DIR"].lstrip("/") / "npm"
    npm_root.mkdir(parents=True)
    (npm_root / "package.json").write_text("[1, 2]")
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    assert f"cannot register baked plugin {contract.plugin_path(contract.plugins[0])}" in result.stderr
    deps = json.loads((npm_root / "package.json").read_text())["dependencies"]
    assert list(deps) == [f"@openclaw/{p}" for p in contract.plugins[1:]]


def test_removing_the_overlay_gives_exactly_the_template_again(run_overlay):
    plain = run_overlay(None)
    before = plain.path("/config/openclaw.json").read_text()
    assert run_overlay("{channels: {whatsapp: {enabled: false}}}").returncode == 0
    again = run_overlay(None)
    assert again.returncode == 0
    assert sorted(p.name for p in again.path("/config").iterdir()) == ["openclaw.json"]
    assert again.path("/config/openclaw.json").read_text() == before


def fake_plugins(root: Path, contract, integrity: bool = True) -> None:
    for plugin_id in contract.plugins:
        plugin = root / contract.plugin_path(plugin_id).lstrip("/")
        plugin.mkdir(parents=True, exist_ok=True)
        (plugin / "package.json").write_text(json.dumps({"name": f"@openclaw/{plugin_id}", "version": "1.2.3"}))
        if integrity:
            (root / contract.plugin_integrity_path(plugin_id).lstrip("/")).write_text(f"sha512-{plugin_id}==\n")


def legacy_index(root: Path, contract) -> Path:
    """OpenClaw's legacy install index file, which it imports into its state database at start."""
    return root / contract.env["OPENCLAW_STATE_DIR"].lstrip("/") / "plugins" / "installs.json"


def test_fresh_state_gets_install_records_with_the_baked_integrity(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    fake_plugins(root, contract)
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    records = json.loads(legacy_index(root, contract).read_text())["installRecords"]
    assert sorted(records) == sorted(contract.plugins)
    for plugin_id, record in records.items():
        name = f"@openclaw/{plugin_id}"
        assert record["integrity"] == f"sha512-{plugin_id}=="
        assert (record["source"], record["spec"], record["version"]) == ("npm", f"{name}@1.2.3", "1.2.3")
        # the path OpenClaw's own recovery gives the same install: the link in its managed npm root
        assert record["installPath"] == f"{contract.env['OPENCLAW_STATE_DIR']}/npm/node_modules/{name}"
        assert (root / record["installPath"].lstrip("/")).is_symlink()


@pytest.mark.parametrize("present", ["installs.json", "installs.json.migrated"])
def test_install_records_are_handed_over_once(run_entry, tmp_path, contract, present):
    """Once OpenClaw has the file (or imported and archived it), its own index is the truth: never rewritten."""
    root = tmp_path / "root"
    fake_plugins(root, contract)
    existing = legacy_index(root, contract).with_name(present)
    existing.parent.mkdir(parents=True)
    existing.write_text("{}")
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    assert existing.read_text() == "{}"
    assert not legacy_index(root, contract).exists() or present == "installs.json"


def test_missing_integrity_warns_and_keeps_the_trust_records(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    fake_plugins(root, contract, integrity=False)
    result = run_entry("--check", env=TOKEN, root=root)
    assert result.returncode == 0, result.stderr
    assert f"no integrity for baked plugin {contract.plugin_path(contract.plugins[0])}" in result.stderr
    assert not legacy_index(root, contract).exists()
    npm_root = root / contract.env["OPENCLAW_STATE_DIR"].lstrip("/") / "npm"
    assert sorted(json.loads((npm_root / "package.json").read_text())["dependencies"]) == sorted(
        f"@openclaw/{p}" for p in contract.plugins
    )


def test_baked_plugins_are_registered_in_the_managed_npm_root(run_entry, tmp_path, contract):
    root = tmp_path / "root"
    fake_plugins(root, contract)
    npm_root = root / contract.env["OPENCLAW_STATE_DIR"].lstrip("/") / "npm"
    npm_root.mkdir(parents=True)
    (npm_root / "package.json").write_text(json.dumps({"dependencies": {"left-pad": "1.0.0"}}))
    for _ in range(2):  # idempotent: the second start changes nothing
        result = run_entry("--check", env=TOKEN, root=root)
        assert result.returncode == 0, result.stderr
        manifest = json.loads((npm_root / "package.json").read_text())
        assert manifest["dependencies"] == {
            "left-pad": "1.0.0",
            **{f"@openclaw/{p}": "1.2.3" for p in contract.plugins},
        }
        for plugin_id in contract.plugins:
            link = npm_root / "node_modules" / "@openclaw" / plugin_id
            assert link.is_symlink() and os.readlink(link) == contract.plugin_path(plugin_id)


def test_passwd_entry_for_a_uid_without_one(run_entry, tmp_path, contract):
    if os.geteuid() != 0:
        pytest.skip("not run: needs root to switch to a uid without a passwd entry")
    root = tmp_path / "root"
    for name in ("config", "state", "logs", "tmp"):
        (root / name).mkdir(parents=True)
        os.chown(root / name, 54321, 54321)
    library = root / contract.nss_wrapper.lstrip("/")
    library.parent.mkdir(parents=True)
    library.write_bytes(b"")
    for parent in (tmp_path, root, *library.parents):
        if parent in (Path("/"), Path("/tmp")):
            break
        os.chmod(parent, 0o755)
    result = run_entry("sh", "-c", "env", env=TOKEN, root=root, uid=54321)
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    spec = contract.passwd
    assert env["LD_PRELOAD"] == spec["nss_wrapper"]
    assert env["NSS_WRAPPER_PASSWD"] == f"{spec['dir']}/passwd" and env["USER"] == spec["user"]
    passwd = (root / spec["dir"].lstrip("/") / "passwd").read_text()
    assert f"{spec['user']}:x:54321:54321:{spec['user']}:{contract.env['HOME']}:/bin/sh" in passwd.splitlines()
    assert passwd.startswith(Path("/etc/passwd").read_text())
