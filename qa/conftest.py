"""Fixtures and evidence hooks for the container scenarios (rootless podman, real image).

A scenario that cannot run (no QA user, no image) is reported "not run" with the reason; with
OPENCLAW_NIX_REQUIRE_CONTAINER=1 (nox -s smoke / f1, CI) that is an error instead, so a
machine without podman can never turn the suite green by skipping it.

Tiers: scenarios marked `smoke` are what `doit` runs (`-m smoke`); every other one is the full tier
(`doit qa`, `-m "not smoke"`). Either may run in pytest-xdist workers (`-n 2 --dist loadfile`: a module
stays on one worker, so its module fixtures, container names and ports are its own). Each scenario's
record travels to the controlling process with its test report, which writes the one summary.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.containers import Runner, Volumes
from harness.evidence import EVIDENCE_DIR, Scenario, write_summary
from harness.podman import QaUser
from harness.preconditions import cannot_run
from harness.schedule import last_seconds, longest_first
from harness.template import Template
from image.contract import Contract
from image.paths import EVIDENCE, QA_EVIDENCE
from image.record import ImageRecord
from pipeline.load import is_loaded, load

RESULTS: list[dict] = []
RUN_INFO: dict = {
    "kind": os.environ.get("OPENCLAW_NIX_QA_KIND", "qa"),
    "started": time.strftime("%FT%TZ", time.gmtime()),
}
SUMMARY_KEYS = ("scenario", "title", "outcome", "seconds", "facts")


@pytest.fixture(scope="session")
def qa_user() -> QaUser:
    if shutil.which("podman") is None:
        cannot_run("podman is not installed (run setup/bootstrap.sh)")
    user = QaUser()
    try:
        user.uid  # noqa: B018
    except KeyError:
        cannot_run(f"QA user {user.name} does not exist (run setup/bootstrap.sh)")
    return user


@dataclass(frozen=True)
class LoadedImage(ImageRecord):
    """The image record plus what the QA user's podman reports for it (`podman image inspect`)."""

    inspect: dict = field(default_factory=dict)

    @property
    def config(self) -> dict:
        """The image config as the builder wrote it (podman's inspect lifts Healthcheck out of Config)."""
        return {**self.inspect["Config"], "Healthcheck": self.inspect.get("Healthcheck")}


@pytest.fixture(scope="session")
def image(qa_user: QaUser) -> LoadedImage:
    """The image under test: the archive `doit image` built last, loaded into the QA user's podman."""
    try:
        record = ImageRecord.read()
    except SystemExit as err:
        cannot_run(str(err))
    if not is_loaded(record):
        load(record)
    info = json.loads(qa_user.podman("image", "inspect", record.ref, check=True).stdout)[0]
    RUN_INFO.update(
        {
            "builder": record.builder,
            "image": record.ref,
            "image_id": record.image_id,
            "image_size_bytes": info.get("Size"),
            "archive": str(record.archive),
            "host": f"{platform.node()} {platform.system()} {platform.release()} {platform.machine()}",
            "podman": qa_user.podman("--version").stdout.strip(),
            "qa_user": qa_user.name,
        }
    )
    return LoadedImage(**vars(record), inspect=info)


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract.load()


@pytest.fixture
def template(contract: Contract) -> Template:
    return Template("shipped", contract.template_path.read_bytes())


@pytest.fixture
def scenario(request) -> Scenario:
    name = request.node.name.removeprefix("test_")
    doc = (request.node.function.__doc__ or name).strip().splitlines()[0]
    sc = Scenario(name, doc)
    yield sc
    report = getattr(request.node, "rep_call", None) or getattr(request.node, "rep_setup", None)
    outcome = "not run" if report is None or report.skipped else ("passed" if report.passed else "failed")
    if report is not None and report.failed and report.longreprtext:
        sc.notes.append("failure: " + report.longreprtext.strip().splitlines()[-1][:500])
    record = sc.write(outcome)
    # JSON-clean, so it survives the trip from an xdist worker; collected by pytest_runtest_logreport
    request.node.user_properties.append(("qa_scenario", json.loads(json.dumps(_summary(record), default=str))))
    request.node.user_properties.append(("qa_run_info", json.loads(json.dumps(RUN_INFO, default=str))))


def _summary(record: dict) -> dict:
    return {k: record[k] for k in SUMMARY_KEYS}


@pytest.fixture
def runner(qa_user: QaUser, image: dict, scenario: Scenario, template: Template) -> Runner:
    return Runner(qa_user, image.ref, scenario, mounts=list(template.mounts))


@pytest.fixture
def volumes(qa_user: QaUser, request) -> Volumes:
    """Fresh, empty /state and /logs directories owned by the QA user."""
    root = qa_user.home / "qa-volumes" / request.node.name
    # inside the user namespace: files a scenario handed to a subordinate uid can be removed too
    qa_user.run(["podman", "unshare", "rm", "-rf", str(root)], check=True)
    vols = Volumes(root)
    qa_user.mkdirs(vols.state, vols.logs)
    return vols


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_collection_modifyitems(session, config, items):
    """Longest module first (by the last runs' evidence), each module's own order kept: with xdist's
    loadfile a long module no longer starts last and runs alone. Every worker reads the same files, so
    their collections agree. The timings come from the committed F1 bundle (every scenario of both
    tiers; the only source on a fresh clone), then the other tier's last run in build/ (a tier's own
    folder is emptied before it runs)."""
    seconds = last_seconds([EVIDENCE / "summary.json", *(folder / "summary.json" for folder in QA_EVIDENCE.values())])
    modules: dict[str, list[str]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item.name.removeprefix("test_"))
    rank = {module: n for n, module in enumerate(longest_first(modules, seconds))}
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])


def pytest_runtest_logreport(report):
    """Every scenario's record, in the process that writes the summary (xdist's controller, or the one process)."""
    if report.when != "teardown":
        return
    for key, value in report.user_properties:
        if key == "qa_scenario":
            RESULTS.append(value)
        elif key == "qa_run_info":
            RUN_INFO.update({k: v for k, v in value.items() if k not in ("kind", "started")})


def pytest_sessionfinish(session, exitstatus):
    if RESULTS and not hasattr(session.config, "workerinput"):  # an xdist worker leaves the summary to its controller
        RUN_INFO["finished"] = time.strftime("%FT%TZ", time.gmtime())
        RUN_INFO["selection"] = session.config.option.markexpr or "every scenario"
        RUN_INFO["workers"] = getattr(session.config.option, "numprocesses", None) or 0
        RUN_INFO["load_average_at_finish"] = [round(x, 1) for x in os.getloadavg()]  # other work on the host
        write_summary(RESULTS, RUN_INFO, Path(EVIDENCE_DIR))
