"""Evaluate the kubenix module (nix/kubenix.nix) with real kubenix and nixpkgs.lib, offline, to JSON.

nix-instantiate runs nix/kubenix-eval.nix (lib.evalModules with kubenix's k8s module, no nixpkgs) over
the source trees flake.lock pins, exported from their local copies (image.nix.sources), and returns
`config.kubernetes.generated.items`: the objects a kubenix user deploys. Option settings go in as JSON
(a module that is an attrset), so callers write them as plain dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from image.nix import sources
from image.nix.check import require_nix
from image.paths import REPO
from plumbing import commands

EXPR = """{ flake, lib, kubenix, options }:
(import (flake + "/nix/kubenix-eval.nix") {
  lib = import (lib + "/lib");
  inherit kubenix;
  modules = [ { openclaw-nix = builtins.fromJSON options; } ];
}).items"""


@dataclass(frozen=True)
class Evaluation:
    items: list[dict]
    seconds: float
    argv: list[str]


class EvaluationFailed(RuntimeError):
    pass


def evaluate(options: dict | None = None, flake_dir: Path = REPO) -> Evaluation:
    """The module's objects with `options` under `openclaw-nix` (None: the defaults).

    Raises NixUnavailable / SourceMissing when it cannot run, EvaluationFailed with Nix's error when
    the module does not evaluate (a type error, a failed assertion).
    """
    require_nix()
    argv = [
        "nix-instantiate",
        "--eval",
        "--strict",
        "--json",
        "--expr",
        EXPR,
        "--argstr",
        "flake",
        str(flake_dir),
        "--argstr",
        "lib",
        str(sources.tree("nixpkgs-lib", flake_dir)),
        "--argstr",
        "kubenix",
        str(sources.tree("kubenix", flake_dir)),
        "--argstr",
        "options",
        json.dumps(options or {}),
    ]
    result = commands.run(argv, timeout=300)
    if result.returncode != 0:  # nix may print partial output before failing: trust the exit code
        start = result.stderr.find("error:")
        raise EvaluationFailed(result.stderr[max(start, 0) :].strip()[:1500])
    return Evaluation(json.loads(result.stdout), result.seconds, [str(a) for a in argv])
