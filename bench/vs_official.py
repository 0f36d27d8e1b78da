#!/usr/bin/env python3
"""Our image against the official-style baseline (bench/baseline.py), interleaved in one run: first
start -> /healthz live, restart -> /healthz live, RSS of every container process 10 s after live,
`podman stop` time, and image size; medians of --runs rounds with the spread, and the ratios.

Same config on both sides: the image's template with the WhatsApp channel disabled (as bench/start.py
does), rendered once with the same values. Ours renders it through its entrypoint (OPENCLAW_NIX_TEMPLATE);
the baseline, which has no entrypoint, gets the rendered file mounted at /config/openclaw.json and
OPENCLAW_CONFIG_PATH / OPENCLAW_STATE_DIR / HOME (+ the same no-update, no-mDNS flags) as env. Both run
with the README's keep-id flags, fresh volumes each round, the port published on 127.0.0.1 and polled
from the host. RSS: `podman top NAME hpid` lists the container's processes as host pids; root reads
each one's /proc/PID/smaps_rollup (`podman stats` does not work on these hosts).

`--sides` picks what runs: `ours`, `official` and `ours-nofastpath` (the image without its ES resolve
fast path) by default; the others are levers measured on the same image by env or template overrides
only (see VARIANTS), for a lever run written to its own --json. (The levers adopted since, the compile
cache flush and the 2 MB semi-space, and the build-time compile cache measured and removed, are in
evidence/bench/vs_official_levers.json and vs_official_baked_cache_ab.json.) Every figure is
printed as a ratio to the official-style image with the machine's load, and the goals (GOALS) as met
or not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from baseline import ensure_baseline
from start import bench_template
from stats import summarise

from entry.openclaw_nix_entry import render, resolve_values
from harness.containers import TEST_TOKEN, Runner, Volumes, free_port, host_live
from harness.evidence import Scenario, write_json
from harness.podman import QaUser
from harness.resolve_record import without_preload
from image.contract import ESM_RESOLVE_FASTPATH, Contract
from image.paths import EVIDENCE
from image.record import ImageRecord
from pipeline.load import loaded_id
from plumbing.waiting import poll

CONTRACT = Contract.load()

SETTLE_S = 10
TIMEOUT_S = 180
# Goals, ours / official-style in the same run (image size in MB, absolute).
GOALS = {"first_live": 0.75, "restart_live": 0.7, "rss": 0.85, "stop": 0.5, "image_mb": 900}
# Bundled OpenClaw plugins that start with the gateway and can do nothing in this image as shipped:
# browser control with no browser binary and no remote browser configured.
IDLE_BUNDLED = ["browser"]

# What each lever side stands for (docs table); levers are env/template overrides on our image only.
LEVERS = {
    "ours-nocache": "no node compile cache at all (`NODE_DISABLE_COMPILE_CACHE=1`)",
    "ours-arena2": "glibc malloc arenas capped at 2 (`MALLOC_ARENA_MAX=2`)",
    "ours-idleplugins": "bundled plugins that can do nothing here turned off in the template "
    f"({', '.join(IDLE_BUNDLED)})",
    "ours-nofastpath": "the image before the ES resolve fast path: node re-parses a package's whole "
    '"exports" map for every module an import resolves (`--require=…/esm-resolve-fastpath.cjs` left out '
    "of NODE_OPTIONS)",
}
# the image's own NODE_OPTIONS without the ES resolve fast path: the image as it was before it
NO_FASTPATH_OPTIONS = without_preload(CONTRACT.env["NODE_OPTIONS"], ESM_RESOLVE_FASTPATH.name)
# side -> (image: "ours" | "official", extra podman run args).
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "ours": ("ours", []),
    "official": ("official", []),
    "ours-nocache": ("ours", ["-e", "NODE_DISABLE_COMPILE_CACHE=1"]),
    "ours-arena2": ("ours", ["-e", "MALLOC_ARENA_MAX=2"]),
    "ours-idleplugins": ("ours", []),  # its own template: see Sides
    "ours-nofastpath": ("ours", ["-e", f"NODE_OPTIONS={NO_FASTPATH_OPTIONS}"]),
}
DEFAULT_SIDES = ["ours", "official", "ours-nofastpath"]


def idle_plugins_off(template: str) -> str:
    """The bench template with IDLE_BUNDLED disabled in plugins.entries (what the lever would ship)."""
    marker = "    entries: {\n"
    assert marker in template, "template layout changed: update bench/vs_official.py"
    off = "".join(f"      {p}: {{ enabled: false }},\n" for p in IDLE_BUNDLED)
    return template.replace(marker, marker + off, 1)


def container_memory(user: QaUser, name: str) -> dict:
    """Sum of Rss and Pss (kB) over every process of the container, read from the host's /proc."""
    top = user.podman("top", name, "hpid", "comm")
    procs = []
    for line in top.stdout.splitlines()[1:]:
        parts = line.split(None, 1)
        if not parts or not parts[0].isdigit():
            continue
        fields = {}
        try:
            for row in Path(f"/proc/{parts[0]}/smaps_rollup").read_text().splitlines():
                key, _, rest = row.partition(":")
                if key in ("Rss", "Pss"):
                    fields[key] = int(rest.split()[0])
        except OSError:
            continue
        procs.append({"comm": parts[1].strip() if len(parts) > 1 else "?", **fields})
    return {
        "rss_mb": round(sum(p.get("Rss", 0) for p in procs) / 1024, 1),
        "pss_mb": round(sum(p.get("Pss", 0) for p in procs) / 1024, 1),
        "processes": procs,
    }


