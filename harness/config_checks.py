"""The smoke tier's checks that read the seeded config, as functions: qa/test_scenarios.py runs them with
the shipped template, qa/test_template_variants.py with templates a user could write (the runner mounts
one over the image's template). Scenario evidence goes through `scenario` as everywhere in QA.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time
from dataclasses import dataclass

from harness.containers import CONTRACT, TEST_TOKEN, Runner, Volumes, gateway
from harness.evidence import Scenario
from harness.template import Template, at, dotted, fixed_values, leaves, parse, placeholders
from image.contract import Contract

CONFIG_NAME = CONTRACT.env["OPENCLAW_CONFIG_PATH"].rsplit("/", 1)[-1]
STRAY = f"{CONTRACT.volumes['config']['path']}/stale.txt"  # a file a user leaves in /config


# One JSON line: the config file's bytes (as text, undecodable bytes kept as escapes; not base64, so the
# evidence's secret redaction still sees the token), its directory's listing, its mode and owner.
READ_CONFIG = (
    "import json, os; p = os.environ['OPENCLAW_CONFIG_PATH']; st = os.stat(p); "
    "print(json.dumps({'config': open(p, 'rb').read().decode('utf-8', 'surrogateescape'), "
    "'listing': sorted(os.listdir(os.path.dirname(p))), 'mode': '%o' % (st.st_mode & 0o777), 'uid': st.st_uid}))"
)


@dataclass(frozen=True)
class Seeded:
    """/config as one container start left it: the config's bytes, the directory listing, mode and owner."""

    config: bytes
    listing: list[str]
    mode: str
    uid: int

    @property
    def tree(self):
        return parse(self.config)


def seeded(runner: Runner, volumes: Volumes, *, then: str = "", env: dict | None = None) -> list[Seeded]:
    """Start a container (the entrypoint seeds /config), read /config; with `then`, run it and read again."""
    read = f"python3 -c {shlex.quote(READ_CONFIG)}"
    script = read + (f" && {{ {then}; }} >/dev/null && {read}" if then else "")
    result = runner.sh(script, volumes=volumes, env=env)
    assert result.ok, result.stderr[-2000:]
    docs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return [Seeded(d["config"].encode("utf-8", "surrogateescape"), d["listing"], d["mode"], d["uid"]) for d in docs]


def config_reseeded(runner: Runner, volumes: Volumes, scenario: Scenario, template: Template) -> None:
    """T4: /config/openclaw.json is written at every start, an edit and a stray file are gone at the next
    start, the bytes are identical both times, and read as JSON5 the config holds every setting of the
    template unchanged at its key path (placeholders aside: T4's allowlist check covers those)."""
    marker = f"// qa-edit-{secrets.token_hex(4)}"
    edit = f"printf '\\n%s\\n' '{marker}' >> \"$OPENCLAW_CONFIG_PATH\"; echo junk > {STRAY}"
    first, edited = seeded(runner, volumes, then=edit)
    (second,) = seeded(runner, volumes)
    expected, got = parse(template.data), second.tree
    fixed = fixed_values(expected)
    scenario.fact("template", template.name)
    scenario.fact("same_bytes_both_starts", first.config == second.config)
    scenario.fact("edit_applied_in_first_start", marker.encode() in edited.config)
    scenario.fact("config_dir_after_restart", second.listing)
    scenario.fact("mode_owner", [second.mode, second.uid])
    scenario.fact("template_settings_checked_by_path", len(fixed))
    assert marker.encode() in edited.config and STRAY.rsplit("/", 1)[-1] in edited.listing, "the edit did not happen"
    assert first.config == second.config
    assert marker.encode() not in second.config
    assert second.listing == [CONFIG_NAME]
    assert second.mode == "600"
    assert sorted(map(dotted, (p for p, _ in leaves(got)))) == sorted(map(dotted, (p for p, _ in leaves(expected))))
    assert {path: at(got, path) for path in fixed} == fixed


