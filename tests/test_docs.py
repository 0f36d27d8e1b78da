"""The README cannot drift from the contract, and CI runs exactly the README's test command."""

from __future__ import annotations

import re
import subprocess

from image.paths import REPO
from pipeline.docs import README, render_readme


def test_readme_contract_sections_are_current(contract):
    text = README.read_text()
    assert render_readme(text, contract) == text, "README is stale: run `python -m pipeline.docs`"


def test_drift_is_detected(contract):
    text = README.read_text().replace("`/state/npm-cache`", "`/state/other`", 1)
    assert render_readme(text, contract) != text


def test_every_contract_env_var_is_documented(contract):
    text = README.read_text()
    for name, value in contract.env.items():
        assert f"| `{name}` | `{value}` |" in text


def readme_commands() -> list[str]:
    text = README.read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.S)


def test_ci_runs_exactly_the_readme_test_command():
    main_job, test_command = readme_commands()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command
    assert "doit" in main_job and "nox" in test_command


def test_no_second_env_or_volume_list_outside_the_contract():
    """grep the tracked sources for contract env values: only the contract may spell them out."""
    files = subprocess.run(
        ["git", "ls-files", "*.py", "*.nix", "*.sh", "*.json5"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for f in files:
        text = (REPO / f).read_text(errors="replace")
        for needle in ("/state/npm-cache", "/state/uv-cache", "/state/xdg-cache", "NPM_CONFIG_PREFIX="):
            if needle in text and not f.startswith("tests/"):
                offenders.append((f, needle))
    assert offenders == []
