"""A scenario that cannot run here is "not run" with its reason, never passed.

With OPENCLAW_NIX_REQUIRE_CONTAINER=1 (nox -s smoke / f1, CI) it is an error instead, so a machine
without podman, the QA user, a homeserver or a browser can never turn the suite green by skipping.
"""

from __future__ import annotations

import os

import pytest

from harness.synapse import SYNAPSE_VENV, SYNAPSE_VERSION

REQUIRED = os.environ.get("OPENCLAW_NIX_REQUIRE_CONTAINER") == "1"


def cannot_run(reason: str):
    if REQUIRED:
        pytest.fail(f"container scenarios required but cannot run: {reason}", pytrace=False)
    pytest.skip(f"not run: {reason}")


def require_matrix_pod() -> None:
    """The Matrix scenarios' own needs: root (they enter the pod's network namespace) and Synapse."""
    if os.geteuid() != 0:
        cannot_run("the Matrix scenarios enter the pod's network namespace from root (run the suite as root)")
    if not (SYNAPSE_VENV / "bin" / "python").exists():
        cannot_run(f"Synapse {SYNAPSE_VERSION} is not installed in {SYNAPSE_VENV} (run setup/bootstrap.sh)")
