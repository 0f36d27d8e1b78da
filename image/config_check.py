"""Does an image config say what the contract says? One comparison for every builder and every check:
the Nix offline eval, the parity archive unit test, and the loaded image in QA."""

from __future__ import annotations

from image.contract import Contract


def config_mismatches(config: dict, contract: Contract, builder: str) -> list[str]:
    """Each way `config` (docker/podman `Config`, or Nix's imageConfig) departs from the contract; empty
    when it follows it. `builder` is the builder label the image must carry."""
    problems = [
        f"{key} {config.get(key)!r} != contract {want!r}"
        for key, want in contract.run_config.items()
        if config.get(key) != want
    ]
    if config.get("User"):
        problems.append(f"image config sets User={config['User']!r}: it must not (any uid must work)")
    labels = config.get("Labels") or {}
    for key, want in (
        ("io.openclaw-nix.builder", builder),
        ("org.opencontainers.image.version", contract.openclaw_version),
    ):
        if labels.get(key) != want:
            problems.append(f"label {key} {labels.get(key)!r} != {want!r}")
    return problems
