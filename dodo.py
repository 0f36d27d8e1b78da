"""openclaw-nix pipeline: pin -> template -> entrypoint -> builder -> image -> load -> smoke (-> qa -> f1_replay).

`doit` runs the default chain (pipeline/order.py), ending in the smoke tier, and reruns only what is
stale; `doit qa` adds the full QA tier; `doit list` is the menu and does no work. Heavy or destructive
steps (f1_replay, nix_check, repro, push) run only when named; benchmarks are `nox -s bench`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys

from doit import create_after
from doit.tools import config_changed

from image import builder
from image.contract import CONTRACT_PATH, ENTRY_PATH, NODE_PRELOADS, PROBE_PATH, Contract
from image.parity import build as parity
from image.parity.sources import SOURCES_PATH, Sources
from image.patches import specs as patch_specs
from image.paths import (
    BUILD,
    CONFIG_PREVIEW,
    LOADED_STAMP,
    NIX_ARCHIVE,
    PARITY_ARCHIVE,
    PINS,
    QA_EVIDENCE,
    REPO,
    WORK,
)
from image.record import CURRENT_IMAGE
from pipeline import order, pins
from pipeline.template_check import SHIPPED_OVERLAYS
from pipeline.timing import TimedReporter
from plumbing import commands

DOIT_CONFIG = {
    "default_tasks": list(order.DEFAULT),
    "verbosity": 2,
    "reporter": TimedReporter,
    "backend": "sqlite3-lazy",  # pipeline/doit_state.py, an entry point in pyproject.toml
    "dep_file": str(REPO / ".doit.db"),
}
PY = sys.executable
CONTRACT = Contract.load()
SOURCES = Sources.load()
TEMPLATE = CONTRACT.template_path
QA_FILES = sorted(str(p) for folder in ("qa", "harness", "plumbing") for p in (REPO / folder).glob("*.py"))
QA_INPUTS = [*QA_FILES, *(str(p) for p in sorted((REPO / "qa" / "overlays").glob("*.json5"))), str(REPO / "README.md")]
# Which scenarios each tier runs: marked in the scenarios themselves (pytest's `smoke` marker).
TIER_SELECTION = {"smoke": "smoke", "full": "not smoke"}
# Container scenarios in parallel (pytest-xdist), one module per worker; 0 runs them in this process.
QA_WORKERS = int(os.environ.get("OPENCLAW_NIX_QA_WORKERS", "2"))


def run(*argv: str, env: dict | None = None) -> None:
    """Run a command, streaming its output; raise so doit marks the task failed."""
    commands.stream(list(argv), cwd=REPO, env=env)


def task_pin():
    """Gather the pins (contract, parity sources, flake.lock) into build/pins.json; fail on disagreement."""
    locks = [p for p in (pins.FLAKE_LOCK, pins.DEBIAN_LOCK) if p.exists()]
    deps = [str(CONTRACT_PATH), str(SOURCES_PATH), *map(str, locks)]
    return {"actions": [pins.write], "file_dep": deps, "targets": [str(PINS)], "clean": True}


def task_template():
    """Render the template as the entrypoint does and validate it with the pinned `openclaw config validate`."""

    def check() -> None:
        from pipeline.template_check import check

        check(CONTRACT)

    return {
        "actions": [check],
        "file_dep": [
            str(TEMPLATE),
            str(CONTRACT_PATH),
            str(ENTRY_PATH),
            str(PINS),
            *map(str, sorted(SHIPPED_OVERLAYS.glob("*.json5"))),
        ],
        "targets": [str(CONFIG_PREVIEW), str(BUILD / "template-validation.json")],
        "clean": True,
    }


def task_entrypoint():
    """Run the entrypoint's unit tests (seeding, substitution, errors, exec)."""
    junit = BUILD / "entrypoint-tests.xml"
    tests = [
        str(REPO / "tests" / n)
        for n in ("test_entry.py", "test_entry_secret_files.py", "conftest.py", "openclaw_semantics.py")
    ]
    return {
        "actions": [(run, [PY, "-m", "pytest", "-q", *tests[:2], f"--junitxml={junit}"])],
        "file_dep": [str(ENTRY_PATH), str(CONTRACT_PATH), str(TEMPLATE), *tests],
        "targets": [str(junit)],
    }


def task_builder():
    """Decide which builder makes the image: Nix where it can build here, else parity (-> build/builder.json)."""

    def decide() -> None:
        builder.announce(builder.choose())

    return {"actions": [decide], "targets": [str(builder.CHOICE)], "uptodate": [lambda: builder.current() is not None]}


