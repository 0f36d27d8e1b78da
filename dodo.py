"""openclaw-nix pipeline: pin -> template -> entrypoint -> image -> load -> smoke (-> f1_replay).

`doit` runs the default chain and reruns only what is stale; `doit list` is the menu.
Heavy or destructive steps (f1_replay, bench, nix_check) run only when named.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from doit.tools import config_changed

from image import builder, pins
from image.contract import CONTRACT_PATH, ENTRY_PATH, Contract
from image.load import CURRENT_IMAGE, is_loaded, load
from image.parity import build as parity
from image.parity.sources import SOURCES_PATH, Sources
from image.paths import BUILD, CONFIG_PREVIEW, LOADED_STAMP, NIX_ARCHIVE, PARITY_ARCHIVE, PINS, REPO, WORK

DOIT_CONFIG = {
    "default_tasks": ["pin", "template", "entrypoint", "image", "load", "smoke"],
    "verbosity": 2,
    # sqlite3 writes only the rows a run changed: F1 drives doit in sub-processes while doit runs it
    "backend": "sqlite3",
    "dep_file": str(REPO / ".doit.db"),
}
PY = sys.executable
CONTRACT = Contract.load()
SOURCES = Sources.load()
TEMPLATE = CONTRACT.template_path
QA_FILES = sorted(str(p) for p in (REPO / "qa").glob("*.py"))
SMOKE_SUMMARY = BUILD / "qa-evidence" / "summary.json"


def run(*argv: str, env: dict | None = None) -> None:
    """Run a command, streaming its output; raise so doit marks the task failed."""
    subprocess.run(list(argv), check=True, cwd=REPO, env={**os.environ, **(env or {})})


def task_pin():
    """Gather the pins (contract, parity sources, flake.lock) into build/pins.json; fail on disagreement."""
    locks = [p for p in (pins.FLAKE_LOCK, pins.DEBIAN_LOCK) if p.exists()]
    deps = [str(CONTRACT_PATH), str(SOURCES_PATH), *map(str, locks)]
    return {"actions": [pins.write], "file_dep": deps, "targets": [str(PINS)], "clean": True}


def task_template():
    """Render the template as the entrypoint does and validate it with the pinned `openclaw config validate`."""

    def check() -> None:
        from image.template_check import render_sample, validate

        result = validate(render_sample(CONTRACT), CONTRACT)
        (BUILD / "template-validation.json").write_text(json.dumps(result.report, indent=2) + "\n")
        if not result.valid:
            raise SystemExit(f"template rejected by openclaw {CONTRACT.openclaw_version}: {result.report}")
        CONFIG_PREVIEW.write_text(render_sample(CONTRACT))
        print(f"[template] valid for openclaw {CONTRACT.openclaw_version}; preview -> {CONFIG_PREVIEW}")

    return {
        "actions": [check],
        "file_dep": [str(TEMPLATE), str(CONTRACT_PATH), str(ENTRY_PATH), str(PINS)],
        "targets": [str(CONFIG_PREVIEW), str(BUILD / "template-validation.json")],
        "clean": True,
    }


def task_entrypoint():
    """Run the entrypoint's unit tests (seeding, substitution, errors, exec)."""
    junit = BUILD / "entrypoint-tests.xml"
    tests = [str(REPO / "tests" / n) for n in ("test_entry.py", "conftest.py", "openclaw_semantics.py")]
    return {
        "actions": [(run, [PY, "-m", "pytest", "-q", "tests/test_entry.py", f"--junitxml={junit}"])],
        "file_dep": [str(ENTRY_PATH), str(CONTRACT_PATH), str(TEMPLATE), *tests],
        "targets": [str(junit)],
    }


def _layer_inputs(name: str) -> dict:
    """What each parity layer is built from, for config_changed: a pin change rebuilds only its layer."""
    npm = {p.name: (p.version, p.integrity) for p in SOURCES.npm}
    runtime = {k: npm[p.name] for k, p in (("node", SOURCES.one("node")), ("npm", SOURCES.one("npm")))}
    return {
        "base": {"debian": SOURCES.debian},
        "node": {**runtime, "strip_node": SOURCES.prune.get("strip_node", False)},
        "openclaw": {**runtime, "openclaw": npm[SOURCES.one("openclaw").name], "prune": SOURCES.prune},
        "plugins": {p.plugin_id: npm[p.name] for p in SOURCES.by_role("plugin")}
        | {"dir": CONTRACT.raw["image"]["plugins_dir"], "prune": SOURCES.prune},
        "tools": {
            **runtime,
            "tools": [npm[p.name] for p in SOURCES.by_role("tool")],
            "pypi": SOURCES.pypi,
            "prune": SOURCES.prune,
        },
        "app": {"app_dir": CONTRACT.app_dir, "entry": CONTRACT.entrypoint, "volumes": CONTRACT.volumes},
    }[name]