class Sides:
    """How each side is started: the image, its volumes and the flags that give it the same config."""

    def __init__(self, user: QaUser, ours: str, official: str, tmp: Path):
        self.user, self.refs, self.tmp = user, {"ours": ours, "official": official}, tmp
        self.template = tmp / "openclaw.json5"

    def template_of(self, side: str) -> Path:
        """The template a side renders: the lever's own where it has one (written beside the common one)."""
        own = self.tmp / f"{side}.json5"
        return own if own.exists() else self.template

    def prepare(self, side: str, index: int, port: int) -> tuple[Runner, str, Volumes, dict, list[str]]:
        """Fresh volumes and the run flags of one side (untimed)."""
        kind, extra = VARIANTS[side]
        vols = Volumes(self.user.home / "bench-volumes" / f"vs-{side}-{index}")
        self.user.run(["podman", "unshare", "rm", "-rf", str(vols.root)], check=True)
        runner = Runner(self.user, self.refs[kind], Scenario("bench-vs-official", "bench"))
        name = f"bench-vs-{side}"
        flags = ["-p", f"127.0.0.1:{port}:{CONTRACT.port}", *(a.format(tmp=self.tmp) for a in extra)]
        if kind == "ours":
            self.user.mkdirs(vols.state, vols.logs)
            env = {"OPENCLAW_NIX_TEMPLATE": "/bench/openclaw.json5"}
            flags += ["-v", f"{self.template_of(side)}:/bench/openclaw.json5:ro"]
        else:
            config_dir = vols.root / "config"
            self.user.mkdirs(vols.logs, config_dir, *(vols.state / d for d in ("home", ".openclaw", "workspace")))
            self.user.run(["cp", str(self.tmp / "openclaw.json"), str(config_dir / "openclaw.json")], check=True)
            env = {
                "OPENCLAW_CONFIG_PATH": "/config/openclaw.json",
                "OPENCLAW_STATE_DIR": "/state/.openclaw",
                "HOME": "/state/home",
                "OPENCLAW_NO_AUTO_UPDATE": "1",
                "OPENCLAW_DISABLE_BONJOUR": "1",
            }
            flags += ["-v", f"{config_dir}:/config"]
        return runner, name, vols, env, flags


