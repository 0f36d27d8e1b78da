"""OpenClaw's plugin trust gate, passed by the baked plugins (issue 11, item 0).

OpenClaw opens a plugin's keyed store (the Matrix channel needs it; WhatsApp uses it for approval
reactions) only to bundled plugins or official installs it has a record of. The entrypoint writes
those records into the managed npm root at every start; here OpenClaw itself reports the result
(`plugins inspect --json`: trustedOfficialInstall), with the records and, for contrast, without them.
The Matrix channel running against a real homeserver is qa/test_matrix.py.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.container
UNTRUSTED = "only available for trusted plugins"


def inspect_script(contract, before: str = "") -> str:
    return before + "; ".join(
        f"echo '=== {p}'; openclaw plugins inspect {p} --json 2>/dev/null" for p in contract.plugins
    )


def parse_inspect(output: str) -> dict[str, dict]:
    found = {}
    for chunk in output.split("=== ")[1:]:
        plugin_id, _, body = chunk.partition("\n")
        plugin = json.loads(body)["plugin"]
        found[plugin_id.strip()] = {k: plugin.get(k, False) for k in ("origin", "status", "trustedOfficialInstall")}
    return found


def test_baked_plugins_are_trusted_official_installs(runner, volumes, contract, scenario):
    """Both plugins report trustedOfficialInstall after the entrypoint ran; without its records they do not."""
    trusted = runner.run(["sh", "-c", inspect_script(contract)], volumes=volumes, extra=["--network=none"])
    assert trusted.ok, trusted.stderr
    npm_root = f"{contract.env['OPENCLAW_STATE_DIR']}/npm"
    without = runner.run(
        ["sh", "-c", inspect_script(contract, before=f"rm -rf {npm_root}; ")], volumes=volumes, extra=["--network=none"]
    )
    assert without.ok, without.stderr
    scenario.fact("with_entrypoint_records", parse_inspect(trusted.stdout))
    scenario.fact("records_removed", parse_inspect(without.stdout))
    assert parse_inspect(trusted.stdout) == {
        p: {"origin": "config", "status": "loaded", "trustedOfficialInstall": True} for p in contract.plugins
    }
    assert {p: v["trustedOfficialInstall"] for p, v in parse_inspect(without.stdout).items()} == {
        p: False for p in contract.plugins
    }


def test_trust_holds_under_nix_openclaws_wrapper_default(runner, volumes, contract, scenario):
    """nix-openclaw's bin/openclaw wrapper does `--set-default OPENCLAW_DISABLE_PERSISTED_PLUGIN_REGISTRY 1`;
    the image env sets it to 0 so records count (emulated with the shell's ${VAR-default}); forced to 1,
    trust is lost: the reason the contract sets it."""
    wrapper = "export OPENCLAW_DISABLE_PERSISTED_PLUGIN_REGISTRY=${OPENCLAW_DISABLE_PERSISTED_PLUGIN_REGISTRY-1}; "
    as_wrapped = runner.run(["sh", "-c", inspect_script(contract, before=wrapper)], volumes=volumes)
    forced = runner.run(
        ["sh", "-c", inspect_script(contract, before="export OPENCLAW_DISABLE_PERSISTED_PLUGIN_REGISTRY=1; ")],
        volumes=volumes,
    )
    assert as_wrapped.ok and forced.ok, as_wrapped.stderr + forced.stderr
    wrapped_trust = {p: v["trustedOfficialInstall"] for p, v in parse_inspect(as_wrapped.stdout).items()}
    forced_trust = {p: v["trustedOfficialInstall"] for p, v in parse_inspect(forced.stdout).items()}
    scenario.fact("with_wrapper_default", wrapped_trust)
    scenario.fact("registry_disabled", forced_trust)
    assert contract.env["OPENCLAW_DISABLE_PERSISTED_PLUGIN_REGISTRY"] == "0"
    assert wrapped_trust == {p: True for p in contract.plugins}
    assert forced_trust == {p: False for p in contract.plugins}


def test_whatsapp_login_fails_only_for_want_of_network(runner, volumes, scenario):
    """WhatsApp's login flow starts offline and fails on the connection, never on plugin trust."""
    result = runner.run(
        ["sh", "-c", "timeout 90 openclaw channels login --channel whatsapp 2>&1; echo rc=$?"],
        volumes=volumes,
        extra=["--network=none"],
        timeout=150,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    scenario.fact("login_output", lines[-8:])
    assert any("Waiting for WhatsApp connection" in line for line in lines), "the login flow never started"
    assert any("connection" in line.lower() and ("timed out" in line or "ended" in line) for line in lines)
    assert not [line for line in lines if UNTRUSTED in line or "trusted plugin" in line]
    assert lines[-1] != "rc=0"


def test_plugins_trusted_and_npm_root_registered(runner, volumes, contract, scenario):
    """The entrypoint registers each baked plugin in OpenClaw's managed npm root (its trust gate)."""
    npm_root = f"{contract.env['OPENCLAW_STATE_DIR']}/npm"
    # one JSON document: the manifest and where each @openclaw/* link points
    script = (
        "import json, os, sys; root = sys.argv[1]; scope = os.path.join(root, 'node_modules', '@openclaw'); "
        "print(json.dumps({'manifest': json.load(open(os.path.join(root, 'package.json'))), "
        "'links': [os.readlink(os.path.join(scope, n)) for n in sorted(os.listdir(scope))]}))"
    )
    result = runner.run(["python3", "-c", script, npm_root], volumes=volumes)
    assert result.ok, result.stderr
    found = json.loads(result.stdout)
    manifest, links = found["manifest"], found["links"]
    scenario.fact("npm_root_manifest", manifest)
    scenario.fact("links", links)
    assert sorted(manifest["dependencies"]) == sorted(f"@openclaw/{p}" for p in contract.plugins)
    assert sorted(links) == sorted(contract.plugin_path(p) for p in contract.plugins)
    assert set(manifest["dependencies"].values()) == {contract.openclaw_version}
