"""The parity builder's pinned inputs (sources.toml), checked against the contract."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from image.contract import Contract

SOURCES_PATH = Path(__file__).with_name("sources.toml")


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    role: str
    integrity: str
    plugin_id: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        """The file name `npm pack` writes: scope folded into the name."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


@dataclass(frozen=True)
class Sources:
    raw: dict

    @classmethod
    def load(cls, path: Path = SOURCES_PATH) -> Sources:
        with path.open("rb") as fh:
            return cls(tomllib.load(fh))

    @property
    def debian(self) -> dict:
        return dict(self.raw["debian"])

    @property
    def npm(self) -> list[NpmPackage]:
        return [NpmPackage(**p) for p in self.raw["npm"]]

    def by_role(self, role: str) -> list[NpmPackage]:
        return [p for p in self.npm if p.role == role]

    def one(self, role: str) -> NpmPackage:
        (pkg,) = self.by_role(role)
        return pkg

    @property
    def prune(self) -> dict:
        return dict(self.raw["prune"])

    @property
    def pypi(self) -> list[dict]:
        return list(self.raw.get("pypi", []))

    def check_against(self, contract: Contract) -> list[str]:
        """Disagreements with the contract: the parity image must ship what the contract says."""
        problems = []
        if self.one("openclaw").version != contract.openclaw_version:
            problems.append(
                f"sources.toml pins openclaw {self.one('openclaw').version}, the contract {contract.openclaw_version}"
            )
        plugin_ids = sorted(p.plugin_id or "" for p in self.by_role("plugin"))
        if plugin_ids != sorted(contract.plugins):
            problems.append(f"sources.toml plugins {plugin_ids} != contract plugins {sorted(contract.plugins)}")
        for plugin in self.by_role("plugin"):
            if plugin.version != contract.openclaw_version:
                problems.append(f"{plugin.spec} does not match openclaw {contract.openclaw_version}")
        return problems
