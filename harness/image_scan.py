"""Read a docker-archive layer by layer: secret scan and software bill of materials.

No container needed: the archive `doit image` wrote is read directly, so what is checked is exactly
what would be pushed.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from image.parity.debian import parse_dpkg_status

MAX_SCAN_BYTES = 8 << 20
SECRET_PATTERNS = {
    # a header followed by a key body: parsers and docs carry the bare header as a string constant
    "private key": re.compile(
        rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\r?\n(?:[A-Za-z0-9+/]{64}\r?\n){2}"
    ),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "AWS access key": re.compile(rb"\bAKIA[0-9A-Z]{16}\b"),
    "OpenAI-style key": re.compile(rb"\bsk-(?:proj-)?[A-Za-z0-9_-]{40,}\b"),
    "Slack token": re.compile(rb"\bxox[abprs]-[0-9A-Za-z-]{10,}\b"),
    "Google API key": re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Matrix access token": re.compile(rb"\bsyt_[A-Za-z0-9_]{10,}_[A-Za-z0-9]{10,}\b"),
}


@dataclass(frozen=True)
class Finding:
    layer: str
    path: str
    kind: str
    excerpt: str


def layers(archive: Path) -> Iterator[tuple[str, tarfile.TarFile]]:
    """(layer name from history, opened layer tar) in image order."""
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        config = json.load(outer.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        names = [h.get("created_by", f"layer {i}") for i, h in enumerate(config.get("history", []))]
        for i, layer_path in enumerate(manifest["Layers"]):
            with tarfile.open(fileobj=outer.extractfile(layer_path)) as inner:
                yield (names[i] if i < len(names) else layer_path), inner


def scan(archive: Path, literals: list[str], allow: dict[str, str]) -> list[Finding]:
    """Secret literals and key patterns in every regular file of every layer, minus allowed paths."""
    needles = {f"literal {lit[:6]}…": re.compile(re.escape(lit.encode())) for lit in literals}
    patterns = {**SECRET_PATTERNS, **needles}
    found = []
    for layer_name, tar in layers(archive):
        for member in tar:
            if not member.isreg() or member.size > MAX_SCAN_BYTES:
                continue
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            for kind, pattern in patterns.items():
                match = pattern.search(data)
                if match and not any(fnmatch.fnmatch(member.name, glob) for glob in allow):
                    found.append(Finding(layer_name, member.name, kind, match.group(0)[:24].decode(errors="replace")))
    return found


def sbom(archive: Path) -> list[dict]:
    """Per layer: Debian packages (dpkg status), npm packages (package.json), binaries from wheels."""
    result = []
    for layer_name, tar in layers(archive):
        debs, npm = [], {}
        for member in tar:
            if not member.isreg():
                continue
            if member.name == "var/lib/dpkg/status":
                debs = parse_dpkg_status(tar.extractfile(member).read().decode())  # type: ignore[union-attr]
            elif member.name.endswith("/package.json"):  # node_modules and plugin roots alike
                try:
                    pkg = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                except (ValueError, UnicodeDecodeError):
                    continue
                if isinstance(pkg, dict) and pkg.get("name") and pkg.get("version"):
                    npm[f"{pkg['name']}@{pkg['version']}"] = None
        result.append({"layer": layer_name, "debian": debs, "npm": sorted(npm)})
    return result