def substitution_allowlist(
    runner: Runner, volumes: Volumes, scenario: Scenario, template: Template, contract: Contract
) -> None:
    """T4: every allowlisted variable the template names reaches its key path with the value given; a
    variable that is not allowlisted never reaches the config."""
    run_id = secrets.token_hex(4)
    values = {a["name"]: f"qa-{a['name'].lower()}-{run_id}" for a in contract.allowlist}
    values["OPENCLAW_GATEWAY_TOKEN"] = TEST_TOKEN  # the runner passes the run's token
    leak = f"sk-not-allowlisted-{run_id}"
    env = {k: v for k, v in values.items() if k != "OPENCLAW_GATEWAY_TOKEN"} | {"OPENROUTER_API_KEY": leak}
    (got,) = seeded(runner, volumes, env=env)
    shipped = parse(template.data)
    holders = placeholders(shipped)
    checked = {
        dotted(path): {name: values[name] in at(got.tree, path) for name in names if name in values}
        for path, names in holders.items()
    }
    exact = {  # a value that is only the placeholder becomes exactly the variable's value
        dotted(p): at(got.tree, p) == values[n[0]] for p, n in holders.items() if at(shipped, p) == f"${{{n[0]}}}"
    }
    scenario.fact("template", template.name)
    scenario.fact("placeholders_substituted", checked)
    scenario.fact("non_allowlisted_hits", got.config.count(leak.encode()))
    assert any(checked.values()), "the template names no allowlisted variable: nothing to check"
    assert all(all(found.values()) for found in checked.values()), checked
    assert all(exact.values()), exact
    assert leak.encode() not in got.config


def offline_start_plugins_loaded(
    runner: Runner, volumes: Volumes, contract: Contract, scenario: Scenario, name: str
) -> None:
    """T7's offline start, for the shipped template or any other the runner mounts."""
    with gateway(runner, name, volumes, scenario, extra=["--network=none"]):
        net = runner.exec(name, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '")
        scenario.fact("interfaces", net.stdout.split())
        assert net.stdout.split() == ["lo"]
        plugins = runner.plugins(name)
        scenario.fact(
            "plugins",
            {
                k: {
                    "status": v["status"],
                    "origin": v.get("origin"),
                    "rootDir": v.get("rootDir"),
                    "missing": v["dependencyStatus"]["missing"],
                }
                for k, v in plugins.items()
            },
        )
        assert sorted(plugins) == sorted(contract.plugins)
        # the parity image has the roots at plugins_dir/<id>; the Nix image links them into /nix/store
        paths = [contract.plugin_path(p) for p in contract.plugins]
        resolved = runner.exec(name, "readlink -f " + " ".join(paths)).stdout.split()
        for plugin_id, path, real in zip(contract.plugins, paths, resolved, strict=True):
            info = plugins[plugin_id]
            assert info["status"] == "loaded", info
            assert info["dependencyStatus"]["missing"] == []
            assert info["rootDir"] in (path, real), (plugin_id, info["rootDir"])
        logs = runner.logs(name)
        text = logs.stdout + logs.stderr
        installs = re.findall(r"(npm (?:install|ci)\b|ENOTFOUND|ENOTCACHED|EAI_AGAIN|installing plugin)", text, re.I)
        scenario.fact("install_or_network_attempts_in_log", installs)
        assert installs == []
        npm_cache = runner.exec(name, 'find "$NPM_CONFIG_CACHE" -type f | wc -l')
        scenario.fact("npm_cache_files", int(npm_cache.stdout.strip()))
        assert int(npm_cache.stdout.strip()) == 0
        stop_started = time.monotonic()
        runner.stop(name)
        scenario.fact("stop_seconds", round(time.monotonic() - stop_started, 1))
        scenario.fact("exit_code", runner.exit_code(name))
        assert runner.exit_code(name) == 0
    log_file = volumes.logs / "openclaw.log"
    scenario.fact("log_file_bytes", log_file.stat().st_size if log_file.exists() else 0)
    assert log_file.exists() and log_file.stat().st_size > 0
    first = json.loads(log_file.read_text().splitlines()[0])
    scenario.fact("log_first_line_keys", sorted(first)[:8])
