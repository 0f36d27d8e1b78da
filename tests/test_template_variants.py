"""The template variants QA runs against (harness/template_variants.py) are templates a user could
really write: the pinned OpenClaw accepts each, and each means what the shipped template means."""

from __future__ import annotations

import pytest

from entry.openclaw_nix_entry import render
from harness.template import fixed_values, parse, placeholders
from harness.template_variants import ADDED_CHANNEL_SETTING, ADDED_VARIABLE, LAST_LINE, VARIANTS, variant
from pipeline.template_check import SAMPLE_ENV, validate


@pytest.fixture(scope="module")
def shipped(contract) -> str:
    return contract.template_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_means_what_the_template_means(shipped, name):
    base, tree = parse(shipped), parse(variant(name, shipped))
    added = {path for path, _ in (ADDED_CHANNEL_SETTING, ADDED_VARIABLE)}
    assert {p: v for p, v in fixed_values(tree).items() if p not in added} == fixed_values(base)
    assert {p: v for p, v in placeholders(tree).items() if p not in added} == placeholders(base)


def test_variants_are_spelled_as_named(shipped):
    spelled = {name: variant(name, shipped) for name in VARIANTS}
    assert spelled["comment-on-last-line"].endswith(LAST_LINE.encode())
    assert spelled["all-at-once"].endswith(LAST_LINE.encode()) and b"\r\n" in spelled["all-at-once"]
    assert spelled["crlf"].count(b"\r\n") == spelled["crlf"].count(b"\n")
    assert b"'" in spelled["single-quoted"] and b"/*" in spelled["comments-everywhere"]
    assert list(parse(spelled["keys-reordered"])) == list(parse(shipped))[::-1]
    assert len(set(spelled.values())) == len(spelled), "two variants are the same file"


# all-at-once spells every feature at once (~15 s per validation on 2 busy cores); keys-reordered is the one
# variant without trailing commas. The full QA tier starts the gateway on every variant's features.
@pytest.mark.network
@pytest.mark.parametrize("name", ["all-at-once", "keys-reordered"])
def test_pinned_openclaw_accepts_the_variant(contract, shipped, name):
    values = {a["name"]: SAMPLE_ENV.get(a["name"], a.get("default", "")) for a in contract.allowlist}
    result = validate(render(variant(name, shipped).decode("utf-8"), values), contract)
    assert result.valid, result.report
