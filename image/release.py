"""An OpenClaw release as a pin: the contract and parity sources with that release in place of the working one.

A release is three npm packages (openclaw and the two plugins, all of one version) plus the nix-openclaw
tag that packages it (image/releases.toml). Everything else (paths, env, toolchain, template, entrypoint,
Debian and tool pins) stays the working pin's, so an image of another release differs from the working
image only in what the release changes. The texts are rewritten line by line, keeping every comment:
the same function serves a side build (written into its own folder) and moving the working pin (written
over image/contract.toml and image/parity/sources.toml).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from image.contract import CONTRACT_PATH
from image.parity.sources import SOURCES_PATH

RELEASES_PATH = Path(__file__).with_name("releases.toml")
FLAKE_PATH = CONTRACT_PATH.parent.parent / "flake.nix"
# flake.nix's nix-openclaw input: a flake's inputs are literals, so the pin move rewrites the tag in it.
_FLAKE_INPUT = re.compile(r'^(\s*nix-openclaw\.url = "github:openclaw/nix-openclaw/)[^"]*(";)', re.MULTILINE)
# The npm packages a release pins: each must exist at exactly the release's version.
RELEASE_PACKAGES = ("openclaw", "@openclaw/matrix", "@openclaw/whatsapp")
_KEY = re.compile(r'^(?P<key>[A-Za-z_]+)\s*=\s*"(?P<value>[^"]*)"', re.MULTILINE)


@dataclass(frozen=True)
class Release:
    version: str
    nix_openclaw_ref: str
    nix_openclaw_rev: str
    integrity: dict[str, str]  # npm package name -> sha512 SRI of its tarball

    @property
    def tag(self) -> str:
        """The image tag of a side build of this release: its version."""
        return self.version


def releases(path: Path = RELEASES_PATH) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def previous(path: Path = RELEASES_PATH) -> str:
    """The release the upgrade and rollback scenarios start from."""
    return releases(path)["previous"]


def known(version: str, path: Path = RELEASES_PATH) -> Release | None:
    entry = releases(path).get("release", {}).get(version)
    if entry is None:
        return None
    missing = [name for name in RELEASE_PACKAGES if name not in entry.get("integrity", {})]
    if missing:
        raise SystemExit(f"{path.name}: release {version} lacks the integrity of {', '.join(missing)}")
    return Release(version, entry["nix_openclaw_ref"], entry["nix_openclaw_rev"], dict(entry["integrity"]))


def _set_in_section(text: str, header: str, values: dict[str, str]) -> str:
    """`key = "…"` lines of the section starting at `header` (up to the next header) given new values."""
    start = text.index(header)
    following = re.compile(r"^\[", re.MULTILINE).search(text, start + len(header))
    end = following.start() if following else len(text)
    body = text[start:end]
    for key, value in values.items():
        body, count = re.subn(rf'^{key}\s*=\s*"[^"]*"', f'{key} = "{value}"', body, count=1, flags=re.MULTILINE)
        if count != 1:
            raise ValueError(f'no `{key} = "…"` line in {header}')
    return text[:start] + body + text[end:]


def contract_text(release: Release, tag: str | None = None, base: str | None = None) -> str:
    """The contract with `release` pinned (and the image tag set, for a side build)."""
    text = CONTRACT_PATH.read_text(encoding="utf-8") if base is None else base
    text = _set_in_section(
        text,
        "[openclaw]",
        {
            "version": release.version,
            "nix_openclaw_ref": release.nix_openclaw_ref,
            "nix_openclaw_rev": release.nix_openclaw_rev,
        },
    )
    return text if tag is None else _set_in_section(text, "[image]", {"tag": tag})


def sources_text(release: Release, base: str | None = None) -> str:
    """sources.toml with each of the release's npm packages at its version and integrity."""
    text = SOURCES_PATH.read_text(encoding="utf-8") if base is None else base
    blocks = re.split(r"(?m)^(?=\[\[)", text)
    seen = set()
    for index, block in enumerate(blocks):
        if not block.startswith("[[npm]]"):
            continue
        fields = {m["key"]: m["value"] for m in _KEY.finditer(block)}
        if fields.get("name") in release.integrity:
            seen.add(fields["name"])
            blocks[index] = _set_in_section(
                block, "[[npm]]", {"version": release.version, "integrity": release.integrity[fields["name"]]}
            )
    missing = set(RELEASE_PACKAGES) - seen
    if missing:
        raise ValueError(f"sources.toml has no [[npm]] entry for {', '.join(sorted(missing))}")
    return "".join(blocks)


def flake_text(release: Release, base: str | None = None) -> str:
    """flake.nix with its nix-openclaw input at the release's tag (flake.lock then pins its commit)."""
    text = FLAKE_PATH.read_text(encoding="utf-8") if base is None else base
    text, count = _FLAKE_INPUT.subn(rf"\g<1>{release.nix_openclaw_ref}\g<2>", text)
    if count != 1:
        raise ValueError('flake.nix has no single `nix-openclaw.url = "github:openclaw/nix-openclaw/…";` line')
    return text
