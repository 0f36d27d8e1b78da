"""Fixtures and evidence hooks for the container scenarios (rootless podman, real image).

A scenario that cannot run (no QA user, no image) is reported "not run" with the reason; with
OPENCLAW_NIX_REQUIRE_CONTAINER=1 (nox -s smoke / f1, CI) that is an error instead, so a
machine without podman can never turn the suite green by skipping it.
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
from image.contract import Contract
from image.record import ImageRecord
from pipeline.load import is_loaded, load

RESULTS: list[dict] = []
RUN_INFO: dict = {
    "kind": os.environ.get("OPENCLAW_NIX_QA_KIND", "smoke"),
    "started": time.strftime("%FT%TZ", time.gmtime()),
}


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
def scenario(request) -> Scenario:
    name = request.node.name.removeprefix("test_")
    doc = (request.node.function.__doc__ or name).strip().splitlines()[0]
    sc = Scenario(name, doc)
    yield sc
    report = getattr(request.node, "rep_call", None) or getattr(request.node, "rep_setup", None)
    outcome = "not run" if report is None or report.skipped else ("passed" if report.passed else "failed")
    if report is not None and report.failed and report.longreprtext:
        sc.notes.append("failure: " + report.longreprtext.strip().splitlines()[-1][:500])
    RESULTS.append(sc.write(outcome))


@pytest.fixture
def runner(qa_user: QaUser, image: dict, scenario: Scenario) -> Runner:
    return Runner(qa_user, image.ref, scenario)


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


def pytest_sessionfinish(session, exitstatus):
    if RESULTS:
        RUN_INFO["finished"] = time.strftime("%FT%TZ", time.gmtime())
        write_summary(RESULTS, RUN_INFO, Path(EVIDENCE_DIR))