def one_round(sides: Sides, side: str, index: int) -> dict:
    """Fresh volumes: start -> live, settle, memory, stop; start again on the same container -> live, ..."""
    user, port = sides.user, free_port()
    runner, name, vols, env, flags = sides.prepare(side, index, port)
    figures: dict = {}
    try:
        started = time.monotonic()  # from `podman run -d` on: volume preparation is not timed
        result = runner.start(name, volumes=vols, env=env, extra=flags)
        if not result.ok:
            raise SystemExit(f"{side}: container did not start: {result.stderr.strip()[-1500:]}")
        for attempt in ("first", "restart"):
            if attempt == "restart":
                started = time.monotonic()
                figures["restart_podman_start_s"] = round(user.podman("start", name, check=True).seconds, 2)
            poll(lambda: host_live(port), TIMEOUT_S, f"{side} {attempt} /healthz", interval=0.05)
            figures[f"{attempt}_live_s"] = round(time.monotonic() - started, 2)
            time.sleep(SETTLE_S)  # the figure is defined as memory 10 s after live
            mem = container_memory(user, name)
            figures[f"{attempt}_rss_mb"], figures[f"{attempt}_pss_mb"] = mem["rss_mb"], mem["pss_mb"]
            figures[f"{attempt}_processes"] = [p["comm"] for p in mem["processes"]]
            stop = user.podman("stop", "-t", "60", name, timeout=120)
            figures[f"{attempt}_stop_s"] = round(stop.seconds, 2)
            figures[f"{attempt}_exit"] = runner.exit_code(name)
        figures["load_1min"] = loadavg()[0]  # the machine's load as this round ended
        return figures
    finally:
        runner.remove(name)


GOAL_FIGURES = {
    "first_live": "first start -> /healthz live",
    "restart_live": "restart -> /healthz live",
    "rss": "RSS 10 s after live (all processes)",
    "stop": "podman stop",
}


def goals_met(ratios: dict[str, float], size_bytes: int | None) -> dict[str, dict]:
    """Each goal with our figure (a ratio to official-style; the image in MB) and whether it is met."""
    if not ratios or size_bytes is None:
        return {}
    values = {goal: ratios[label] for goal, label in GOAL_FIGURES.items()} | {"image_mb": round(size_bytes / 1e6)}
    return {goal: {"value": v, "goal": GOALS[goal], "met": v <= GOALS[goal]} for goal, v in values.items()}


