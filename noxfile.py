"""nox sessions for openclaw-nix: `nox` runs unit, lint, smoke and qa (both QA tiers: what CI runs).

Sessions run in the project venv that setup/bootstrap.sh made (venv backend "none"): the
dependencies are already pinned there, and the container sessions need that same interpreter
to drive the rootless QA user. Invoke as `.venv/bin/nox`.
"""

from __future__ import annotations

import sys

import nox

from pipeline.order import BUILD_CHAIN

nox.needs_version = ">=2024.4"
nox.options.default_venv_backend = "none"
nox.options.sessions = ["unit", "lint", "smoke", "qa"]
nox.options.error_on_missing_interpreters = True

PY = sys.executable


@nox.session
def unit(session: nox.Session) -> None:
    """pytest: entrypoint, template (real pinned openclaw), docs, parity builder, Nix offline checks."""
    session.run(PY, "-m", "pytest", "tests", "--junitxml=build/unit-junit.xml", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.run(PY, "-m", "ruff", "check", ".", *session.posargs)
    session.run(PY, "-m", "ruff", "format", "--check", ".")


@nox.session
def smoke(session: nox.Session) -> None:
    """The default doit chain (build, load, the smoke tier), then prove a rerun would do nothing."""
    session.run(PY, "-m", "doit", *session.posargs)
    session.run(PY, "-m", "pipeline.uptodate")


@nox.session
def qa(session: nox.Session) -> None:
    """The full QA tier (`doit qa`, after the default chain), then prove a rerun would do nothing."""
    session.run(PY, "-m", "doit", "qa", *session.posargs)
    session.run(PY, "-m", "pipeline.uptodate", "qa")


@nox.session(default=False)
def f1(session: nox.Session) -> None:
    """F1: clean-slate replay writing the evidence bundle to evidence/."""
    session.run(PY, "-m", "doit", "f1_replay", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (entrypoint, start vs native, size vs baseline, pipeline), each printing its ratios;
    figures go to evidence/bench/ and docs/performance.md's tables are regenerated from them."""
    session.run(PY, "-m", "doit", *BUILD_CHAIN)
    session.run(PY, "bench/host.py")
    session.run(PY, "bench/entry_overhead.py", "--json", "evidence/bench/entry_overhead.json")
    session.run(PY, "bench/start.py")
    session.run(PY, "bench/stop.py")
    session.run(PY, "bench/vs_official.py")
    session.run(PY, "bench/start_profile.py")
    session.run(PY, "bench/size.py")
    session.run(PY, "bench/largest_paths.py")
    session.run(PY, "bench/package_shares.py")
    session.run(PY, "bench/chain.py")
    session.run(PY, "bench/edit_loop.py")
    session.run(PY, "-m", "pipeline.docs")


@nox.session(default=False)
def repro(session: nox.Session) -> None:
    """Reproducibility: two parity builds from clean work trees must give identical digests."""
    session.run(PY, "-m", "pipeline.repro", *session.posargs)
