#!/usr/bin/env python3
"""What a start of the image spends its time and memory on: the gateway's own CPU profile and a heap
snapshot, and its memory map, to name what dominates before choosing a lever.

One start of our image with the bench template (bench/start.py), fresh volumes, keep-id:
- CPU: node's `--cpu-prof`, added to the image's own NODE_OPTIONS (its preloads and V8 flags stay, so this
  is the image as built; not a V8 flag, so node's compile cache tag stays the same),
  written as node exits after `podman stop`. Self time is summed per package (node_modules/<name>, the
  openclaw dist, a plugin, node's own internals) and per function; GC and idle are named as such.
- Heap: `--heapsnapshot-signal=SIGUSR2`, sent 10 s after live; self sizes summed per object type and
  constructor name.
- Memory map: the gateway's /proc/PID/smaps 10 s after live, Rss summed per mapping (anonymous memory,
  node's binary, each shared library), read by root from the host.
Writes evidence/bench/start_profile.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from start import bench_template

from harness.containers import Runner, Volumes, free_port, host_live
from harness.evidence import Scenario, write_json
from harness.podman import QaUser
from image.contract import Contract
from image.paths import EVIDENCE
from image.record import ImageRecord
from plumbing.waiting import poll

CONTRACT = Contract.load()
SETTLE_S = 10
TOP = 15
PROF_DIR = CONTRACT.volumes["logs"]["path"] + "/profile"


def package_of(url: str) -> str:
    """A profile node's script URL as the package it belongs to."""
    if not url:
        return "(native / V8)"
    if url.startswith("node:"):
        return "node internals"
    path = url.removeprefix("file://")
    if "/node_modules/" in path:
        rest = path.rsplit("/node_modules/", 1)[1].split("/")
        owner = path.split("/node_modules/")[1].split("/")[0] if path.count("/node_modules/") > 1 else ""
        name = "/".join(rest[:2]) if rest[0].startswith("@") else rest[0]
        return f"{name} (dependency of {owner})" if owner and owner != name else name
    if path.startswith(CONTRACT.plugins_dir):
        return "plugin " + path.removeprefix(CONTRACT.plugins_dir + "/").split("/")[0]
    return path


