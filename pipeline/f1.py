"""F1: replay everything from a clean slate and write one evidence bundle to evidence/.

`doit f1_replay` is one doit run over pipeline.order.F1: `f1_clean` removes the QA user's containers
and images, the QA volumes, build/ and the intermediate build trees (downloads stay unless
OPENCLAW_NIX_F1_CLEAN_DOWNLOADS=1); the chain then rebuilds everything and runs both QA tiers (its
up-to-date checks run after the clean, so nothing is skipped) and `collect` turns the two tiers'
evidence into evidence/ (one summary over both, each scenario's tier named) with f1.json (timings,
image, versions), and refreshes the README's Control UI screenshot from it: the one step that writes
a tracked file outside evidence/. If a step fails, doit stops there and the scenarios' evidence stays
in build/qa-evidence. doit's database ends up current: a `doit qa` right after F1 reruns nothing.
"""

from __future__ import annotations

import os
import shutil

from harness.evidence import write_json, write_summary
from harness.podman import QaUser
from image import builder
from image.paths import BUILD, DOWNLOADS, EVIDENCE, PINS, QA_EVIDENCE, REPO, WORK
from image.record import ImageRecord
from pipeline import timing
from plumbing.files import read_json

KEEP_IN_EVIDENCE = {  # not F1 output: kept
    "README.md",
    "before-after",
    "bench",
    "fresh-machine",
    "kubenix",
    "releases",
    "stop-race-before",
    "stop-race-final",
    "template-variants-before",
}
# The README's screenshot: the Control UI scenario's chat step, taken by this F1 run.
README_SHOT = REPO / "docs" / "control-ui.png"
README_SHOT_SOURCE = "control_ui_operator_flow.6-chat-reply.png"


def clean() -> None:
    """The clean slate; also marks this doit run as F1, so the smoke step labels its evidence so."""
    os.environ["OPENCLAW_NIX_QA_KIND"] = "f1"
    user = QaUser()
    user.podman("rm", "--all", "--force", "--time", "0")
    user.podman("rmi", "--all", "--force")
    user.run(["rm", "-rf", str(user.home / "qa-volumes"), str(user.home / "openclaw")])
    shutil.rmtree(BUILD, ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)
    if os.environ.get("OPENCLAW_NIX_F1_CLEAN_DOWNLOADS") == "1":
        shutil.rmtree(DOWNLOADS, ignore_errors=True)
    EVIDENCE.mkdir(exist_ok=True)
    for child in EVIDENCE.iterdir():
        if child.name not in KEEP_IN_EVIDENCE:
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def merged_summary() -> dict:
    """Both tiers' summaries as one (scenarios in tier order, each naming its tier), written to evidence/."""
    tiers = {tier: read_json(folder / "summary.json", {}) for tier, folder in QA_EVIDENCE.items()}
    results = [{**s, "tier": tier} for tier, summary in tiers.items() for s in summary.get("scenarios", [])]
    info = {k: v for k, v in tiers["smoke"].items() if k not in ("counts", "scenarios", "selection", "finished")}
    info["tiers"] = {tier: {"counts": s.get("counts"), "finished": s.get("finished")} for tier, s in tiers.items()}
    write_summary(results, info, EVIDENCE)
    return read_json(EVIDENCE / "summary.json", {})


def collect() -> dict:
    """Both tiers' evidence becomes evidence/, with f1.json; fails unless every scenario passed."""
    for folder in QA_EVIDENCE.values():
        shutil.copytree(folder, EVIDENCE, dirs_exist_ok=True, ignore=shutil.ignore_patterns("summary.*", "junit.xml"))
    for tier, folder in QA_EVIDENCE.items():
        if (folder / "junit.xml").exists():
            shutil.copy(folder / "junit.xml", EVIDENCE / f"junit-{tier}.xml")
    if (BUILD / "entrypoint-tests.xml").exists():
        shutil.copy(BUILD / "entrypoint-tests.xml", EVIDENCE / "entrypoint-junit.xml")
    summary = merged_summary()
    if (EVIDENCE / README_SHOT_SOURCE).exists():
        shutil.copyfile(EVIDENCE / README_SHOT_SOURCE, README_SHOT)
    image = ImageRecord.read()
    versions = next(
        (s["facts"].get("versions") for s in summary.get("scenarios", []) if s["scenario"] == "t5_toolchain_versions"),
        None,
    )
    counts = summary.get("counts") or {}
    complete = counts.get("passed", 0) > 0 and not any(n for k, n in counts.items() if k != "passed")
    outcome = "passed" if complete else f"scenarios not all passed: {counts}"
    record = {
        "outcome": outcome,
        "builder": image.builder,
        "builder_choice": read_json(builder.CHOICE),
        "image_id": image.image_id,
        "image_size_bytes": summary.get("image_size_bytes"),
        "archive_bytes": os.path.getsize(image.archive),
        "layers": image.to_json()["layers"],
        "timings_s": dict(timing.SECONDS),
        "total_s": round(sum(timing.SECONDS.values()), 1),
        "clean_downloads": os.environ.get("OPENCLAW_NIX_F1_CLEAN_DOWNLOADS") == "1",
        "toolchain_versions": versions,
        "counts": summary.get("counts"),
        "pins": read_json(PINS),
    }
    write_json(EVIDENCE / "f1.json", record)
    print(f"[f1] {outcome}: {counts} in {record['total_s']} s -> {EVIDENCE}", flush=True)
    if outcome != "passed":
        raise SystemExit(f"F1 replay {outcome}: see {EVIDENCE / 'summary.md'}")
    return record
