"""The `cache` layer: node's compile cache of the gateway's modules, made by starting the gateway once.

Why: about 4.5 s of a start is node compiling OpenClaw's modules. node can keep the compiled code
(NODE_COMPILE_CACHE); made here, at build time, every start of the image reads it instead of compiling,
as any uid (the entrypoint links node's per-uid directory name to it) and without writing at exit.

node keys each entry by the module's absolute path, so the gateway must run from the paths it has in
the image: the node, openclaw and plugins layers are unpacked into a scratch tree and bind-mounted at
/usr/local and /opt/openclaw in a private mount namespace (`unshare --mount`: nothing changes outside
it). The gateway runs with the image's env (V8 flags in it change node's cache tag), the shared build
config image/compile-cache.json5, its /state paths in a scratch dir, on a free loopback port; it is
stopped with SIGTERM once ready, and node writes the cache as it exits.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from image.contract import COMPILE_CACHE_CONFIG, NODE_PRELOADS, Contract
from plumbing import commands

READY_LINE = b'"gateway ready"'  # the gateway subsystem's JSON log line once every channel started
START_DEADLINE_S = 240
READY_DEADLINE_S = 90
AFTER_READY_S = 3  # modules some plugins load just after "ready" (measured: none later on an idle gateway)
STOP_DEADLINE_S = 120
TAG = re.compile(r"^v[0-9.]+-[^-]+-[0-9a-f]+-[0-9]+$")  # node's cache sub-directory (entry/ NODE_CACHE_TAG)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def build_env(contract: Contract, scratch: Path) -> dict[str, str]:
    """The image's env with its /state, /config and app_dir paths moved into `scratch` and node's cache at
    the contract's compile_cache path: the same V8 flags, hence the same cache tag, as at run time."""
    state = contract.volumes["state"]["path"]

    def moved(value: str) -> str:
        return ":".join(
            str(scratch / p.lstrip("/")) if p == state or p.startswith(state + "/") else p for p in value.split(":")
        )

    app = scratch / "app"  # what the env names in app_dir (NODE_OPTIONS' preload): not in these layers
    app.mkdir(parents=True, exist_ok=True)
    for preload in NODE_PRELOADS:
        shutil.copy2(preload, app / preload.name)
    env = {name: moved(value).replace(contract.app_dir, str(app)) for name, value in contract.env.items()}
    env |= {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "OPENCLAW_CONFIG_PATH": str(scratch / "config" / "openclaw.json"),
        "NODE_COMPILE_CACHE": contract.compile_cache,
    }
    return env


def build_config(contract: Contract, scratch: Path) -> str:
    """image/compile-cache.json5 with its two paths filled in here: OpenClaw reads `logging` before it
    substitutes ${NAME}, so the file must already hold them."""
    text = COMPILE_CACHE_CONFIG.read_text()
    return text.replace("${OPENCLAW_CACHE_BUILD_DIR}", str(scratch)).replace(
        "${OPENCLAW_CACHE_BUILD_PLUGINS}", contract.plugins_dir
    )


def namespace_argv(tree: Path, contract: Contract, command: list[str]) -> list[str]:
    """`command` in a private mount namespace where /usr/local and the plugins' parent are `tree`'s."""
    opt = Path(contract.plugins_dir).parent  # /opt/openclaw: plugins and the cache beside them
    script = (
        'set -e; mount --bind "$1/usr/local" /usr/local; '
        f'mount -t tmpfs -o mode=0755 tmpfs {opt.parent}; mkdir -p {opt}; mount --bind "$1{opt}" {opt}; '
        'shift; exec "$@"'
    )
    root_map = [] if os.geteuid() == 0 else ["--map-root-user"]
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        *root_map,
        "/bin/sh",
        "-c",
        script,
        "sh",
        str(tree),
        *command,
    ]


def start_and_stop(argv: list[str], env: dict[str, str], port: int, log: Path) -> float:
    """Start the gateway, wait for live and its ready line, stop it with SIGTERM; the run's seconds."""
    started = time.monotonic()
    output = (log.parent / "gateway.out").open("wb")
    proc = commands.start(argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = started + START_DEADLINE_S
        while not live(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"[cache] the gateway did not come up (exit {proc.poll()}): {tail(log.parent)}")
            time.sleep(0.2)
        deadline = time.monotonic() + READY_DEADLINE_S
        while not (log.exists() and READY_LINE in log.read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(AFTER_READY_S)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_DEADLINE_S)
        if code != 0:
            raise SystemExit(f"[cache] the gateway exited {code} after SIGTERM: {tail(log.parent)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output.close()
    return round(time.monotonic() - started, 1)


def tail(scratch: Path) -> str:
    out = scratch / "gateway.out"
    return out.read_text(errors="replace")[-1500:] if out.exists() else "(no output)"


def bake(layer_tars: list[Path], root: Path, scratch: Path, contract: Contract) -> Path:
    """Unpack `layer_tars`, run the gateway once from them, and move node's cache to root/compile_cache.
    Returns the cache directory (its one tag sub-directory, readable by every uid). `contract` is the
    build's own (a release's pin differs; its env is the image's)."""
    tree = scratch / "tree"
    tree.mkdir(parents=True)
    for tar in layer_tars:
        commands.run(["tar", "-xf", tar, "-C", tree], check=True)
    cache = tree / contract.compile_cache.lstrip("/")
    cache.mkdir(parents=True)
    run_dir = scratch / "run"
    (run_dir / "config").mkdir(parents=True)
    (run_dir / "config" / "openclaw.json").write_text(build_config(contract, run_dir))
    port = free_port()
    command = ["openclaw", "gateway", "run", "--bind", "loopback", "--port", str(port)]
    argv = namespace_argv(tree, contract, command)
    seconds = start_and_stop(argv, build_env(contract, run_dir), port, run_dir / "openclaw.log")
    tags = [p for p in cache.iterdir() if TAG.match(p.name)]
    if len(tags) != 1 or not any(tags[0].iterdir()):
        found = sorted(os.listdir(cache))
        raise SystemExit(f"[cache] expected one filled node cache directory in {cache}, found {found}")
    dest = root / contract.compile_cache.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(cache, dest)
    for path in [dest, *dest.rglob("*")]:  # node writes 0600/0700: every uid must read it
        path.chmod(0o755 if path.is_dir() else 0o644)
    files = list((dest / tags[0].name).iterdir())
    size = sum(f.stat().st_size for f in files)
    print(f"[cache] {tags[0].name}: {len(files)} modules, {size / 1e6:.1f} MB, gateway run {seconds} s", flush=True)
    shutil.rmtree(tree)
    return dest
