#!/usr/bin/env python3
"""Does the doit pipeline really skip stale work? Wall times measured side by side in one run.

For the build chain (pin template entrypoint image load; the QA scenarios are tests, not build): a run
with nothing changed, then after touching only the template, only the entrypoint, only the contract
(each touch is a comment line, reverted afterwards), and a full clean build (build outputs and work
trees removed, downloads kept). For each: which tasks ran, seconds, ratio to the clean build, and for
the image: how many layers and bytes changed.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

from harness.evidence import write_json
from image.contract import CONTRACT_PATH, ENTRY_PATH, Contract
from image.paths import BUILD, EVIDENCE, PINS, REPO, WORK
from image.record import CURRENT_IMAGE, ImageRecord
from pipeline.order import BUILD_CHAIN as CHAIN
from plumbing import commands

TOUCHES = {
    "template": (Contract.load().template_path, "\n// bench touch\n"),
    "entrypoint": (ENTRY_PATH, "\n# bench touch\n"),
    "contract": (CONTRACT_PATH, "\n# bench touch\n"),
}


def run_chain(*tasks: str, cwd: Path = REPO) -> tuple[float, list[str]]:
    """Time one `doit` run of `tasks` (the build chain by default) in checkout `cwd`; the tasks it ran."""
    tasks = tasks or CHAIN
    started = time.monotonic()
    proc = commands.run([sys.executable, "-m", "doit", *tasks], cwd=cwd, timeout=None)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cwd}: doit {' '.join(tasks)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    ran = [line[3:].strip() for line in proc.stdout.splitlines() if line.startswith(".  ")]
    return round(seconds, 2), ran


def layer_digests() -> dict[str, dict]:
    return {layer.name: vars(layer) for layer in ImageRecord.read().layers}


def changed_layers(before: dict, after: dict) -> dict:
    changed = [n for n in after if before.get(n, {}).get("diff_id") != after[n]["diff_id"]]
    return {"layers": changed, "bytes": sum(after[n]["size"] for n in changed)}


def touched(name: str) -> dict:
    path, line = TOUCHES[name]
    original = path.read_text()
    before = layer_digests()
    try:
        path.write_text(original + line)
        seconds, ran = run_chain()
        rebuild = changed_layers(before, layer_digests())
    finally:
        path.write_text(original)
    revert_seconds, _ = run_chain()  # back to the committed state (not part of the measure)
    return {"seconds": seconds, "ran": ran, "image_change": rebuild, "revert_seconds": revert_seconds}


def clean_build() -> dict:
    for path in (BUILD / "parity-layers", CURRENT_IMAGE, PINS):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    shutil.rmtree(WORK, ignore_errors=True)
    commands.run([sys.executable, "-m", "doit", "forget", *CHAIN], cwd=REPO, check=True)
    seconds, ran = run_chain()
    return {"seconds": seconds, "ran": ran}


def main() -> int:
    # a SIGTERM must still run the `finally` that restores a touched file
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "pipeline.json")
    args = parser.parse_args()
    if commands.run(["git", "status", "--porcelain", "--", *(p for p, _ in TOUCHES.values())], cwd=REPO).stdout.strip():
        raise SystemExit("commit or stash changes to the template, entrypoint and contract first")
    run_chain()  # bring everything up to date
    nothing = [run_chain() for _ in range(3)]
    results = {"nothing_changed": {"seconds": statistics.median(s for s, _ in nothing), "ran": nothing[-1][1]}}
    for name in TOUCHES:
        print(f"[pipeline] touching only the {name} ...", flush=True)
        results[f"{name}_only"] = touched(name)
    print("[pipeline] full clean build ...", flush=True)
    results["clean_build"] = clean_build()
    full = results["clean_build"]["seconds"]
    for result in results.values():
        result["ratio_to_clean"] = round(result["seconds"] / full, 3)
    print(f"\n{'case':<18}{'s':>8}{'ratio':>8}  tasks that ran")
    for case, result in results.items():
        ran = ", ".join(result["ran"]) or "(none)"
        print(f"{case:<18}{result['seconds']:>8.2f}{result['ratio_to_clean']:>8.3f}  {ran}")
        if "image_change" in result:
            change = result["image_change"]
            print(
                f"{'':<34}image: {len(change['layers'])} layer(s) changed {change['layers']}, "
                f"{change['bytes'] / 1e3:.0f} kB"
            )
    print(f"goal: nothing changed < 1 s -> {results['nothing_changed']['seconds']:.2f} s")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
