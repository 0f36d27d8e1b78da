"""Security checks on the built image archive: no secret in any layer, clean config, an SBOM."""

from __future__ import annotations

import re

import pytest

from harness.containers import TEST_TOKEN
from harness.evidence import EVIDENCE_DIR, write_json
from harness.image_scan import SECRET_PATTERNS, sbom, scan
from image.config_check import config_mismatches
from pipeline.template_check import SAMPLE_ENV

pytestmark = pytest.mark.container
# Upstream constants that look like secrets, by path (parity and Nix layouts), with the reason.
ALLOWED = {
    "*/libgnutls.so*": "GnuTLS's built-in FIPS self-test keys: public test vectors",
    "*/baileys/lib/WABinary/constants.*": "baileys (WhatsApp) ships WhatsApp Web's public client key as a constant",
}


def test_no_secret_in_any_layer(image, scenario):
    """Every file of every layer: no build-time sample token, no QA token, no key-shaped string
    (except the listed upstream constants)."""
    literals = [*(v for k, v in SAMPLE_ENV.items() if "TOKEN" in k), TEST_TOKEN]
    findings = scan(image.archive, literals, ALLOWED)
    scenario.fact("patterns", [*sorted(SECRET_PATTERNS), f"{len(literals)} literal values"])
    scenario.fact("allowed_paths", ALLOWED)
    scenario.fact("findings", [f"{f.layer}: {f.path}: {f.kind}" for f in findings])
    assert findings == []


def test_image_config_hygiene(image, contract, scenario):
    """Config: no User, only the contract's port, no allowlisted (secret) variable or key-shaped value in Env."""
    cfg = image.inspect["Config"]
    env_names = [e.split("=", 1)[0] for e in cfg["Env"]]
    secretish = [e for e in cfg["Env"] if any(p.search(e.encode()) for p in SECRET_PATTERNS.values())]
    scenario.fact("user", cfg.get("User", ""))
    scenario.fact("exposed_ports", sorted(cfg.get("ExposedPorts", {})))
    scenario.fact("env_names", env_names)
    assert config_mismatches(image.config, contract, image.builder) == []
    assert not {a["name"] for a in contract.allowlist} & set(env_names)
    assert not any(re.search(r"(TOKEN|SECRET|PASSWORD|API_KEY)", n) for n in env_names)
    assert secretish == []


def test_sbom_per_layer(image, contract, scenario):
    """A software bill of materials per layer (Debian packages, npm packages) written with the evidence."""
    bom = sbom(image.archive)
    write_json(EVIDENCE_DIR / "sbom.json", {"image_id": image.image_id, "builder": image.builder, "layers": bom})
    counts = {b["layer"]: {"debian": len(b["debian"]), "npm": len(b["npm"])} for b in bom}
    scenario.fact("packages_per_layer", counts)
    all_npm = {p for b in bom for p in b["npm"]}
    all_deb = {p.split("=")[0] for b in bom for p in b["debian"]}
    assert f"openclaw@{contract.openclaw_version}" in all_npm
    for plugin in contract.plugins:
        assert f"@openclaw/{plugin}@{contract.openclaw_version}" in all_npm
    if image.builder == "parity":
        assert {"ffmpeg", "git", "curl", "jq", "tini", "python3"} <= all_deb
