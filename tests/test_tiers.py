"""The QA tiers are chosen by the scenarios' own `smoke` marker: the smoke tier is exactly the seed's
T2-T8 and one Matrix conversation, and every other scenario, whoever adds it, lands in the full tier."""

from __future__ import annotations

import json
import sys

from image.paths import REPO
from plumbing import commands
from plumbing.files import read_json

SMOKE = {
    "qa/test_matrix.py::test_matrix_conversation[keep_id]",
    *(
        f"qa/test_scenarios.py::test_{name}"
        for name in (
            "t2_rootless_write_probe",
            "t2_tool_prefixes_in_state",
            "t4_config_reseeded_every_start",
            "t4_substitution_allowlist",
            "t5_every_elf_links_resolve",
            "t5_ffmpeg_transcodes_in_software",
            "t5_tmp_writable_and_tls_trust",
            "t5_toolchain_versions",
            "t6_image_loaded_with_contract_metadata",
            "t7_network_port_reachable_from_host",
            "t7_offline_start_plugins_loaded",
            "t8_readme_runbook_as_written",
        )
    ),
}


def collected(*args: str) -> set[str]:
    out = commands.run(
        [sys.executable, "-m", "pytest", "qa", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        check=True,
        timeout=300,
    ).stdout
    return {line.strip() for line in out.splitlines() if line.startswith("qa/")}


def test_smoke_tier_is_t2_to_t8_and_one_matrix_conversation():
    assert collected("-m", "smoke") == SMOKE


def test_every_other_scenario_is_the_full_tier():
    everything, full = collected(), collected("-m", "not smoke")
    assert full == everything - SMOKE
    assert len(full) > 40  # the stop race, hardening, registry, Control UI, ... and whatever is added later


def test_f1_merges_both_tiers_into_one_summary(tmp_path, monkeypatch):
    from harness.evidence import write_summary
    from pipeline import f1

    tiers = {tier: tmp_path / "build" / tier for tier in ("smoke", "full")}
    for tier, folder in tiers.items():
        record = {"scenario": f"a_{tier}", "title": tier, "outcome": "passed", "seconds": 1.0, "facts": {}}
        write_summary([record], {"kind": "f1", "builder": "parity", "selection": tier}, folder)
    monkeypatch.setattr(f1, "QA_EVIDENCE", tiers)
    monkeypatch.setattr(f1, "EVIDENCE", tmp_path / "evidence")
    summary = f1.merged_summary()
    assert summary["counts"] == {"passed": 2, "failed": 0, "not run": 0}
    assert [(s["scenario"], s["tier"]) for s in summary["scenarios"]] == [("a_smoke", "smoke"), ("a_full", "full")]
    assert read_json(tmp_path / "evidence" / "summary.json") == json.loads(json.dumps(summary))


def test_longest_module_starts_first_and_unknown_ones_keep_their_order():
    from harness.schedule import longest_first

    modules = {"a.py": ["x", "y"], "b.py": ["race"], "c.py": ["new"], "d.py": ["z"]}
    assert longest_first(modules, {"x": 5, "y": 5, "race": 500, "z": 1}) == ["b.py", "a.py", "d.py", "c.py"]
    assert longest_first(modules, {}) == list(modules)
