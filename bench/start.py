#!/usr/bin/env python3
"""Start time: container start -> /healthz live and -> /readyz ready, against the same gateway started
natively on this host (same node binary, same openclaw install, same config, fresh state), measured
interleaved in one run; median of --runs each. Prints a table with the ratios and writes JSON.

Both sides use the image's template with the WhatsApp *channel* disabled (the plugin still loads): an
unlinked WhatsApp keeps /readyz false forever, which would leave nothing to measure. Each run is a cold
start (fresh state and node compile cache) and then a warm restart on the same state: OpenClaw enables
node's compile cache, which the image keeps under /state (NODE_COMPILE_CACHE), the host run in its
temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from entry.openclaw_nix_entry import render, resolve_values
from harness.containers import TEST_TOKEN, Runner, Volumes
from harness.evidence import Scenario, write_json
from harness.podman import QaUser
from image.contract import Contract
from image.paths import EVIDENCE
from image.record import ImageRecord
from pipeline.template_check import host_env, openclaw_cli, with_local_plugins
from plumbing import commands

POLL = 0.1
TIMEOUT = 180


def bench_template(contract: Contract) -> str:
    text = contract.template_path.read_text()
    marker = "    whatsapp: {\n      enabled: true,"
    assert marker in text, "template layout changed: update bench/start.py"
    return text.replace(marker, "    whatsapp: {\n      enabled: false,")


PORT = Contract.load().port
PROBE = (
    f"while :; do t=$(date +%s.%N); if curl -fsS http://127.0.0.1:{PORT}/healthz >/dev/null 2>&1; "
    f"then echo live $t; break; fi; sleep {POLL}; done; while :; do t=$(date +%s.%N); "
    f"if curl -fsS http://127.0.0.1:{PORT}/readyz 2>/dev/null | grep -q '\"ready\":true'; then echo ready $t; "
    f"break; fi; sleep {POLL}; done"
)


def container_once(user: QaUser, image: str, template: Path, index: int) -> list[float]:
    """[cold live, cold ready, warm live, warm ready]: fresh volumes, then a restart on the same ones."""
    vols = Volumes(user.home / "bench-volumes" / f"run{index}")
    user.run(["podman", "unshare", "rm", "-rf", str(vols.root)], check=True)
    user.mkdirs(vols.state, vols.logs)
    runner = Runner(user, image, Scenario("bench", "bench"))
    name = f"bench-start-{index}"
    times: list[float] = []
    try:
        started = time.time()
        run = runner.start(
            name,
            volumes=vols,
            env={"OPENCLAW_NIX_TEMPLATE": "/bench/openclaw.json5"},
            extra=["--network=none", "-v", f"{template}:/bench/openclaw.json5:ro"],
        )
        if not run.ok:
            raise SystemExit(f"container did not start: {run.stderr}")
        for attempt in ("cold", "warm"):
            if attempt == "warm":
                runner.stop(name, grace=30)
                started = time.time()
                user.podman("start", name, check=True)
            out = runner.exec(name, PROBE, timeout=TIMEOUT).stdout.split()
            marks = dict(zip(out[::2], map(float, out[1::2]), strict=True))
            times += [marks["live"] - started, marks["ready"] - started]
        return times
    finally:
        runner.remove(name)


def native_once(contract: Contract, config_text: str) -> list[float]:
    """The same gateway on the host: fresh state and compile cache, then a restart on the same ones."""
    node, script = openclaw_cli()
    config_text = with_local_plugins(config_text, contract)
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "openclaw.json")
        config.write_text(
            config_text.replace(json.dumps(contract.workspace), json.dumps(f"{tmp}/workspace")).replace(
                json.dumps(contract.log_file), json.dumps(f"{tmp}/openclaw.log")
            )
        )
        Path(tmp, "workspace").mkdir()
        image_settings = {
            k: v
            for k, v in contract.env.items()
            if k.startswith("OPENCLAW_") and k not in ("OPENCLAW_CONFIG_PATH", "OPENCLAW_STATE_DIR")
        }
        env = host_env(node, tmp, config, NODE_COMPILE_CACHE=f"{tmp}/node-compile-cache", **image_settings)
        port = 18950
        for _attempt in ("cold", "warm"):
            started = time.time()
            proc = commands.start(
                [node, script, "gateway", "run", "--bind", "lan", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                times.append(wait_http(f"http://127.0.0.1:{port}/healthz", lambda body: True) - started)
                times.append(
                    wait_http(f"http://127.0.0.1:{port}/readyz", lambda body: '"ready":true' in body) - started
                )
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
    return times


def fmt(times: list[float]) -> str:
    return "cold live {:.1f} ready {:.1f}, warm live {:.1f} ready {:.1f}".format(*times)


def wait_http(url: str, ok) -> float:
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if ok(resp.read().decode()):
                    return time.time()
        except OSError:
            pass
        time.sleep(POLL)
    raise SystemExit(f"{url} not answering after {TIMEOUT} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "start.json")
    args = parser.parse_args()
    contract = Contract.load()
    user = QaUser()
    image = ImageRecord.read()
    template_text = bench_template(contract)
    # the native side gets exactly what the entrypoint renders from the same bench template
    values, _ = resolve_values(contract.allowlist, {"OPENCLAW_GATEWAY_TOKEN": TEST_TOKEN})
    config_text = render(template_text, values)
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp, "openclaw.json5")
        template.write_text(template_text)
        os.chmod(tmp, 0o755)
        container, native = [], []
        for i in range(args.runs):  # interleaved: machine noise hits both sides alike
            container.append(container_once(user, image.ref, template, i))
            native.append(native_once(contract, config_text))
            print(f"run {i + 1}: container {fmt(container[-1])} | native {fmt(native[-1])}", flush=True)
    keys = ("cold_live", "cold_ready", "warm_live", "warm_ready")
    med = {
        side: {k: round(statistics.median(r[j] for r in runs), 2) for j, k in enumerate(keys)}
        for side, runs in (("container", container), ("native", native))
    }
    figures = {
        "runs": args.runs,
        "builder": image.builder,
        "image_id": image.image_id,
        "median_s": med,
        "ratio": {k: round(med["container"][k] / med["native"][k], 2) for k in keys},
        "goal_ratio": 1.1,
        "raw": {"container": container, "native": native},
    }
    print(f"\n{'':<12}" + "".join(f"{k:>12}" for k in keys))
    for side in ("container", "native"):
        print(f"{side:<12}" + "".join(f"{med[side][k]:>12.2f}" for k in keys))
    print(f"{'ratio':<12}" + "".join(f"{figures['ratio'][k]:>12.2f}" for k in keys) + "   (goal <= 1.1)")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
