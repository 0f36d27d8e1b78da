"""F1: replay everything from a clean slate and write one evidence bundle to evidence/.

Clean slate = the QA user's containers and images, the QA volumes, build/ and the intermediate
build trees are removed; downloads stay unless asked (OPENCLAW_NIX_F1_CLEAN_DOWNLOADS=1).
Then pin, template, entrypoint tests, image, load and every scenario run in order, timed.
Steps are called directly (not through a nested doit, which would fight over its database).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

from image import builder, pins
from image.contract import Contract
from image.load import CURRENT_IMAGE, load
from image.paths import BUILD, DOWNLOADS, EVIDENCE, PARITY_ARCHIVE, REPO, WORK
from qa.podman import QaUser

KEEP_IN_EVIDENCE = {"README.md"}


def clean(user: QaUser, clean_downloads: bool) -> None:
    user.podman("rm", "--all", "--force", "--time", "0")
    user.podman("rmi", "--all", "--force")
    user.run(["rm", "-rf", str(user.home / "qa-volumes")])
    shutil.rmtree(BUILD, ignore_errors=True)
    for child in WORK.glob("*") if WORK.exists() else []:
        if child.name != "npm-cache" or clean_downloads:  # npm's cache is a download cache
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    if clean_downloads:
        shutil.rmtree(DOWNLOADS, ignore_errors=True)
    EVIDENCE.mkdir(exist_ok=True)
    for child in EVIDENCE.iterdir():
        if child.name not in KEEP_IN_EVIDENCE:
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def build_image() -> dict:
    choice = builder.choose()
    builder.announce(choice)
    if choice["builder"] == "nix":
        from image.nix_build import build

        meta = build()
    else:
        from image.parity import build as parity

        for name in parity.LAYERS:
            parity.build_layer(name)
        parity.build_archive()
        meta = json.loads(PARITY_ARCHIVE.with_suffix(".json").read_text())
    CURRENT_IMAGE.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def validate_template() -> None:
    from image.template_check import render_sample, validate

    contract = Contract.load()
    result = validate(render_sample(contract), contract)
    if not result.valid:
        raise SystemExit(f"template rejected: {result.report}")


def pytest(*args: str, env: dict | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        check=True,
        env={**os.environ, **(env or {})},
    )


def replay(clean_downloads: bool = False) -> dict:
    user = QaUser()
    timings: dict[str, float] = {}
    meta: dict = {}

    def step(name: str, fn: Callable[[], object]) -> None:
        print(f"[f1] {name} ...", flush=True)
        started = time.monotonic()
        result = fn()
        timings[name] = round(time.monotonic() - started, 1)
        if isinstance(result, dict):
            meta.update(result)
        print(f"[f1] {name} done in {timings[name]} s", flush=True)

    BUILD.mkdir(parents=True, exist_ok=True)
    step("clean", lambda: clean(user, clean_downloads))
    BUILD.mkdir(parents=True, exist_ok=True)
    step("pin", pins.write)
    step("template", validate_template)
    step(
        "entrypoint_tests",
        lambda: pytest("-q", "tests/test_entry.py", f"--junitxml={EVIDENCE / 'entrypoint-junit.xml'}"),
    )
    step("image", build_image)
    step("load", load)
    outcome = "passed"
    try:
        step(
            "scenarios",
            lambda: pytest(
                "qa",
                f"--junitxml={EVIDENCE / 'junit.xml'}",
                env={
                    "OPENCLAW_NIX_EVIDENCE": str(EVIDENCE),
                    "OPENCLAW_NIX_QA_KIND": "f1",
                    "OPENCLAW_NIX_REQUIRE_CONTAINER": "1",
                },
            ),
        )
    except subprocess.CalledProcessError:
        outcome = "failed"
    summary = json.loads((EVIDENCE / "summary.json").read_text()) if (EVIDENCE / "summary.json").exists() else {}
    versions = next(
        (s["facts"].get("versions") for s in summary.get("scenarios", []) if s["scenario"] == "t5_toolchain_versions"),
        None,
    )
    record = {
        "outcome": outcome,
        "builder": meta.get("builder"),
        "image_id": meta.get("image_id"),
        "image_size_bytes": summary.get("image_size_bytes"),
        "archive_bytes": os.path.getsize(meta["archive"]),
        "layers": meta.get("layers"),
        "timings_s": timings,
        "total_s": round(sum(timings.values()), 1),
        "clean_downloads": clean_downloads,
        "toolchain_versions": versions,
        "counts": summary.get("counts"),
        "pins": json.loads((BUILD / "pins.json").read_text()),
    }
    (EVIDENCE / "f1.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"[f1] {outcome}: {summary.get('counts')} in {record['total_s']} s -> {EVIDENCE}", flush=True)
    if outcome != "passed":
        raise SystemExit("F1 replay failed: see evidence/summary.md")
    return record
