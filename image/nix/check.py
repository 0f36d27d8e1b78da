"""Offline checks of the Nix flake: everything about it that can be proven without nixpkgs.

The flake is evaluated against two stub flakes (tests/nix/) that stand in for nixpkgs and
nix-openclaw: their dockerTools.streamLayeredImage takes exactly the real function's arguments,
hands them back, and models how the real one merges `contents` into the image root, so the checks
see exactly what flake.nix would pass to the real nixpkgs and which top-level entries the image
root would get. `problems()` returns what is wrong (empty list: all good); without `nix` the caller
must report "not run", never "pass".
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from pathlib import Path

from image.config_check import config_mismatches
from image.contract import ENTRY_PATH, NODE_PRELOADS, PROBE_PATH, Contract
from image.nix import sources
from image.nix.lock import NIX, nix_openclaw_node, root_inputs
from image.patches import apply as patch
from image.patches import specs as patch_specs
from image.paths import REPO
from plumbing import commands

STUBS = REPO / "tests" / "nix"
ATTR = "packages.x86_64-linux.openclaw-nix-image"
# streamLayeredImage arguments present in every nixpkgs version read (2024 to late 2025, see the stub):
# the image passes only these, so it does not depend on which revision's extras the pin has.
STABLE_STREAM_ARGS = {"name", "tag", "fromImage", "contents", "config", "extraCommands", "fakeRootCommands"}
STABLE_STREAM_ARGS |= {"maxLayers", "created", "uid", "gid", "uname", "gname", "includeStorePaths", "passthru"}


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


def nix_error(stderr: str) -> str:
    """The error Nix reports, without the lock-file chatter the input overrides print before it."""
    start = stderr.find("error:")
    return (stderr[start:] if start >= 0 else stderr).strip()[:800]


def nix_eval(flake_dir: Path, attr: str, apply: str | None = None) -> object:
    cmd = [*NIX, "eval", "--json", f"{flake_ref(flake_dir)}#{ATTR}{attr}", *overrides()]
    if apply:
        cmd += ["--apply", apply]
    proc = commands.run(cmd, timeout=300)
    if proc.returncode != 0:  # nix may print partial JSON before failing: trust the exit code
        raise RuntimeError(f"nix eval {attr} failed: {nix_error(proc.stderr)}")
    return json.loads(proc.stdout)


def parse_problems(flake_dir: Path) -> list[str]:
    problems = []
    for path in sorted(flake_dir.glob("**/*.nix")):
        if any(part in {".venv", "build", ".nox", "node_modules"} for part in path.relative_to(flake_dir).parts):
            continue
        proc = commands.run(["nix-instantiate", "--parse", path])
        if proc.returncode != 0:
            problems.append(f"{path.relative_to(flake_dir)} does not parse: {proc.stderr.strip()[-300:]}")
    return problems


# Checks that evaluate kubenix: they need the local copies of kubenix and nixpkgs.lib.
SOURCE_CHECKS = {"kubenix-module"}
ABSENT_SOURCE = STUBS / "absent-source"  # an empty tree for those inputs when no copy exists


def source_overrides(flake_dir: Path) -> list[str]:
    """The source-only inputs (kubenix, nixpkgs.lib) from their local copies, at the revs flake.lock pins.

    Raises sources.SourceMissing without a copy.
    """
    args = []
    for name in sources.SOURCES:
        args += ["--override-input", name, f"path:{sources.tree(name, flake_dir)}"]
    return args


def flake_check_problems(flake_dir: Path) -> list[str]:
    """`nix flake check --no-build` with the stub inputs and the real kubenix/nixpkgs.lib sources.

    Without local copies of those sources the other checks are still evaluated, one by one, the way
    `nix flake check --no-build` does (each check's derivation instantiated); the kubenix check is
    reported "not run" (tests/test_nix.py and tests/test_kubenix.py say so), never passed.
    """
    try:
        real_sources = source_overrides(flake_dir)
    except sources.SourceMissing as err:
        return checks_without_sources(flake_dir, str(err))
    cmd = [*NIX, "flake", "check", "--no-build", flake_ref(flake_dir), *overrides(), *real_sources]
    proc = commands.run(cmd, timeout=300)
    return [] if proc.returncode == 0 else [f"nix flake check --no-build failed: {nix_error(proc.stderr)}"]


def checks_without_sources(flake_dir: Path, reason: str) -> list[str]:
    absent = [arg for name in sources.SOURCES for arg in ("--override-input", name, f"path:{ABSENT_SOURCE}")]
    checks = f"{flake_ref(flake_dir)}#checks.x86_64-linux"
    proc = commands.run(
        [*NIX, "eval", "--json", checks, "--apply", "builtins.attrNames", *overrides(), *absent], timeout=300
    )
    if proc.returncode != 0:
        return [f"nix flake check --no-build failed: {nix_error(proc.stderr)}"]
    problems = []
    for name in json.loads(proc.stdout):
        if name in SOURCE_CHECKS:
            print(f"checks.x86_64-linux.{name}: not run: {reason}")
            continue
        proc = commands.run([*NIX, "eval", "--raw", f"{checks}.{name}.drvPath", *overrides(), *absent], timeout=300)
        if proc.returncode != 0:
            problems.append(f"nix flake check --no-build failed (check {name}): {nix_error(proc.stderr)}")
    return problems


def top_entry(path: str) -> str:
    """The image-root entry a path lives under: "/opt/openclaw-nix/x" -> "opt"."""
    return path.strip("/").split("/")[0]


def expected_root(contract: Contract) -> list[str]:
    """The image root's top-level listing the contract implies, and nothing more.

    The paths it names (app, plugins, nss_wrapper, SSL_CERT_FILE, the passwd scratch dir, the mount
    points of the non-optional volumes, the PATH dirs outside those volumes), plus /nix (the store
    layers) and /var (/var/tmp scratch, fakeNss's /var/empty).
    """
    mounts = contract.mount_points
    path_dirs = [d for d in contract.env["PATH"].split(":") if not any(d.startswith(m + "/") for m in mounts)]
    named = [
        contract.app_dir,
        contract.plugins_dir,
        contract.nss_wrapper,
        contract.env["SSL_CERT_FILE"],
        contract.passwd["dir"],
        *mounts,
        *path_dirs,
    ]
    return sorted({top_entry(p) for p in named} | {"nix", "var"})


def image_root(entries: dict[str, str], extra_commands: str) -> list[str]:
    """Top-level listing of the image root: the merged contents, then extraCommands run on it for real.

    extraCommands is shell the real build runs inside the merged tree (nixpkgs: `cd old_out; eval
    "$extraCommands"`); running it here on a skeleton of that tree shows what it adds.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, kind in entries.items():
            if kind == "dir":
                (root / name).mkdir()
            else:
                (root / name).touch()
        proc = commands.run(["bash", "-euo", "pipefail", "-c", extra_commands], cwd=root, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"extraCommands failed: {proc.stderr.strip()[-600:]}")
        return sorted(p.name for p in root.iterdir())


def root_problems(flake_dir: Path, contract: Contract) -> list[str]:
    """The image root holds exactly what the contract names: no package spread over /."""
    try:
        model = nix_eval(flake_dir, ".imageRoot")
        extra = nix_eval(flake_dir, ".streamArgs", 'a: a.extraCommands or ""')
        listing = image_root(model["entries"], extra)
    except RuntimeError as err:
        return [str(err)]
    problems = [f"contents collide at {c} (the image keeps the first, silently)" for c in model["collisions"]]
    expected = expected_root(contract)
    if listing != expected:
        unexpected = sorted(set(listing) - set(expected))
        missing = sorted(set(expected) - set(listing))
        problems.append(f"image root {listing} != contract {expected}: unexpected {unexpected}, missing {missing}")
    for volume in contract.volumes.values():
        if volume.get("optional") and top_entry(volume["path"]) in listing:
            problems.append(f"optional volume {volume['path']} is created in the image (must exist only when mounted)")
    return problems


def config_problems(flake_dir: Path, contract: Contract) -> list[str]:
    try:
        config = nix_eval(flake_dir, ".passthru.imageConfig")
        args = nix_eval(flake_dir, ".streamArgs", "a: { inherit (a) name tag extraCommands; }")
        arg_names = nix_eval(flake_dir, ".streamArgs", "builtins.attrNames")
        passthru = nix_eval(flake_dir, ".passthru", "p: { inherit (p) contentNames onPathNames toolchain rootLinks; }")
        scripts = nix_eval(flake_dir, ".streamArgs.contents", 'cs: map (c: c.buildCommand or "") cs')
    except RuntimeError as err:
        return [str(err)]
    problems = []

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    problems += config_mismatches(config, contract, "nix")
    # which image/patches the release carries, labelled as the parity builder labels them
    wanted = contract.labels("nix", "", patch.declared(patch_specs(), "openclaw", contract.openclaw_version))
    for key in ("io.openclaw-nix.patches.applied", "io.openclaw-nix.patches.not-applied"):
        got = (config.get("Labels") or {}).get(key)
        expect(got == wanted[key], f"label {key} {got!r} != {wanted[key]!r}")
    expect(f"{args['name']}:{args['tag']}" == contract.image_ref, f"name:tag {args['name']}:{args['tag']}")
    unsure = sorted(set(arg_names) - STABLE_STREAM_ARGS)
    expect(not unsure, f"streamLayeredImage arguments {unsure} are not in every nixpkgs version read")
    tools = passthru["toolchain"]
    expect(sorted(tools) == sorted(t.name for t in contract.toolchain), f"toolchain {sorted(tools)}")
    on_path = set(passthru["onPathNames"])
    expect(all(pkg in on_path for pkg in tools.values()), f"toolchain packages not on PATH: {tools}")
    links = passthru["rootLinks"]
    script = "\n".join(scripts)
    for plugin in contract.plugins:
        target = links.get(contract.plugin_path(plugin), "")
        expect(f"-openclaw-runtime-plugin-{plugin}-" in target, f"{contract.plugin_path(plugin)} -> {target!r}")
    nss = links.get(contract.nss_wrapper, "")
    expect(
        "-nss_wrapper-" in nss and nss.endswith("/lib/libnss_wrapper.so"),
        f"{contract.nss_wrapper} -> {links.get(contract.nss_wrapper)!r}, not nixpkgs' nss_wrapper library",
    )
    for path, target in links.items():
        expect(f"ln -s {target} $out{path}" in script, f"no layer links {path} -> {target}")
    app = next((s for s in scripts if "openclaw_nix_entry.py" in s), "")
    for needed in (
        ENTRY_PATH.name,
        PROBE_PATH.name,
        "contract.toml",
        contract.template_path.name,
        *(p.name for p in NODE_PRELOADS),
    ):
        expect(needed in app, f"the app layer does not install {needed}")
    for command, file in ((contract.entrypoint[-1], ENTRY_PATH.name), (contract.probe["command"], PROBE_PATH.name)):
        expect(f"{contract.app_dir}/{file} $out/bin/{command}" in script, f"{command} is not on PATH")
    for path in contract.mount_points:
        expect(f".{path}" in args["extraCommands"], f"{path} is not created")
    expect("chmod 1777" in args["extraCommands"], "mount points are not 1777")
    return problems


def show_derivation(drv_path: str) -> dict:
    proc = commands.run([*NIX, "show-derivation", drv_path], timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"nix show-derivation {drv_path} failed: {nix_error(proc.stderr)}")
    return json.loads(proc.stdout)[drv_path]


def patch_problems(flake_dir: Path) -> list[str]:
    """image/patches reach the image's gateway as the parity builder applies them: each spec and the
    applier are inputs of the gateway's derivation (byte for byte the repo's files), its installPhase
    runs the applier on each spec after nix-openclaw's own install script, the gateway on PATH is that
    derivation, and every plugin's `openclaw` peer links it (no unpatched gateway in the image)."""
    try:
        drv_path = nix_eval(flake_dir, ".passthru.gateway.drvPath")
        gateway = nix_eval(flake_dir, ".passthru.gateway.outPath")
        peer = "ps: builtins.mapAttrs (id: p: p.drvAttrs.OPENCLAW_GATEWAY_PACKAGE or null) ps"
        peers = nix_eval(flake_dir, ".passthru.plugins", peer)
        scripts = nix_eval(flake_dir, ".streamArgs.contents", 'cs: map (c: c.buildCommand or "") cs')
        drv = show_derivation(drv_path)
    except RuntimeError as err:
        return [str(err)]
    inputs, install = drv["inputSrcs"], drv["env"].get("installPhase", "")
    problems = []

    def input_for(source: Path) -> str | None:
        """The gateway input that is `source` (by name and content), or None."""
        same = [s for s in inputs if s.endswith("-" + source.name) and Path(s).read_bytes() == source.read_bytes()]
        return same[0] if same else None

    applier = input_for(flake_dir / "image" / "patches" / "apply.py")
    if applier is None:
        problems.append("image/patches/apply.py is not an input of the gateway derivation")
    specs = sorted((flake_dir / "image" / "patches").glob("*.toml"))
    for spec in specs:
        stored = input_for(spec)
        if stored is None:
            problems.append(f"image/patches/{spec.name} is not an input of the gateway derivation (or differs)")
        elif not any(line.endswith(f"{applier} {stored} $out/lib/openclaw") for line in install.splitlines()[1:]):
            problems.append(f"the gateway's installPhase does not apply image/patches/{spec.name} after its install")
    if not any(f"{gateway} " in s or f"{gateway}\n" in s for s in scripts):
        problems.append(f"the patched gateway {gateway} is not on the image's PATH")
    wrong = {plugin: peer for plugin, peer in peers.items() if peer is not None and peer != gateway}
    if wrong:
        problems.append(f"plugins link an unpatched openclaw peer: {wrong}")
    return problems


def plugin_post_fixups(flake_dir: Path) -> dict[str, str]:
    """Each image plugin's postFixup script, by plugin id (what runs after nix-openclaw's install)."""
    return nix_eval(flake_dir, ".passthru.plugins", 'ps: builtins.mapAttrs (id: p: p.drvAttrs.postFixup or "") ps')  # type: ignore[return-value]


def prune_problems(flake_dir: Path) -> list[str]:
    """Every plugin root in the image removes, after its install, the files image/parity/sources.toml
    [prune.package_files] names, as the parity image does. The script itself is run on a tree by
    tests/test_nix.py; here: each plugin carries it, naming every package and path."""
    with (flake_dir / "image" / "parity" / "sources.toml").open("rb") as fh:
        wanted = tomllib.load(fh)["prune"].get("package_files", {})
    try:
        scripts = plugin_post_fixups(flake_dir)
    except RuntimeError as err:
        return [str(err)]
    problems = []
    for plugin, script in sorted(scripts.items()):
        missing = [f"{name}/{rel}" for name, paths in wanted.items() for rel in paths
                   if f"'*/node_modules/{name}'" not in script or f"'{rel}'" not in script]  # fmt: skip
        if missing:
            problems.append(f"plugin {plugin} keeps the files sources.toml prunes: {missing}")
    return problems


def lock_problems(flake_dir: Path, contract: Contract) -> list[str]:
    lock = json.loads((flake_dir / "flake.lock").read_text())
    node = nix_openclaw_node(lock)["locked"]
    problems = []
    if node.get("type") != "github" or node.get("rev") != contract.nix_openclaw_rev:
        problems.append(f"flake.lock pins nix-openclaw {node}, contract {contract.nix_openclaw_rev}")
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
        + root_problems(flake_dir, contract)
        + patch_problems(flake_dir)
        + prune_problems(flake_dir)
        + flake_check_problems(flake_dir)
    )
