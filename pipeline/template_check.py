"""Validate the config template with the real pinned OpenClaw, outside any container.

The template is rendered by the entrypoint's own render() (sample values for every allowlisted
variable), so a template it would refuse (a placeholder outside a quoted string value) never reaches
an image; the overlays the project ships pass its overlay rules the same way. Then
`openclaw config validate --json` of the pinned version judges the render, plugin schemas included.
Validation needs the plugin roots to exist, so their image paths are pointed at the same verified
tarballs unpacked here; the in-container QA checks the real paths.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from entry.openclaw_nix_entry import EntryError, render, render_overlay, resolve_values
from image.contract import Contract
from image.parity.downloads import npm_tarball
from image.parity.npm import node_toolchain, npm_global_install, unpack_once
from image.parity.sources import Sources
from image.paths import BUILD, CONFIG_PREVIEW, REPO, WORK
from plumbing import commands
from plumbing.files import write_json, write_text

SAMPLE_ENV = {
    "OPENCLAW_GATEWAY_TOKEN": "sample-gateway-token",
    "OPENCLAW_MATRIX_HOMESERVER": "https://matrix.example.org",
    "OPENCLAW_MATRIX_TOKEN": "sample-matrix-token",
}
# The overlays the project ships (deploy/k8s): each must pass the entrypoint's own overlay rules.
SHIPPED_OVERLAYS = REPO / "deploy" / "k8s" / "config-overlay"


@dataclass(frozen=True)
class Validation:
    valid: bool
    report: dict
    config_text: str


def render_sample(contract: Contract, env: dict[str, str] | None = None) -> str:
    """The template rendered by the entrypoint's own render(): what it would refuse is refused here."""
    values, _ = resolve_values(contract.allowlist, SAMPLE_ENV if env is None else env)
    return render(contract.template_path.read_text(encoding="utf-8"), values, f"template {contract.template_path}")


def check_shipped_overlays(contract: Contract) -> list[Path]:
    """Render each shipped overlay with the entrypoint's own overlay rules; raises EntryError."""
    values, _ = resolve_values(contract.allowlist, SAMPLE_ENV)
    overlays = sorted(SHIPPED_OVERLAYS.glob("*.json5"))
    for overlay in overlays:
        render_overlay(overlay, values)
    return overlays


def openclaw_cli() -> tuple[Path, Path]:
    """(node, openclaw entry script) of the pinned version, installed once into the work dir."""
    sources = Sources.load()
    prefix = WORK / "openclaw-cli"
    pkg = sources.one("openclaw")
    script = prefix / "lib/node_modules/openclaw/openclaw.mjs"
    marker = prefix / f".installed-{pkg.version}"
    if not marker.exists():
        print(f"[template] installing {pkg.spec} for validation (once)", flush=True)
        npm_global_install(sources, npm_tarball(pkg), prefix)
        marker.touch()
    node, _ = node_toolchain(sources)
    return node, script


def local_plugin_roots(contract: Contract) -> dict[str, Path]:
    """Each baked plugin's image path -> a verified local unpack of the same pinned tarball."""
    return {
        contract.plugin_path(plugin.plugin_id or ""): unpack_once(
            plugin, WORK / "validate-plugins" / (plugin.plugin_id or "")
        )
        for plugin in Sources.load().by_role("plugin")
    }


def with_local_plugins(config_text: str, contract: Contract) -> str:
    """The config with each plugin's image path replaced by its verified local copy (host runs); the path
    may be written in "double" or 'single' quotes (both are JSON5 strings)."""
    for image_path, local in local_plugin_roots(contract).items():
        for quote in ('"', "'"):
            config_text = config_text.replace(f"{quote}{image_path}{quote}", json.dumps(str(local)))
    return config_text


def host_env(node: Path, home: str, config: Path, **extra: str) -> dict[str, str]:
    """Environment for the pinned openclaw run on this host: its own node first on PATH, and HOME,
    config and state all inside `home` (a throwaway directory)."""
    return {
        "PATH": f"{node.parent}:/usr/bin:/bin",
        "HOME": home,
        "OPENCLAW_CONFIG_PATH": str(config),
        "OPENCLAW_STATE_DIR": f"{home}/state",
        **extra,
    }


def validate(config_text: str, contract: Contract) -> Validation:
    """Run the pinned `openclaw config validate --json` on `config_text`."""
    node, script = openclaw_cli()
    config_text = with_local_plugins(config_text, contract)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp, "openclaw.json")
        cfg.write_text(config_text)
        proc = commands.run(
            [node, script, "config", "validate", "--json"],
            env=host_env(node, tmp, cfg, OPENCLAW_NO_AUTO_UPDATE="1"),
            inherit_env=False,
            timeout=180,
        )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = {"valid": False, "raw": proc.stdout[-2000:], "stderr": proc.stderr[-2000:]}
    return Validation(proc.returncode == 0 and bool(report.get("valid")), report, config_text)


def rejection(report: dict) -> str:
    """OpenClaw's own words for a rejected config: each issue as `key.path: message` (else the raw report)."""
    issues = [i for i in report.get("issues") or [] if isinstance(i, dict)]
    if not issues:
        return json.dumps(report)[:2000]
    return "; ".join(f"{i.get('path') or '(top level)'}: {i.get('message', i)}" for i in issues)


def check(contract: Contract) -> Validation:
    """The `template` step: validate the sample render, write the report and the preview; fail loudly."""
    try:
        rendered = render_sample(contract)
        check_shipped_overlays(contract)
    except EntryError as err:  # the same one line the entrypoint would stop the container with
        raise SystemExit(f"refused as the entrypoint would refuse it: {err}") from None
    result = validate(rendered, contract)
    write_json(BUILD / "template-validation.json", result.report)
    if not result.valid:
        raise SystemExit(f"template rejected by openclaw {contract.openclaw_version}: {rejection(result.report)}")
    write_text(CONFIG_PREVIEW, rendered)
    print(f"[template] valid for openclaw {contract.openclaw_version}; preview -> {CONFIG_PREVIEW}")
    return result
