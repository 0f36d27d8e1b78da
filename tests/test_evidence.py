"""Evidence files are readable, machine-readable, and never carry a secret."""

from __future__ import annotations

import json

from harness.evidence import SECRETS, Scenario, write_summary
from plumbing.commands import Result


def test_secrets_are_redacted_and_files_written(tmp_path):
    SECRETS.add("tok-123-secret")
    try:
        sc = Scenario("demo", "a demo")
        sc.add(
            Result(["podman", "run", "-e", "OPENCLAW_GATEWAY_TOKEN=tok-123-secret"], 0, "ok tok-123-secret", "", 1.0)
        )
        sc.fact("exit_code", 0)
        data = sc.write("passed", tmp_path)
        write_summary([data], {"kind": "test", "builder": "parity"}, tmp_path)
    finally:
        SECRETS.discard("tok-123-secret")
    for path in tmp_path.iterdir():
        assert "tok-123-secret" not in path.read_text(), path
    stored = json.loads((tmp_path / "demo.json").read_text())
    assert stored["commands"][0]["argv"][-1] == "OPENCLAW_GATEWAY_TOKEN=<redacted>"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"passed": 1, "failed": 0, "not run": 0} and summary["builder"] == "parity"
    assert "| demo — a demo | passed |" in (tmp_path / "summary.md").read_text()
