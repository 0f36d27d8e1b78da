"""The README and docs/ cannot drift from the contract, and CI runs exactly the README's test command."""

from __future__ import annotations

import re
import subprocess
from collections import Counter

import pytest

from image.paths import REPO
from pipeline.docs import README, RENDERERS, pages, render_page, sections


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_generated_sections_are_current(contract, page):
    text = page.read_text()
    assert render_page(text, contract) == text, f"{page.name} is stale: run `python -m pipeline.docs`"


def test_drift_is_detected(contract):
    text = README.read_text().replace("`/state/npm-cache`", "`/state/other`", 1)
    assert render_page(text, contract) != text


def test_every_generated_section_is_shown_exactly_once():
    """Moving text between pages must not drop a generated table nor show it twice."""
    shown = Counter(name for page in pages() for name in sections(page.read_text()))
    assert shown == Counter(list(RENDERERS)), shown


def test_a_dropped_section_is_noticed(tmp_path, monkeypatch):
    """The check above can fail: a docs folder without the performance page misses its section."""
    import pipeline.docs as docs

    (tmp_path / "running.md").write_text((REPO / "docs" / "running.md").read_text())
    monkeypatch.setattr(docs, "DOCS", tmp_path)
    shown = Counter(name for page in docs.pages() for name in sections(page.read_text()))
    assert shown != Counter(list(RENDERERS)) and "performance" not in shown


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


def shell_blocks(text: str) -> list[str]:
    """Every fenced block a page shows as shell (```sh, ```sh runbook, ```bash)."""
    return re.findall(r"^```(?:sh|bash)(?: [\w-]+)?\n(.*?)^```", text, re.S | re.M)


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_shell_blocks_parse(page):
    """A block shown as shell is at least valid shell: `bash -n` reads each one."""
    for block in shell_blocks(page.read_text()):
        result = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert result.returncode == 0, f"{page.name}: {result.stderr}\n{block}"


def test_a_broken_shell_block_is_caught():
    (block,) = shell_blocks("```sh\nif true; then echo\n```\n")
    assert subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True).returncode != 0


HISTORY = re.compile(r"\bissues? #?\d+|\bseed T\d+|\bPR #?\d+", re.I)


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_development_history_in_user_docs(page):
    """User docs state what is, not which issue or session did it."""
    assert HISTORY.findall(page.read_text()) == []


def test_history_pattern_finds_an_issue_number():
    assert HISTORY.findall("Levers tried (issue 16); macOS (seed T10)") == ["issue 16", "seed T10"]
