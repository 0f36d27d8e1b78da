#!/usr/bin/env python3
"""openclaw-nix container entrypoint: seed /config, prepare /state, exec the command.

Runs at every container start, as any uid, stdlib only. In order:
  1. check the environment: every required allowlisted variable is set (else stop, write nothing);
  2. render the template in memory, substituting ${NAME} only for allowlisted names;
  3. check /state and /logs are writable and create the /state sub-directories;
  4. empty /config (never the mount itself) and write openclaw.json atomically, mode 0600;
  5. exec the command (default: the gateway), so signals reach it directly.
`--check` does 1-4 and prints what it did instead of exec'ing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

PROG = "openclaw-nix"
# The same token grammar OpenClaw's config loader uses: `$${NAME}` is a literal, `${NAME}` expands.
TOKEN = re.compile(r"\$(\$?)\{([A-Z_][A-Z0-9_]*)\}")
EXPANDABLE = re.compile(r"\$(?=\{[A-Z_][A-Z0-9_]*\})")
EX_CONFIG = 78  # sysexits: configuration error, the user has to change something


class EntryError(Exception):
    """A problem the user must fix; the message says what and how."""


def find_file(explicit: str | None, *candidates: Path) -> Path:
    """Return the explicit path or the first candidate that exists (image layout, then repo)."""
    if explicit:
        return Path(explicit)
    for path in candidates:
        if path.is_file():
            return path
    raise EntryError(f"none of {', '.join(map(str, candidates))} exists; pass the path explicitly")


def load_contract(path: Path) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def state_dirs(contract: dict) -> list[str]:
    """Every directory under the persistent /state volume the image env or config points at."""
    state = contract["volumes"]["state"]["path"].rstrip("/") + "/"
    paths = [contract["openclaw"]["workspace"]]
    for value in contract["env"].values():
        paths.extend(value.split(":"))
    return sorted({p for p in paths if p.startswith(state)})


def escape_for_openclaw(value: str) -> str:
    """Make OpenClaw's own ${NAME} expansion give back `value` unchanged."""
    return EXPANDABLE.sub("$$", value)


def resolve_values(allowlist: list[dict], env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Values for every allowlisted name, plus warnings; raises on a missing required one."""
    values, warnings = {}, []
    for item in allowlist:
        name, value = item["name"], env.get(item["name"], "")
        if value:
            values[name] = value
        elif item.get("required"):
            raise EntryError(
                f"{name} is not set or empty: it is required ({item.get('help', 'see the README')}). "
                f"Set it with `podman run -e {name}=...` or a Kubernetes Secret."
            )
        else:
            values[name] = item.get("default", "")
            if "default" not in item:
                warnings.append(f"{name} is not set; using an empty value ({item.get('help', '')})")
    return values, warnings


def render(template: str, values: dict[str, str]) -> str:
    """Substitute allowlisted ${NAME} inside double-quoted JSON5 strings; escape the rest."""

    def replace(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return match.group(0)  # already a literal for OpenClaw
        if name not in values:
            return "$" + match.group(0)  # not allowlisted: make OpenClaw keep it literal
        return json.dumps(escape_for_openclaw(values[name]), ensure_ascii=False)[1:-1]

    return TOKEN.sub(replace, template)


def require_writable(path: Path, fix_hint: str) -> None:
    """Prove `path` is writable by creating and removing a file in it (os.access can lie)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise EntryError(
            f"{path} is not writable by uid {os.getuid()} gid {os.getgid()} ({err.strerror}). {fix_hint}"
        ) from None


def empty_dir(path: Path) -> None:
    """Remove the contents of `path`, never `path` itself: it may be a mount point."""
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def write_atomically(path: Path, text: str) -> None:
    """Write to a 0600 temp file in the same directory, fsync, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def seed(contract: dict, template_path: Path, root: Path, env: dict[str, str]) -> Path:
    """Steps 1-4: returns the written config path (under `root`, which is / in the image)."""
    values, warnings = resolve_values(contract["allowlist"], env)
    try:
        rendered = render(template_path.read_text(encoding="utf-8"), values)
    except OSError as err:
        raise EntryError(f"cannot read the config template {template_path}: {err.strerror}") from None
    for warning in warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)

    def inside(container_path: str) -> Path:
        return root / container_path.lstrip("/")

    fix = (
        "Mount a directory this uid owns: podman run --userns=keep-id --user $(id -u):$(id -g) "
        "-v DIR:{vol}, or on Kubernetes set securityContext.fsGroup."
    )
    for name in ("state", "logs"):
        vol = contract["volumes"][name]["path"]
        require_writable(inside(vol), fix.format(vol=vol))
    for directory in state_dirs(contract):
        inside(directory).mkdir(parents=True, exist_ok=True)

    config = inside(contract["env"]["OPENCLAW_CONFIG_PATH"])
    require_writable(config.parent, fix.format(vol=contract["volumes"]["config"]["path"]))
    empty_dir(config.parent)
    write_atomically(config, rendered)
    return config


def main(argv: list[str]) -> int:
    args = list(argv)
    check = "--check" in args[:1]
    if check:
        args.pop(0)
    here = Path(__file__).resolve().parent
    try:
        contract_path = find_file(
            os.environ.get("OPENCLAW_NIX_CONTRACT"), here / "contract.toml", here.parent / "image" / "contract.toml"
        )
        contract = load_contract(contract_path)
        template_name = contract["openclaw"]["config_template"]
        template = find_file(
            os.environ.get("OPENCLAW_NIX_TEMPLATE"), here / template_name, here.parent / "template" / template_name
        )
        root = Path(os.environ.get("OPENCLAW_NIX_ROOT", "/"))
        config = seed(contract, template, root, dict(os.environ))
    except EntryError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EX_CONFIG
    command = args or contract["image"]["cmd"]
    if check:
        print(f"{PROG}: seeded {config}; would exec: {' '.join(command)}")
        return 0
    try:
        os.execvp(command[0], command)
    except OSError as err:
        print(
            f"{PROG}: error: cannot run {command[0]!r}: {err.strerror}. Is it on PATH ({os.environ.get('PATH')})?",
            file=sys.stderr,
        )
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
