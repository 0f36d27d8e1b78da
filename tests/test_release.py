"""image/release.py and the parity Target: another OpenClaw release is the working pin with that release's
pin in place, nothing else; moving there and back gives the working files back byte for byte."""

from __future__ import annotations

import tomllib

import pytest

from image.contract import CONTRACT_PATH, Contract
from image.parity import build as parity
from image.parity.sources import SOURCES_PATH, Sources
from image.release import (
    FLAKE_PATH,
    RELEASE_PACKAGES,
    contract_text,
    flake_text,
    known,
    previous,
    releases,
    sources_text,
)

WORKING = Contract.load().openclaw_version


def test_working_and_previous_releases_are_known():
    assert known(WORKING) is not None and known(previous()) is not None
    assert previous() != WORKING


def test_working_entry_matches_the_working_pin():
    """releases.toml's entry of the working version is what the contract and sources.toml pin."""
    release = known(WORKING)
    contract, sources = Contract.load(), Sources.load()
    assert release.nix_openclaw_ref == contract.nix_openclaw_ref
    assert release.nix_openclaw_rev == contract.nix_openclaw_rev
    assert {p.name: p.integrity for p in sources.npm if p.name in RELEASE_PACKAGES} == release.integrity


def test_another_release_changes_only_its_pin():
    old = known(previous())
    contract = tomllib.loads(contract_text(old, tag=old.tag))
    working = Contract.load().raw
    assert contract["openclaw"] == working["openclaw"] | {
        "version": old.version,
        "nix_openclaw_ref": old.nix_openclaw_ref,
        "nix_openclaw_rev": old.nix_openclaw_rev,
    }
    assert contract["image"] == working["image"] | {"tag": old.version}
    assert {k: v for k, v in contract.items() if k not in ("openclaw", "image")} == {
        k: v for k, v in working.items() if k not in ("openclaw", "image")
    }
    sources = tomllib.loads(sources_text(old))
    pinned = {p["name"]: (p["version"], p["integrity"]) for p in sources["npm"] if p["name"] in RELEASE_PACKAGES}
    assert pinned == {name: (old.version, old.integrity[name]) for name in RELEASE_PACKAGES}
    others = [p for p in sources["npm"] if p["name"] not in RELEASE_PACKAGES]
    assert others == [p for p in Sources.load().raw["npm"] if p["name"] not in RELEASE_PACKAGES]


def test_there_and_back_is_byte_identical():
    old, working = known(previous()), known(WORKING)
    moved_contract, moved_sources = contract_text(old), sources_text(old)
    assert moved_contract != CONTRACT_PATH.read_text() and moved_sources != SOURCES_PATH.read_text()
    assert contract_text(working, base=moved_contract) == CONTRACT_PATH.read_text()
    assert sources_text(working, base=moved_sources) == SOURCES_PATH.read_text()
    moved_flake = flake_text(old)
    assert f'nix-openclaw/{old.nix_openclaw_ref}";' in moved_flake and moved_flake != FLAKE_PATH.read_text()
    assert flake_text(working, base=moved_flake) == FLAKE_PATH.read_text()


def test_every_release_entry_is_complete():
    for version in releases()["release"]:
        release = known(version)
        assert release.nix_openclaw_ref == f"v{version}" and len(release.nix_openclaw_rev) == 40
        assert all(v.startswith("sha512-") for v in release.integrity.values())


def test_side_target_shares_only_release_independent_layers(tmp_path):
    target = parity.Target(layers=tmp_path / "own", shared=parity.RELEASE_INDEPENDENT, shared_from=tmp_path / "shared")
    assert {n: target.layer_path(n).parent.name for n in parity.LAYERS} == {
        "base": "shared",
        "node": "shared",
        "openclaw": "own",
        "plugins": "own",
        "tools": "shared",
        "app": "own",
    }
    with pytest.raises(SystemExit, match="shared"):
        parity.build_layer("base", target)


def test_labels_name_version_and_patches():
    contract = Contract.load()
    labels = contract.labels("parity", "abc", {"applied": [], "not_applied": {"p1": "not there", "p0": "why"}})
    assert labels["org.opencontainers.image.version"] == WORKING
    assert labels["io.openclaw-nix.patches.applied"] == ""
    assert labels["io.openclaw-nix.patches.not-applied"] == "p0: why; p1: not there"
    assert (
        contract.labels("parity", "abc", {"applied": ["a", "b"], "not_applied": {}})["io.openclaw-nix.patches.applied"]
        == "a,b"
    )