def image_size(user: QaUser, ref: str) -> int:
    return int(user.podman("image", "inspect", ref, "--format", "{{.Size}}", check=True).stdout.strip())


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sides", default=",".join(DEFAULT_SIDES), help=f"comma-separated, of {list(VARIANTS)}")
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "vs_official.json")
    args = parser.parse_args()
    side_names = args.sides.split(",")
    unknown = set(side_names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown side(s) {sorted(unknown)}")
    user, image = QaUser(), ImageRecord.read()
    baseline = ensure_baseline(user)
    template_text = bench_template(CONTRACT)
    values, _ = resolve_values(CONTRACT.allowlist, {"OPENCLAW_GATEWAY_TOKEN": TEST_TOKEN})
    load_before = loadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        (tmp / "openclaw.json5").write_text(template_text)
        (tmp / "ours-idleplugins.json5").write_text(idle_plugins_off(template_text))
        (tmp / "openclaw.json").write_text(render(template_text, values))
        os.chmod(tmp / "openclaw.json", 0o644)
        sides = Sides(user, image.ref, baseline.ref, tmp)
        # untimed warm-up: the first keep-id run of a newly loaded image re-owns its layers (~10 s)
        for ref in {sides.refs[VARIANTS[s][0]] for s in side_names}:
            Runner(user, ref, Scenario("bench-vs-official", "bench")).run(["node", "--version"], timeout=300)
        rounds: dict[str, list[dict]] = {s: [] for s in side_names}
        for i in range(args.runs):
            order = side_names if i % 2 == 0 else side_names[::-1]  # interleaved, alternating who goes first
            for side in order:
                rounds[side].append(one_round(sides, side, i))
                r = rounds[side][-1]
                print(
                    f"round {i + 1} {side}: live {r['first_live_s']} s, restart {r['restart_live_s']} s, "
                    f"rss {r['first_rss_mb']} MB ({len(r['first_processes'])} procs), stop {r['first_stop_s']} s "
                    f"exit {r['first_exit']}/{r['restart_exit']}  [load {r['load_1min']}]",
                    flush=True,
                )
    load_after = loadavg()
    if loaded_id(user, image.ref) != image.image_id:  # rebuilt and reloaded under the bench
        raise SystemExit(f"{image.ref} changed during the run: measure again")
    med, spread = summarise(rounds)
    sizes = {s: image_size(user, sides.refs[VARIANTS[s][0]]) for s in side_names}
    ref_side = "official" if "official" in side_names else side_names[-1]
    figure_keys = {
        "first start -> /healthz live": "first_live_s",
        "restart -> /healthz live": "restart_live_s",
        "RSS 10 s after live (all processes)": "first_rss_mb",
        "podman stop": "first_stop_s",
    }
    ratios = {
        s: {label: round(med[s][k] / med[ref_side][k], 2) for label, k in figure_keys.items()}
        | {"image size": round(sizes[s] / sizes[ref_side], 2)}
        for s in side_names
        if s != ref_side
    }
    width = max(len(s) for s in side_names) + 2
    print(f"\nmedians of {args.runs} rounds [min-max]; ratio = side / {ref_side}; load {load_before} -> {load_after}")
    for label, k in figure_keys.items():
        unit = "MB" if k.endswith("_mb") else "s"
        cells = [f"{s} {med[s][k]} {unit} [{spread[s][k][0]}-{spread[s][k][1]}]" for s in side_names]
        print(f"{label:<38}" + " | ".join(f"{c:<{width + 24}}" for c in cells))
    print(f"{'image size':<38}" + " | ".join(f"{s} {sizes[s] / 1e6:.0f} MB" for s in side_names))
    for s, r in ratios.items():
        print(f"ratio {s}/{ref_side}: " + ", ".join(f"{label} {v}" for label, v in r.items()))
    if "ours" in ratios and ref_side == "official":
        print(f"goals (ours / official, load {load_before} -> {load_after} on {os.cpu_count()} cores):")
        for goal, row in goals_met(ratios["ours"], sizes["ours"]).items():
            print(f"  {goal:<13} {row['value']:>6} <= {row['goal']:<5} {'met' if row['met'] else 'NOT met'}")
    nonzero = {s: sum(r[k] != 0 for r in rs for k in ("first_exit", "restart_exit")) for s, rs in rounds.items()}
    write_json(
        args.json,
        {
            "runs": args.runs,
            "settle_s": SETTLE_S,
            "sides": side_names,
            "reference": ref_side,
            "images": {
                "ours": {"ref": image.ref, "image_id": image.image_id, "builder": image.builder},
                "official": {
                    "ref": baseline.ref,
                    "image_id": baseline.image_id,
                    "layers": baseline.to_json()["layers"],
                },
            },
            "variant_flags": {s: VARIANTS[s][1] for s in side_names},
            "levers": {s: LEVERS[s] for s in side_names if s in LEVERS},
            "load_avg": {
                "before": load_before,
                "after": load_after,
                "rounds_1min": sorted(r["load_1min"] for rs in rounds.values() for r in rs),
                "cpus": os.cpu_count(),
            },
            "median": med,
            "spread": spread,
            "image_size_bytes": sizes,
            "ratio": ratios,
            "non_zero_exits": nonzero,
            "goals": GOALS,
            "goals_met": goals_met(ratios.get("ours", {}) if ref_side == "official" else {}, sizes.get("ours")),
            "raw": rounds,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
