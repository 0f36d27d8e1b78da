"""Offline checks of the Nix flake: everything about it that can be proven without nixpkgs.

The flake is evaluated against two stub flakes (tests/nix/) that stand in for nixpkgs and
nix-openclaw: their dockerTools.streamLayeredImage hands back its arguments, so the checks see
exactly what flake.nix would pass to the real nixpkgs. `problems()` returns what is wrong (empty
list: all good); without `nix` the caller must report "not run", never "pass".
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from image.contract import Contract
from image.nix_lock import NIX, nix_openclaw_node, root_inputs
from image.paths import REPO

STUBS = REPO / "tests" / "nix"
ATTR = "packages.x86_64-linux.openclaw-nix-image"


class NixUnavailable(RuntimeError):
    pass


def require_nix() -> None:
    if shutil.which("nix") is None or shutil.which("nix-instantiate") is None:
        raise NixUnavailable("nix is not installed (setup/bootstrap.sh installs Debian's nix-bin)")


def flake_ref(flake_dir: Path) -> str:
    """git+file for a checkout (only tracked files, fast), path: for a plain directory."""
    return str(flake_dir) if (flake_dir / ".git").exists() else f"path:{flake_dir}"


def overrides() -> list[str]:
    return [
        "--no-write-lock-file",
        "--override-input",
        "nixpkgs",
        f"path:{STUBS / 'stub-nixpkgs'}",
        "--override-input",
        "nix-openclaw",
        f"path:{STUBS / 'stub-nix-openclaw'}",
    ]


def nix_eval(flake_dir: Path, attr: str, apply: str | None = None) -> object:
    cmd = [*NIX, "eval", "--json", f"{flake_ref(flake_dir)}#{ATTR}{attr}", *overrides()]
    if apply:
        cmd += ["--apply", apply]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:  # nix may print partial JSON before failing: trust the exit code
        raise RuntimeError(f"nix eval {attr} failed: {proc.stderr.strip()[-1200:]}")
    return json.loads(proc.stdout)


def parse_problems(flake_dir: Path) -> list[str]:
    problems = []
    for path in sorted(flake_dir.glob("**/*.nix")):
        if any(part in {".venv", "build", ".nox", "node_modules"} for part in path.relative_to(flake_dir).parts):
            continue
        proc = subprocess.run(["nix-instantiate", "--parse", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            problems.append(f"{path.relative_to(flake_dir)} does not parse: {proc.stderr.strip()[-300:]}")
    return problems


def flake_check_problems(flake_dir: Path) -> list[str]:
    proc = subprocess.run(
        [*NIX, "flake", "check", "--no-build", flake_ref(flake_dir), *overrides()],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return [] if proc.returncode == 0 else [f"nix flake check --no-build failed: {proc.stderr.strip()[-600:]}"]


def config_problems(flake_dir: Path, contract: Contract) -> list[str]:
    try:
        config = nix_eval(flake_dir, ".passthru.imageConfig")
        args = nix_eval(flake_dir, ".streamArgs", "a: { inherit (a) name tag extraCommands; }")
        passthru = nix_eval(flake_dir, ".passthru", "p: { inherit (p) contentNames toolchain pluginRoots; }")
        scripts = nix_eval(flake_dir, ".streamArgs.contents", 'cs: map (c: c.buildScript or "") cs')
    except RuntimeError as err:
        return [str(err)]
    problems = []

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    expect(config.get("Env") == contract.env_list, f"Env {config.get('Env')} != contract {contract.env_list}")
    expect("User" not in config, f"image config sets User={config.get('User')!r}: it must not")
    expect(config.get("ExposedPorts") == contract.exposed_ports, f"ExposedPorts {config.get('ExposedPorts')}")
    expect(config.get("Entrypoint") == contract.entrypoint, f"Entrypoint {config.get('Entrypoint')}")
    expect(config.get("Cmd") == contract.cmd, f"Cmd {config.get('Cmd')}")
    labels = config.get("Labels", {})
    expect(labels.get("io.openclaw-nix.builder") == "nix", "label io.openclaw-nix.builder != nix")
    expect(labels.get("org.opencontainers.image.version") == contract.openclaw_version, "version label wrong")
    expect(f"{args['name']}:{args['tag']}" == contract.image_ref, f"name:tag {args['name']}:{args['tag']}")
    names = set(passthru["contentNames"])
    tools = passthru["toolchain"]
    expect(sorted(tools) == sorted(t.name for t in contract.toolchain), f"toolchain {sorted(tools)}")
    expect(all(pkg in names for pkg in tools.values()), f"toolchain packages missing from contents: {tools}")
    roots = passthru["pluginRoots"]
    expect(sorted(roots) == sorted(contract.plugin_path(p) for p in contract.plugins), f"plugin roots {roots}")
    expect(all(pkg in names for pkg in roots.values()), "plugin packages missing from contents")
    app = next((s for s in scripts if "openclaw_nix_entry.py" in s), "")
    for needed in ("openclaw_nix_entry.py", "contract.toml", contract.template_path.name, contract.entrypoint[-1]):
        expect(needed in app, f"the app layer does not install {needed}")
    for volume in contract.volumes.values():
        expect(f".{volume['path']}" in args["extraCommands"], f"{volume['path']} is not created")
    expect("chmod 1777" in args["extraCommands"], "mount points are not 1777")
    expect(contract.env["SSL_CERT_FILE"] in args["extraCommands"], "SSL_CERT_FILE path is not provided")
    return problems


def lock_problems(flake_dir: Path, contract: Contract) -> list[str]:
    lock = json.loads((flake_dir / "flake.lock").read_text())
    node = nix_openclaw_node(lock)["locked"]
    problems = []
    if node.get("type") != "github" or node.get("rev") != contract.raw["openclaw"]["nix_openclaw_rev"]:
        problems.append(f"flake.lock pins nix-openclaw {node}, contract {contract.raw['openclaw']['nix_openclaw_rev']}")
    if root_inputs(lock).get("nixpkgs") != ["nix-openclaw", "nixpkgs"]:
        problems.append("nixpkgs does not follow nix-openclaw/nixpkgs")
    for name, entry in lock["nodes"].items():
        locked = entry.get("locked")
        if locked and not (locked.get("narHash") and (locked.get("rev") or locked.get("type") == "path")):
            problems.append(f"lock node {name} lacks rev/narHash")
    return problems


def problems(flake_dir: Path = REPO) -> list[str]:
    require_nix()
    contract = Contract.load(flake_dir / "image" / "contract.toml")
    return (
        parse_problems(flake_dir)
        + lock_problems(flake_dir, contract)
        + config_problems(flake_dir, contract)
        + flake_check_problems(flake_dir)
    )