def task_image():
    """Build the image: with Nix where it can build, else the parity builder (says which, never silently)."""
    choice = builder.choose()
    if choice["builder"] == "nix":
        from image import nix_build

        def build_nix() -> None:
            builder.announce(choice)
            meta = nix_build.build()
            CURRENT_IMAGE.write_text(json.dumps(meta, indent=2) + "\n")

        nix_files = [str(p) for p in [REPO / "flake.nix", REPO / "flake.lock", *sorted((REPO / "nix").rglob("*.nix"))]]
        yield {
            "name": "nix",
            "actions": [build_nix],
            "file_dep": [*nix_files, str(CONTRACT_PATH), str(ENTRY_PATH), str(TEMPLATE), str(PINS)],
            "targets": [str(CURRENT_IMAGE), str(NIX_ARCHIVE)],
        }
        return
    code = [
        str(REPO / "image" / f) for f in ("layers.py", "parity/build.py", "parity/downloads.py", "parity/debian.py")
    ]
    for name in parity.LAYERS:
        # after `pin` (which fails on inconsistent pins), but rebuilt only when this layer's own inputs change
        deps = [*code] + ([str(ENTRY_PATH), str(CONTRACT_PATH), str(TEMPLATE)] if name == "app" else [])
        yield {
            "name": name,
            "doc": f"parity layer '{name}'",
            "actions": [(builder.announce, [choice]), (parity.build_layer, [name])],
            "file_dep": deps,
            "task_dep": ["pin"],
            "uptodate": [config_changed(_layer_inputs(name))],
            "targets": [str(parity.layer_path(name)), str(parity.layer_path(name).with_suffix(".json"))],
            "clean": True,
        }

    def archive() -> None:
        parity.build_archive()
        shutil.copy(PARITY_ARCHIVE.with_suffix(".json"), CURRENT_IMAGE)

    yield {
        "name": "archive",
        "doc": "assemble the docker-archive from the layers",
        "actions": [archive],
        "file_dep": [str(parity.layer_path(n).with_suffix(".json")) for n in parity.LAYERS]
        + [str(CONTRACT_PATH), str(REPO / "image" / "archive.py"), str(REPO / "image" / "contract.py")],
        "targets": [str(PARITY_ARCHIVE), str(PARITY_ARCHIVE.with_suffix(".json")), str(CURRENT_IMAGE)],
        "clean": True,
    }


def task_load():
    """podman load the image as the rootless QA user; up to date while podman holds that exact image id."""
    return {
        "actions": [load],
        "file_dep": [str(CURRENT_IMAGE)],
        "targets": [str(LOADED_STAMP)],
        "uptodate": [lambda: is_loaded()],
    }


def _pytest_qa(evidence: Path) -> None:
    kind = os.environ.get("OPENCLAW_NIX_QA_KIND", "smoke")
    run(
        PY,
        "-m",
        "pytest",
        "qa",
        "-p",
        "no:cacheprovider",
        f"--junitxml={evidence / 'junit.xml'}",
        env={
            "OPENCLAW_NIX_EVIDENCE": str(evidence),
            "OPENCLAW_NIX_QA_KIND": kind,
            "OPENCLAW_NIX_REQUIRE_CONTAINER": "1",
        },
    )


def task_smoke():
    """Run every container scenario against the loaded image (evidence in build/qa-evidence)."""
    return {
        "actions": [(_pytest_qa, [SMOKE_SUMMARY.parent])],
        "file_dep": [str(LOADED_STAMP), *QA_FILES, str(REPO / "README.md")],
        "targets": [str(SMOKE_SUMMARY)],
    }


def task_f1_replay():
    """F1: clean slate (QA images, containers, volumes, build outputs), then build, load, all scenarios -> evidence/."""

    def replay() -> None:
        from qa.f1 import replay as f1

        f1(clean_downloads=os.environ.get("OPENCLAW_NIX_F1_CLEAN_DOWNLOADS") == "1")

    return {"actions": [replay], "uptodate": [False], "verbosity": 2}


def task_nix_check():
    """Offline Nix checks: parse every .nix file, evaluate the flake against stub inputs, check the lock."""
    deps = [
        str(p)
        for p in [
            REPO / "flake.nix",
            REPO / "flake.lock",
            CONTRACT_PATH,
            *sorted(REPO.glob("nix/**/*.nix")),
            *sorted(REPO.glob("tests/nix/**/*.nix")),
            REPO / "image" / "nix_check.py",
            REPO / "tests" / "test_nix.py",
        ]
        if p.exists()
    ]
    return {"actions": [(run, [PY, "-m", "pytest", "-q", "tests/test_nix.py"])], "file_dep": deps}


def task_push():
    """Push the image with skopeo (OPENCLAW_NIX_PUSH_TO, credentials from env); not in the default build."""
    return {"actions": [(run, [PY, "-m", "image.publish"])], "file_dep": [str(CURRENT_IMAGE)], "uptodate": [False]}


def task_repro():
    """Build the parity image twice from clean work trees; fail (naming the files) unless digests match."""
    return {"actions": [(run, [PY, "-m", "image.repro"])], "uptodate": [False]}


def task_bench():
    """Benchmarks (same as `nox -s bench`): ratios printed, figures in evidence/bench; not in the default build."""
    return {"actions": [(run, [PY, "-m", "nox", "-s", "bench"])], "uptodate": [False]}


def task_clean_work():
    """Remove intermediate build trees under the cache's work dir (downloads are kept)."""

    def remove() -> None:
        shutil.rmtree(WORK, ignore_errors=True)

    return {"actions": [remove], "uptodate": [False]}