def _layer_inputs(name: str) -> dict:
    """What each parity layer is built from, for config_changed: a pin change rebuilds only its layer."""
    npm = {p.name: (p.version, p.integrity) for p in SOURCES.npm}
    runtime = {k: npm[p.name] for k, p in (("node", SOURCES.one("node")), ("npm", SOURCES.one("npm")))}
    return {
        "base": {"debian": SOURCES.debian, "link_duplicates": SOURCES.prune.get("link_duplicates", False)},
        "node": {**runtime, "strip_node": SOURCES.prune.get("strip_node", False)}
        | {"package_files": SOURCES.prune.get("package_files", {})},
        "openclaw": {
            **runtime,
            "openclaw": npm[SOURCES.one("openclaw").name],
            "prune": SOURCES.prune,
            # image/patches: a changed, added or removed spec rebuilds the layer it patches
            "patches": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in patch_specs()},
        },
        "plugins": {p.plugin_id: npm[p.name] for p in SOURCES.by_role("plugin")}
        | {"dir": CONTRACT.plugins_dir, "prune": SOURCES.prune},
        "tools": {
            **runtime,
            "tools": [npm[p.name] for p in SOURCES.by_role("tool")],
            "pypi": SOURCES.pypi,
            "prune": SOURCES.prune,
        },
        "app": {"app_dir": CONTRACT.app_dir, "entry": CONTRACT.entrypoint, "volumes": CONTRACT.volumes},
    }[name]


def _nix_image():
    from image.nix import build as nix_build

    def build_nix() -> None:
        nix_build.build().write(CURRENT_IMAGE)

    nix_files = [str(p) for p in [REPO / "flake.nix", REPO / "flake.lock", *sorted((REPO / "nix").rglob("*.nix"))]]
    nix_files += [str(REPO / "image/patches/apply.py"), *map(str, patch_specs()), str(SOURCES_PATH)]
    yield {
        "name": "nix",
        "actions": [build_nix],
        "file_dep": [
            *nix_files,
            *map(str, [CONTRACT_PATH, ENTRY_PATH, PROBE_PATH, TEMPLATE, PINS, *NODE_PRELOADS]),
        ],
        "targets": [str(CURRENT_IMAGE), str(NIX_ARCHIVE)],
    }


def _parity_image():
    code = [
        str(REPO / "image" / f)
        for f in ("layers.py", "parity/build.py", "parity/npm.py", "parity/downloads.py", "parity/debian.py")
    ]
    for name in parity.LAYERS:
        # after `pin` (which fails on inconsistent pins), but rebuilt only when this layer's own inputs change
        app_files = [str(ENTRY_PATH), str(PROBE_PATH), str(CONTRACT_PATH), str(TEMPLATE), *map(str, NODE_PRELOADS)]
        deps = [*code] + (app_files if name == "app" else [])
        deps += [str(REPO / "image/patches/apply.py"), *map(str, patch_specs())] if name == "openclaw" else []
        yield {
            "name": name,
            "doc": f"parity layer '{name}'",
            "actions": [(parity.build_layer, [name])],
            "file_dep": deps,
            "task_dep": ["pin"],
            "uptodate": [config_changed(_layer_inputs(name))],
            "targets": [str(parity.layer_path(name)), str(parity.layer_path(name).with_suffix(".json"))],
            "clean": True,
        }

    def archive() -> None:
        parity.build_archive().write(CURRENT_IMAGE)

    yield {
        "name": "archive",
        "doc": "assemble the docker-archive from the layers",
        "actions": [archive],
        "file_dep": [str(parity.layer_path(n).with_suffix(".json")) for n in parity.LAYERS]
        + [str(CONTRACT_PATH), *(str(REPO / f) for f in ("image/archive.py", "image/contract.py", "image/record.py"))],
        "targets": [str(PARITY_ARCHIVE), str(PARITY_ARCHIVE.with_suffix(".json")), str(CURRENT_IMAGE)],
        "clean": True,
    }


@create_after(executed="builder")
def task_image():
    """Build the image with the builder `builder` chose (Nix where it can build, else parity; never silently)."""
    # Created after `builder` ran; `doit list` (which runs nothing) shows the parity layers until a choice exists.
    choice = builder.current() or {"builder": "parity"}
    yield from (_nix_image() if choice["builder"] == "nix" else _parity_image())


