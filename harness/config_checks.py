"""The smoke tier's checks that read the seeded config, as functions: qa/test_scenarios.py runs them with
the shipped template, qa/test_template_variants.py with templates a user could write (the runner mounts
one over the image's template). Scenario evidence goes through `scenario` as everywhere in QA.
"""

from __future__ import annotations

import json
import re
import time

from harness.containers import Runner, Volumes, gateway
from harness.evidence import Scenario
from image.contract import Contract


def config_reseeded(runner: Runner, volumes: Volumes, scenario: Scenario) -> None:
    """T4's check, for the shipped template or any other the runner mounts (qa/test_template_variants.py)."""
    first = runner.sh(
        "cat /config/openclaw.json; echo '// edited' >> /config/openclaw.json; echo junk > /config/stale.txt",
        volumes=volumes,
    )
    second = runner.sh("cat /config/openclaw.json; ls -A /config", volumes=volumes)
    assert first.ok and second.ok, first.stderr + second.stderr
    content, listing = second.stdout.rsplit("}\n", 1)
    scenario.fact("same_content_both_runs", first.stdout == content + "}\n")
    scenario.fact("config_dir_after_restart", listing.split())
    assert first.stdout == content + "}\n"
    assert "// edited" not in second.stdout
    assert listing.split() == ["openclaw.json"]
    mode = runner.sh("stat -c '%a %u' /config/openclaw.json", volumes=volumes).stdout.split()
    scenario.fact("mode_owner", mode)
    assert mode[0] == "600"


def substitution_allowlist(runner: Runner, volumes: Volumes, scenario: Scenario) -> None:
    """T4's allowlist check, for the shipped template or any other the runner mounts."""
    result = runner.sh(
        "grep -n abc123 /config/openclaw.json; echo ---; grep -c sk-not-allowlisted /config/openclaw.json || true",
        volumes=volumes,
        env={"OPENCLAW_MATRIX_TOKEN": "abc123", "OPENROUTER_API_KEY": "sk-not-allowlisted"},
    )
    assert result.ok, result.stderr
    found, leaked = result.stdout.split("---")
    scenario.fact("abc123_lines", found.strip())
    scenario.fact("non_allowlisted_hits", leaked.strip())
    assert "accessToken" in found and "abc123" in found
    assert leaked.strip() == "0"


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