def cpu_summary(profile: dict, until_ms: float) -> dict:
    """Self time (ms) per package and per function, from a .cpuprofile's samples in its first `until_ms`
    (node's start to /healthz live: not the heap snapshot and the stop that follow)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    deltas = profile.get("timeDeltas", [])
    by_package: Counter = Counter()
    by_function: Counter = Counter()
    elapsed = 0.0
    for sample, delta in zip(profile.get("samples", []), deltas, strict=False):
        elapsed += delta / 1000
        if elapsed > until_ms:
            break
        frame = nodes[sample]["callFrame"]
        name = frame.get("functionName") or "(anonymous)"
        if name in ("(garbage collector)", "(idle)", "(program)", "(root)"):
            package = name
        else:
            package = package_of(frame.get("url", ""))
        by_package[package] += delta / 1000
        by_function[f"{name} {frame.get('url', '').rsplit('/', 1)[-1]}:{frame.get('lineNumber', 0) + 1}"] += (
            delta / 1000
        )
    return {
        "profiled_ms": round(min(elapsed, until_ms)),
        "by_package_ms": {k: round(v) for k, v in by_package.most_common(TOP)},
        "by_function_ms": {k: round(v) for k, v in by_function.most_common(TOP)},
    }


def heap_summary(snapshot: dict) -> dict:
    """Self size (MB) per node type and per constructor/name, from a .heapsnapshot."""
    meta = snapshot["snapshot"]["meta"]
    fields, types = meta["node_fields"], meta["node_types"][0]
    width = len(fields)
    i_type, i_name, i_size = fields.index("type"), fields.index("name"), fields.index("self_size")
    strings, nodes = snapshot["strings"], snapshot["nodes"]
    by_type: Counter = Counter()
    by_name: Counter = Counter()
    for at in range(0, len(nodes), width):
        kind, size = types[nodes[at + i_type]], nodes[at + i_size]
        by_type[kind] += size
        if kind in ("object", "closure", "native", "code"):
            by_name[f"{kind} {strings[nodes[at + i_name]][:60]}"] += size
    mb = lambda n: round(n / 1e6, 1)  # noqa: E731
    return {
        "total_mb": mb(sum(by_type.values())),
        "by_type_mb": {k: mb(v) for k, v in by_type.most_common()},
        "by_name_mb": {k: mb(v) for k, v in by_name.most_common(TOP)},
    }


def smaps_summary(pid: str) -> dict:
    """Rss (MB) per mapping name of one process; anonymous mappings together."""
    rss: Counter = Counter()
    current = "?"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            current = head[5] if len(head) > 5 else "(anonymous)"
        elif line.startswith("Rss:"):
            rss[current] += int(head[1])
    return {k: round(v / 1024, 1) for k, v in rss.most_common(TOP)}


def gateway_pid(user: QaUser, name: str) -> str:
    """The host pid of the container's gateway: the entrypoint exec'd into node, which names itself
    `openclaw`; the one process besides the init."""
    top = user.podman("top", name, "hpid", "comm", check=True).stdout.splitlines()[1:]
    return next(line.split()[0] for line in top if line.split()[1:] != ["tini"])


def newest(folder: Path, suffix: str) -> Path:
    found = sorted(folder.glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"no {suffix} written in {folder}")
    return found[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "start_profile.json")
    args = parser.parse_args()
    user, image = QaUser(), ImageRecord.read()
    vols = Volumes(user.home / "bench-volumes" / "start-profile")
    user.run(["podman", "unshare", "rm", "-rf", str(vols.root)], check=True)
    user.mkdirs(vols.state, vols.logs, vols.logs / "profile")
    tmp = Path(tempfile.mkdtemp(prefix="start-profile-"))
    tmp.chmod(0o755)
    template = tmp / "openclaw.json5"
    template.write_text(bench_template(CONTRACT))
    template.chmod(0o644)
    runner = Runner(user, image.ref, Scenario("bench-start-profile", "bench"))
    name, port = "bench-start-profile", free_port()
    profiling = f"--cpu-prof --cpu-prof-dir={PROF_DIR} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir={PROF_DIR}"
    node_options = f"{CONTRACT.env['NODE_OPTIONS']} {profiling}"
    env = {"OPENCLAW_NIX_TEMPLATE": "/bench/openclaw.json5", "NODE_OPTIONS": node_options}
    flags = ["-p", f"127.0.0.1:{port}:{CONTRACT.port}", "-v", f"{template}:/bench/openclaw.json5:ro"]
    try:
        started = time.monotonic()
        runner.start(name, volumes=vols, env=env, extra=flags).check()
        poll(lambda: host_live(port), 180, "/healthz", interval=0.05)
        live_s = round(time.monotonic() - started, 2)
        time.sleep(SETTLE_S)
        pid = gateway_pid(user, name)
        smaps = smaps_summary(pid)
        runner.kill(name, "USR2").check()
        poll(lambda: list((vols.logs / "profile").glob("*.heapsnapshot")), 120, "the heap snapshot", interval=0.5)
        snapshot_path = newest(vols.logs / "profile", ".heapsnapshot")
        poll(lambda: snapshot_path.stat().st_size > 0 and _complete(snapshot_path), 120, "a complete heap snapshot")
        user.podman("stop", "-t", "60", name, timeout=120)
    finally:
        runner.remove(name)
        shutil.rmtree(tmp)
    cpu = cpu_summary(json.loads(newest(vols.logs / "profile", ".cpuprofile").read_text()), live_s * 1000)
    heap = heap_summary(json.loads(snapshot_path.read_text()))
    result = {"image": image.ref, "image_id": image.image_id, "live_s": live_s, "cpu": cpu, "heap": heap}
    result["smaps_rss_mb"] = smaps
    write_json(args.json, result)
    print(f"live after {live_s} s (profiled run); CPU self time per package (ms, of {cpu['profiled_ms']}):")
    for k, v in cpu["by_package_ms"].items():
        print(f"  {v:>7}  {k}")
    print(f"heap snapshot {heap['total_mb']} MB by type: {heap['by_type_mb']}")
    print(f"RSS by mapping (MB): {smaps}")
    return 0


def _complete(path: Path) -> bool:
    """A heap snapshot is written in one go and ends with the closing brace of its JSON."""
    with path.open("rb") as fh:
        fh.seek(-2, 2)
        return fh.read().strip().endswith(b"}")


if __name__ == "__main__":
    sys.exit(main())
