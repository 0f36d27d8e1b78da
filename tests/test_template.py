"""The config template agrees with the contract, holds no secrets, and the real OpenClaw accepts it."""

from __future__ import annotations

import re
import subprocess

import json5
import pytest

from entry.openclaw_nix_entry import TOKEN, EntryError, render
from pipeline.template_check import openclaw_cli, render_sample, validate

SECRET_KEYS = re.compile(r"(token|secret|password|apikey|api_key|accesstoken|key)$", re.I)


@pytest.fixture(scope="module")
def template_text(contract) -> str:
    return contract.template_path.read_text()


@pytest.fixture(scope="module")
def rendered(contract) -> dict:
    return json5.loads(render_sample(contract))


def test_placeholders_are_all_allowlisted_and_required_ones_used(template_text, contract):
    used = {m.group(2) for m in TOKEN.finditer(template_text) if not m.group(1)}
    allowlisted = {a["name"] for a in contract.allowlist}
    assert used <= allowlisted, f"not allowlisted: {used - allowlisted}"
    assert set(contract.required_vars) <= used


def string_values(obj):
    if isinstance(obj, dict):
        for value in obj.values():
            yield from string_values(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from string_values(value)
    elif isinstance(obj, str):
        yield obj


def placeholders_outside_strings(template: str, contract) -> list[str]:
    """Placeholders whose rendered value does not end up inside a parsed string value."""
    sentinels = {a["name"]: f"SENTINEL-{a['name']}" for a in contract.allowlist}
    parsed = json5.loads(render(template, sentinels))
    inside = "\n".join(string_values(parsed))
    return [name for name, s in sentinels.items() if render(template, sentinels).count(s) != inside.count(s)]


def test_placeholders_only_inside_strings(template_text, contract):
    assert placeholders_outside_strings(template_text, contract) == []


def test_placeholder_in_a_comment_is_refused(template_text, contract):
    """The template check renders as the entrypoint does, so it refuses what the entrypoint would."""
    bad = "/* ${OPENCLAW_MATRIX_TOKEN} */\n" + template_text
    with pytest.raises(EntryError, match=r"line 1: \$\{OPENCLAW_MATRIX_TOKEN\} stands in a comment"):
        render(bad, {a["name"]: "v" for a in contract.allowlist})


def test_paths_and_port_match_the_contract(rendered, contract):
    assert rendered["agents"]["defaults"]["workspace"] == contract.workspace
    assert rendered["logging"]["file"] == contract.log_file
    assert rendered["logging"]["file"].startswith(contract.volumes["logs"]["path"] + "/")
    assert rendered["gateway"]["port"] == contract.port
    cmd = contract.cmd
    assert cmd[cmd.index("--port") + 1] == str(contract.port)
    assert rendered["plugins"]["load"]["paths"] == [contract.plugin_path(p) for p in contract.plugins]


def test_matrix_and_whatsapp_enabled(rendered, contract):
    for plugin in contract.plugins:
        assert rendered["plugins"]["entries"][plugin]["enabled"] is True
        assert rendered["channels"][plugin]["enabled"] is True
    auth = rendered["gateway"]["auth"]
    assert (auth["mode"], auth["token"]) == ("token", "sample-gateway-token")


def test_dm_senders_do_not_share_a_session(rendered):
    """OpenClaw's default dmScope `main` gives every DM sender one shared session (docs/patches.md)."""
    assert rendered["session"]["dmScope"] == "per-channel-peer"


def secret_values(obj, path=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from secret_values(value, f"{path}.{key}" if path else key)
    elif isinstance(obj, str) and SECRET_KEYS.search(path.rsplit(".", 1)[-1]):
        yield path, obj


def test_no_secret_literals(template_text):
    raw = json5.loads(template_text)
    leaks = [(p, v) for p, v in secret_values(raw) if not re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", v)]
    assert leaks == []


def test_secret_check_catches_a_literal():
    assert list(secret_values({"channels": {"matrix": {"accessToken": "syt_abc"}}})) == [
        ("channels.matrix.accessToken", "syt_abc")
    ]


def test_old_openrouter_bug_absent(template_text):
    for line in template_text.splitlines():
        assert not ("OPENROUTER_API_KEY" in line and "OPENCLAW_MATRIX_TOKEN" in line)


@pytest.mark.network
def test_pinned_openclaw_validates_the_rendered_template(contract):
    result = validate(render_sample(contract), contract)
    assert result.valid, result.report


@pytest.mark.network
def test_pinned_openclaw_rejects_a_broken_template(contract):
    broken = render_sample(contract).replace("dmPolicy", "dmPolicyTypo")
    result = validate(broken, contract)
    assert not result.valid
    assert "dmPolicyTypo" in str(result.report)


@pytest.mark.network
def test_pinned_openclaw_sees_tricky_value_intact(contract, tmp_path):
    """End to end with the real loader: the entrypoint's escaping survives OpenClaw's expansion."""
    value = 'q"uote \\ ${OPENCLAW_GATEWAY_TOKEN} $${X} ü'
    # homeserver, not accessToken: `config get` redacts secret fields
    env = {"OPENCLAW_GATEWAY_TOKEN": "tok", "OPENCLAW_MATRIX_HOMESERVER": value}
    config_text = render_sample(contract, env)
    result = validate(config_text, contract)
    assert result.valid, result.report
    node, script = openclaw_cli()

    cfg = tmp_path / "openclaw.json"
    cfg.write_text(result.config_text)
    proc = subprocess.run(
        [str(node), str(script), "config", "get", "channels.matrix.homeserver", "--json"],
        env={
            "PATH": f"{node.parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "OPENCLAW_CONFIG_PATH": str(cfg),
            "OPENCLAW_STATE_DIR": str(tmp_path / "s"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json5.loads(proc.stdout.strip().splitlines()[-1]) == value
