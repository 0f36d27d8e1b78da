#!/usr/bin/env python3
"""Start time: container start -> /healthz live and -> /readyz ready, against the same gateway started
natively on this host (same node binary, same openclaw install, same config, fresh state), measured
interleaved in one run; median of --runs each. Prints a table with the ratios and writes JSON.

Both sides use the image's template with the WhatsApp *channel* disabled (the plugin still loads): an
unlinked WhatsApp keeps /readyz false forever, which would leave nothing to measure.
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

from image.contract import Contract
from image.paths import EVIDENCE
from image.template_check import local_plugin_roots, openclaw_cli, render_sample
from qa.containers import TEST_TOKEN, Runner, Volumes
from qa.evidence import Scenario
from qa.podman import QaUser

POLL = 0.1
TIMEOUT = 180


def bench_template(contract: Contract) -> str:
    text = contract.template_path.read_text()
    marker = "    whatsapp: {\n      enabled: true,"
    assert marker in text, "template layout changed: update bench/start.py"
    return text.replace(marker, "    whatsapp: {\n      enabled: false,")


def container_once(user: QaUser, image: str, template: Path, index: int) -> tuple[float, float]:
    vols = Volumes(user.home / "bench-volumes" / f"run{index}")
    user.run(["podman", "unshare", "rm", "-rf", str(vols.root)], check=True)
    user.mkdirs(vols.state, vols.logs)
    runner = Runner(user, image, Scenario("bench", "bench"))
    name = f"bench-start-{index}"
    port = 18789
    probe = (
        f"while :; do t=$(date +%s.%N); if curl -fsS http://127.0.0.1:{port}/healthz >/dev/null 2>&1; "
        f"then echo live $t; break; fi; sleep {POLL}; done; while :; do t=$(date +%s.%N); "
        f"if curl -fsS http://127.0.0.1:{port}/readyz 2>/dev/null | grep -q '\"ready\":true'; then echo ready $t; "
        f"break; fi; sleep {POLL}; done"
    )
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
        out = runner.exec(name, probe, timeout=TIMEOUT).stdout.split()
        marks = dict(zip(out[::2], map(float, out[1::2]), strict=True))
        return marks["live"] - started, marks["ready"] - started
    finally:
        runner.remove(name)


def native_once(contract: Contract, config_text: str) -> tuple[float, float]:
    node, script = openclaw_cli()
    for image_path, local in local_plugin_roots(contract).items():
        config_text = config_text.replace(json.dumps(image_path), json.dumps(str(local)))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "openclaw.json")
        config.write_text(
            config_text.replace('"/state/workspace"', json.dumps(f"{tmp}/workspace")).replace(
                '"/logs/openclaw.log"', json.dumps(f"{tmp}/openclaw.log")
            )
        )
        Path(tmp, "workspace").mkdir()
        env = {
            "PATH": f"{node.parent}:/usr/bin:/bin",
            "HOME": tmp,
            "OPENCLAW_CONFIG_PATH": str(config),
            "OPENCLAW_STATE_DIR": f"{tmp}/state",
            **{
                k: v
                for k, v in contract.env.items()
                if "OPENCLAW_" in k and k not in ("OPENCLAW_CONFIG_PATH", "OPENCLAW_STATE_DIR")
            },
        }
        port = 18950
        started = time.time()
        proc = subprocess.Popen(
            [str(node), str(script), "gateway", "run", "--bind", "lan", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            live = wait_http(f"http://127.0.0.1:{port}/healthz", lambda body: True) - started
            ready = wait_http(f"http://127.0.0.1:{port}/readyz", lambda body: '"ready":true' in body) - started
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    return live, ready


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
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "start.json")
    args = parser.parse_args()
    contract = Contract.load()
    user = QaUser()
    image = json.loads((Path(__file__).resolve().parent.parent / "build" / "image.json").read_text())
    template_text = bench_template(contract)
    config_text = render_sample(contract, {"OPENCLAW_GATEWAY_TOKEN": TEST_TOKEN}).replace(
        "    whatsapp: {\n      enabled: true,", "    whatsapp: {\n      enabled: false,"
    )
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp, "openclaw.json5")
        template.write_text(template_text)
        os.chmod(tmp, 0o755)
        container, native = [], []
        for i in range(args.runs):  # interleaved: machine noise hits both sides alike
            container.append(container_once(user, image["ref"], template, i))
            native.append(native_once(contract, config_text))
            print(
                f"run {i + 1}: container live {container[-1][0]:.1f} s ready {container[-1][1]:.1f} s | "
                f"native live {native[-1][0]:.1f} s ready {native[-1][1]:.1f} s",
                flush=True,
            )
    med = {
        side: [round(statistics.median(x[k] for x in runs), 2) for k in (0, 1)]
        for side, runs in (("container", container), ("native", native))
    }
    figures = {
        "runs": args.runs,
        "builder": image.get("builder"),
        "image_id": image.get("image_id"),
        "median_s": {
            "container": {"live": med["container"][0], "ready": med["container"][1]},
            "native": {"live": med["native"][0], "ready": med["native"][1]},
        },
        "ratio": {
            "live": round(med["container"][0] / med["native"][0], 2),
            "ready": round(med["container"][1] / med["native"][1], 2),
        },
        "goal_ratio": 1.1,
        "raw": {"container": container, "native": native},
    }
    print(f"\n{'':<12}{'live s':>8}{'ready s':>9}")
    for side in ("container", "native"):
        print(f"{side:<12}{med[side][0]:>8.2f}{med[side][1]:>9.2f}")
    print(f"{'ratio':<12}{figures['ratio']['live']:>8.2f}{figures['ratio']['ready']:>9.2f}   (goal <= 1.1)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
