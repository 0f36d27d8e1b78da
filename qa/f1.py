"""F1: replay everything from a clean slate and write one evidence bundle to evidence/.

Clean slate = the QA user's containers and images, the QA volumes, build/ and the intermediate
build trees are removed; downloads stay unless asked (OPENCLAW_NIX_F1_CLEAN_DOWNLOADS=1).
Then the real doit chain runs step by step (pin, template, entrypoint, image, load, smoke), each in
its own `doit` process and timed, so doit's database ends up current: a `doit` right after F1
reruns nothing. The smoke evidence becomes evidence/, with f1.json (timings, image, versions).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from image import builder
from image.load import CURRENT_IMAGE
from image.paths import BUILD, DOWNLOADS, EVIDENCE, PINS, REPO, WORK
from qa.evidence import read_json, write_json
from qa.podman import QaUser

KEEP_IN_EVIDENCE = {"README.md", "bench", "fresh-machine", "stop-race-before"}  # not F1 output: kept
STEPS = ["pin", "template", "entrypoint", "image", "load", "smoke"]
SMOKE_EVIDENCE = BUILD / "qa-evidence"


def clean(user: QaUser, clean_downloads: bool) -> None:
    user.podman("rm", "--all", "--force", "--time", "0")
    user.podman("rmi", "--all", "--force")
    user.run(["rm", "-rf", str(user.home / "qa-volumes"), str(user.home / "openclaw")])
    shutil.rmtree(BUILD, ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)
    if clean_downloads:
        shutil.rmtree(DOWNLOADS, ignore_errors=True)
    EVIDENCE.mkdir(exist_ok=True)
    for child in EVIDENCE.iterdir():
        if child.name not in KEEP_IN_EVIDENCE:
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def doit(task: str) -> None:
    env = {**os.environ, "OPENCLAW_NIX_QA_KIND": "f1"}
    subprocess.run([sys.executable, "-m", "doit", task], cwd=REPO, check=True, env=env)


def replay(clean_downloads: bool = False) -> dict:
    user = QaUser()
    timings: dict[str, float] = {}

    def step(name: str, fn) -> None:
        print(f"[f1] {name} ...", flush=True)
        started = time.monotonic()
        try:
            fn()
        finally:
            timings[name] = round(time.monotonic() - started, 1)
        print(f"[f1] {name} done in {timings[name]} s", flush=True)

    outcome = "passed"
    step("clean", lambda: clean(user, clean_downloads))
    try:
        for task in STEPS:
            step(task, lambda task=task: doit(task))
    except subprocess.CalledProcessError as err:
        outcome = f"failed at {err.cmd[-1]}"
    if SMOKE_EVIDENCE.exists():
        shutil.copytree(SMOKE_EVIDENCE, EVIDENCE, dirs_exist_ok=True)
    if (BUILD / "entrypoint-tests.xml").exists():
        shutil.copy(BUILD / "entrypoint-tests.xml", EVIDENCE / "entrypoint-junit.xml")
    summary = read_json(EVIDENCE / "summary.json", {})
    image = read_json(CURRENT_IMAGE, {})
    versions = next(
        (s["facts"].get("versions") for s in summary.get("scenarios", []) if s["scenario"] == "t5_toolchain_versions"),
        None,
    )
    record = {
        "outcome": outcome,
        "builder": image.get("builder"),
        "builder_choice": read_json(builder.CHOICE),
        "image_id": image.get("image_id"),
        "image_size_bytes": summary.get("image_size_bytes"),
        "archive_bytes": os.path.getsize(image["archive"]) if image.get("archive") else None,
        "layers": image.get("layers"),
        "timings_s": timings,
        "total_s": round(sum(timings.values()), 1),
        "clean_downloads": clean_downloads,
        "toolchain_versions": versions,
        "counts": summary.get("counts"),
        "pins": read_json(PINS),
    }
    write_json(EVIDENCE / "f1.json", record)
    print(f"[f1] {outcome}: {summary.get('counts')} in {record['total_s']} s -> {EVIDENCE}", flush=True)
    if outcome != "passed":
        raise SystemExit(f"F1 replay {outcome}: see {EVIDENCE / 'summary.md'}")
    return record
