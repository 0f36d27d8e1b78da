"""Typed, read-only view of image/contract.toml for the build and QA pipeline.

The entrypoint parses the same file with its own stdlib code (it ships alone in the image);
derived facts that both need (the /state sub-directories) live there and are reused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from entry.openclaw_nix_entry import load_contract, state_dirs

REPO = Path(__file__).resolve().parent.parent
CONTRACT_PATH = REPO / "image" / "contract.toml"
TEMPLATE_DIR = REPO / "template"
ENTRY_PATH = REPO / "entry" / "openclaw_nix_entry.py"
# The health probe both builders install beside the entrypoint, on PATH as [probe].command.
PROBE_PATH = REPO / "entry" / "openclaw_nix_probe.py"
# Preloaded into node (env NODE_OPTIONS) to free its in-memory compile cache entries once modules are loaded.
COMPILE_CACHE_FLUSH = REPO / "image" / "compile-cache-flush.cjs"
# Preloaded into node (env NODE_OPTIONS): relative ES imports resolved without node re-parsing "exports".
ESM_RESOLVE_FASTPATH = REPO / "image" / "esm-resolve-fastpath.cjs"
# Every preload NODE_OPTIONS names; both builders install each in app_dir under its own name.
NODE_PRELOADS = (COMPILE_CACHE_FLUSH, ESM_RESOLVE_FASTPATH)


@dataclass(frozen=True)
class Tool:
    name: str
    version_cmd: list[str]


@dataclass(frozen=True)
class Contract:
    raw: dict

    @classmethod
    def load(cls, path: Path = CONTRACT_PATH) -> Contract:
        return cls(load_contract(path))

    @property
    def image_ref(self) -> str:
        return f"{self.raw['image']['name']}:{self.raw['image']['tag']}"

    @property
    def port(self) -> int:
        return int(self.raw["image"]["ports"][0])

    @property
    def exposed_ports(self) -> dict[str, dict]:
        return {f"{p}/tcp": {} for p in self.raw["image"]["ports"]}

    @property
    def env(self) -> dict[str, str]:
        return dict(self.raw["env"])

    @property
    def env_list(self) -> list[str]:
        """The image config's Env, sorted by name as Nix's attrNames yields it (both builders agree)."""
        return [f"{k}={v}" for k, v in sorted(self.raw["env"].items())]

    @property
    def entrypoint(self) -> list[str]:
        return list(self.raw["image"]["entrypoint"])

    @property
    def cmd(self) -> list[str]:
        return list(self.raw["image"]["cmd"])

    @property
    def app_dir(self) -> str:
        return self.raw["image"]["app_dir"]

    @property
    def openclaw_version(self) -> str:
        return self.raw["openclaw"]["version"]

    @property
    def plugins(self) -> list[str]:
        return list(self.raw["openclaw"]["plugins"])

    @property
    def plugins_dir(self) -> str:
        return self.raw["image"]["plugins_dir"]

    @property
    def esm_fastpath_env(self) -> str:
        """The variable that turns the ES resolve fast path on in one node process (the gateway's)."""
        return self.raw["image"]["esm_fastpath_env"]

    def plugin_path(self, plugin_id: str) -> str:
        return f"{self.plugins_dir}/{plugin_id}"

    def plugin_integrity_path(self, plugin_id: str) -> str:
        """The file beside a plugin root holding its package's npm integrity (written by the builders)."""
        return self.plugin_path(plugin_id) + self.raw["image"]["plugin_integrity_suffix"]

    @property
    def nix_openclaw_rev(self) -> str:
        return self.raw["openclaw"]["nix_openclaw_rev"]

    @property
    def nix_openclaw_ref(self) -> str:
        return self.raw["openclaw"]["nix_openclaw_ref"]

    @property
    def state_record(self) -> dict[str, str]:
        """Where /state records the OpenClaw release that last started on it, and the env that allows an older one."""
        return dict(self.raw["state_record"])

    @property
    def log_file(self) -> str:
        return self.raw["openclaw"]["log_file"]

    @property
    def workspace(self) -> str:
        return self.raw["openclaw"]["workspace"]

    @property
    def template_path(self) -> Path:
        return TEMPLATE_DIR / self.raw["openclaw"]["config_template"]

    @property
    def volumes(self) -> dict[str, dict]:
        return dict(self.raw["volumes"])

    @property
    def mount_points(self) -> list[str]:
        """Volume paths the image creates (an optional mount such as the overlay is left out: absent = unused)."""
        return [v["path"] for v in self.raw["volumes"].values() if not v.get("optional")]

    @property
    def healthcheck(self) -> dict:
        """The image config's Healthcheck, as docker and podman store it (durations in nanoseconds)."""
        hc = self.raw["image"]["healthcheck"]
        seconds = 1_000_000_000
        return {
            "Test": list(hc["test"]),
            "Interval": hc["interval"] * seconds,
            "Timeout": hc["timeout"] * seconds,
            "StartPeriod": hc["start_period"] * seconds,
            "Retries": hc["retries"],
        }

    @property
    def run_config(self) -> dict:
        """What the image config must say to run as the contract says (docker/OCI `Config` keys, no
        labels): both builders write it, and config_check compares every image with it."""
        return {
            "Env": self.env_list,
            "Entrypoint": self.entrypoint,
            "Cmd": self.cmd,
            "ExposedPorts": self.exposed_ports,
            "Healthcheck": self.healthcheck,
        }

    @property
    def probe(self) -> dict:
        """The probe command's name, the HTTP paths it asks, its time budget and /state write size."""
        return dict(self.raw["probe"])

    @property
    def passwd(self) -> dict[str, str]:
        """nss_wrapper library, the writable dir for the passwd/group copies, the user name it adds."""
        return dict(self.raw["passwd"])

    @property
    def nss_wrapper(self) -> str:
        return self.passwd["nss_wrapper"]

    @property
    def kubernetes(self) -> dict:
        """How the image runs under Kubernetes: uid/gid/fsGroup, probe paths, scratch dirs, securityContext."""
        return dict(self.raw["kubernetes"])

    @property
    def allowlist(self) -> list[dict]:
        return list(self.raw["allowlist"])

    @property
    def required_vars(self) -> list[str]:
        return [a["name"] for a in self.allowlist if a.get("required")]

    @cached_property
    def state_dirs(self) -> list[str]:
        return state_dirs(self.raw)

    @property
    def toolchain(self) -> list[Tool]:
        return [Tool(t["name"], list(t["version"])) for t in self.raw["toolchain"]]

    def labels(self, builder: str, revision: str, patches: dict | None = None) -> dict[str, str]:
        """OCI labels both builders stamp on the image; `builder` says which one made it, `patches` (from
        image/patches/apply.py's apply_all) which fixes of OpenClaw it carries and which were left out, why."""
        patches = patches or {"applied": [], "not_applied": {}}
        not_applied = "; ".join(f"{name}: {why}" for name, why in sorted(patches["not_applied"].items()))
        return {
            "org.opencontainers.image.title": "openclaw-nix",
            "org.opencontainers.image.source": self.raw["image"]["source"],
            "org.opencontainers.image.version": self.openclaw_version,
            "org.opencontainers.image.revision": revision,
            "io.openclaw-nix.builder": builder,
            "io.openclaw-nix.nix-openclaw.rev": self.nix_openclaw_rev,
            "io.openclaw-nix.patches.applied": ",".join(patches["applied"]),
            "io.openclaw-nix.patches.not-applied": not_applied,
        }