def task_load():
    """podman load the image as the rootless QA user; up to date while podman holds that exact image id."""
    from pipeline.load import is_loaded, load

    return {
        "actions": [load],
        # explicit: the image tasks are created only after `builder` ran, so doit cannot infer this from file_dep
        "task_dep": ["image"],
        "file_dep": [str(CURRENT_IMAGE)],
        "targets": [str(LOADED_STAMP)],
        "uptodate": [lambda: is_loaded()],
    }


def _pytest_qa(tier: str) -> None:
    """One QA tier: its scenarios (by marker) against the loaded image, evidence in QA_EVIDENCE[tier]."""
    evidence = QA_EVIDENCE[tier]
    shutil.rmtree(evidence, ignore_errors=True)  # this run's evidence only: no stale scenario files
    workers = ["-n", str(QA_WORKERS), "--dist", "loadfile"] if QA_WORKERS > 0 else []
    run(
        PY,
        "-m",
        "pytest",
        "qa",
        "-m",
        TIER_SELECTION[tier],
        *workers,
        "-p",
        "no:cacheprovider",
        f"--junitxml={evidence / 'junit.xml'}",
        env={
            "OPENCLAW_NIX_EVIDENCE": str(evidence),
            "OPENCLAW_NIX_QA_KIND": os.environ.get("OPENCLAW_NIX_QA_KIND", tier),
            "OPENCLAW_NIX_REQUIRE_CONTAINER": "1",
        },
    )


def task_smoke():
    """The smoke tier: scenarios marked `smoke` (T2-T8, one Matrix conversation) against the loaded image."""
    return {
        "actions": [(_pytest_qa, ["smoke"])],
        "file_dep": [str(LOADED_STAMP), *QA_INPUTS],
        "targets": [str(QA_EVIDENCE["smoke"] / "summary.json")],
    }


def task_qa():
    """The full QA tier: every scenario not marked `smoke` (stress, release and security checks); after smoke."""
    return {
        "actions": [(_pytest_qa, ["full"])],
        "task_dep": list(order.DEFAULT),  # `doit qa` = the whole default chain (smoke last), then this
        "file_dep": [str(LOADED_STAMP), *QA_INPUTS],
        "targets": [str(QA_EVIDENCE["full"] / "summary.json")],
    }


def task_f1_clean():
    """F1's first step: remove QA images, containers, volumes and build outputs (run by f1_replay)."""
    from pipeline import f1

    return {"actions": [f1.clean], "uptodate": [False]}


def task_f1_replay():
    """F1: clean slate, then the whole chain with both QA tiers, then its evidence collected into evidence/."""
    from pipeline import f1

    return {"actions": [f1.collect], "task_dep": list(order.F1), "uptodate": [False], "verbosity": 2}


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
            *sorted(REPO.glob("image/nix/*.py")),
            REPO / "tests" / "test_nix.py",
        ]
        if p.exists()
    ]
    return {"actions": [(run, [PY, "-m", "pytest", "-q", "tests/test_nix.py"])], "file_dep": deps}


def task_release():
    """Build another OpenClaw release's image beside the working one and load it: `doit release --version V`
    (default: image/releases.toml's previous release); tagged with its version, the working pin untouched."""

    def build(version: str) -> None:
        from image.release import previous
        from pipeline.release import build_and_load

        build_and_load(version or previous())

    return {
        "actions": [build],
        "params": [{"name": "version", "long": "version", "default": "", "help": "an OpenClaw release, e.g. 2026.6.1"}],
        # the layers that hold no OpenClaw pin (base, node, tools) are the working build's
        "task_dep": ["image"],
        "uptodate": [False],
    }


def task_push():
    """Push the image with skopeo (OPENCLAW_NIX_PUSH_TO, credentials from env); not in the default build."""
    return {
        "actions": [(run, [PY, "-m", "pipeline.publish"])],
        # explicit, as for `load`: doit cannot infer the delayed image tasks from this file_dep
        "task_dep": ["image"],
        "file_dep": [str(CURRENT_IMAGE)],
        "uptodate": [False],
    }


def task_repro():
    """Build the parity image twice from clean work trees; fail (naming the files) unless digests match."""
    return {"actions": [(run, [PY, "-m", "pipeline.repro"])], "uptodate": [False]}


def task_clean_work():
    """Remove intermediate build trees under the cache's work dir (downloads are kept)."""

    def remove() -> None:
        shutil.rmtree(WORK, ignore_errors=True)

    return {"actions": [remove], "uptodate": [False]}
