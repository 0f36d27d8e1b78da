"""Placeholders against hostile values: no environment value may add or change a config key.

Every hostile value x every place a `${NAME}` can stand x (template, overlay): the render either
refuses (EntryError; exit 78 from the entrypoint process) or, parsed by an independent JSON5 parser
and expanded the way OpenClaw expands `${NAME}` (tests/openclaw_semantics.py), gives the value back
byte for byte while every key and every other value equals the placeholder-free render. The
documents are this test's own, not the shipped template. A subset runs through the real entrypoint
process and the real pinned `openclaw config get` (marked network: the pinned CLI installs once).
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
from pathlib import Path
from types import SimpleNamespace

import json5
import pytest

from entry.openclaw_nix_entry import (
    EX_CONFIG,
    EntryError,
    decode_string,
    encode_string,
    escape_for_openclaw,
    render,
    render_overlay,
)
from pipeline import template_check
from pipeline.template_check import openclaw_cli
from tests.openclaw_semantics import resolve, substitute
from tests.test_entry_overlay import openclaw_bin, run_overlay  # noqa: F401 (fixtures)

NAME = "OPENCLAW_MATRIX_HOMESERVER"
PLACEHOLDER = "${" + NAME + "}"
TOKEN_VALUE = "tok-value"
PAYLOAD = "https://x' } }, gateway: { auth: { mode: 'none' } }, channels: { matrix: { homeserver: 'https://x"
HOSTILE = {
    "issue-payload": PAYLOAD,
    "double-quote-breakout": '", gateway: {auth: {mode: "none"}}, x: "',
    "backslashes": "\\ \\\\ \\' \\\" \\n \\u0041 ends in one \\",
    "newlines": "a\nb\r\nc\rd",
    "u2028-u2029": "a\u2028gateway: {auth: {mode: 'none'}}\u2029b",
    "comment-end": "*/ gateway: {auth: {mode: 'none'}}, /*",
    "line-break-then-keys": "\n}, gateway: {auth: {mode: 'none'}}, x: {//",
    "brace": "}",
    "other-placeholders": "${OPENCLAW_GATEWAY_TOKEN} $${HOME} ${HOME} ${ $ end$",
    "dollar-at-end": "x$",
    "control-and-unicode": "\x00\x07\x1b\x7f ünï ✓ 🦀",
    "64KiB": (PAYLOAD + "x" * 65536)[: 65536 - 8] + "'\"\\}*/\n\u2028",
}
# (the slot in the document, what channels.matrix.homeserver must read; None: the render must refuse)
POSITIONS = {
    "double-quoted": (f'homeserver: "{PLACEHOLDER}"', lambda v: v),
    "single-quoted": (f"homeserver: '{PLACEHOLDER}'", lambda v: v),
    "inside-text-single": (f"homeserver: 'https://{PLACEHOLDER}/path'", lambda v: f"https://{v}/path"),
    "after-an-escape": (f'homeserver: "\\\\\\{PLACEHOLDER}"', lambda v: "\\" + v),
    "spelled-with-escapes": ('homeserver: "\\u0024\\{' + NAME + '}"', lambda v: v),
    "line-comment": (f'homeserver: "plain", // {PLACEHOLDER}', None),
    "block-comment": (f'homeserver: /* {PLACEHOLDER} */ "plain"', None),
    "unquoted": (f"homeserver: {PLACEHOLDER}", None),
    "key": (f'"{PLACEHOLDER}": "plain", homeserver: "plain"', None),
}
DOCUMENT = """// a document of this test's own
{
  gateway: { auth: { mode: 'token', token: "${OPENCLAW_GATEWAY_TOKEN}" } },
  channels: {
    matrix: {
      SLOT,
      dm: { policy: "pairing" },
    },
  },
  logging: { level: 'info' },
}
"""
PLAIN = DOCUMENT.replace("SLOT", 'homeserver: "plain"')
KINDS = ["template", "overlay"]
# an independent parser (pure Python: ~1 s for 64 KiB here, so each distinct text is parsed once)
parse = functools.lru_cache(maxsize=32)(json5.loads)


def values_for(value: str) -> dict[str, str]:
    return {"OPENCLAW_GATEWAY_TOKEN": TOKEN_VALUE, NAME: value, "OPENCLAW_LOG_LEVEL": "info"}


def gateway_env(value: str) -> dict[str, str]:
    """What OpenClaw's own expansion sees: the allowlisted values and others that must not leak in."""
    return {**values_for(value), "HOME": "LEAKED-HOME", "OTHER": "LEAKED-OTHER"}


def render_as(kind: str, text: str, values: dict[str, str], tmp_path: Path) -> str:
    if kind == "template":
        return render(text, values, "template t.json5")
    overlay = tmp_path / "overlay.json5"
    overlay.write_text(text, encoding="utf-8")
    return render_overlay(overlay, values)


def outcome(kind: str, position: str, value: str, tmp_path: Path) -> dict | None:
    """The config OpenClaw would see, or None when the render refused."""
    slot, _ = POSITIONS[position]
    try:
        rendered = render_as(kind, DOCUMENT.replace("SLOT", slot), values_for(value), tmp_path)
    except EntryError:
        return None
    return resolve(parse(rendered), gateway_env(value))


def expected(kind: str, position: str, value: str, tmp_path: Path) -> dict:
    """The placeholder-free render with homeserver set to what the value must read as."""
    _, reads_as = POSITIONS[position]
    config = resolve(parse(render_as(kind, PLAIN, values_for(value), tmp_path)), gateway_env(value))
    config["channels"]["matrix"]["homeserver"] = reads_as(value) if reads_as else "plain"
    return config


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("position", sorted(POSITIONS))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_value_never_adds_or_changes_a_key(kind, position, case, tmp_path):
    """Refused, or the value byte for byte and everything else exactly the placeholder-free render."""
    value = HOSTILE[case]
    seen = outcome(kind, position, value, tmp_path)
    if seen is not None:
        assert seen == expected(kind, position, value, tmp_path)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("position", sorted(POSITIONS))
def test_strings_substitute_and_everywhere_else_is_refused(kind, position, tmp_path):
    """The rule itself, with a harmless value: substituted in a quoted string value, refused elsewhere
    with one line naming the file, the line and the placeholder."""
    slot, reads_as = POSITIONS[position]
    text = DOCUMENT.replace("SLOT", slot)
    if reads_as:
        assert outcome(kind, position, "harmless", tmp_path) == expected(kind, position, "harmless", tmp_path)
        return
    with pytest.raises(EntryError) as refused:
        render_as(kind, text, values_for("harmless"), tmp_path)
    message = str(refused.value)
    line = 1 + text[: text.index(PLACEHOLDER)].count("\n")
    assert "\n" not in message
    assert f"line {line}: {PLACEHOLDER}" in message
    assert ("t.json5" if kind == "template" else "overlay.json5") in message
    assert "$" + PLACEHOLDER in message, "the fix: a literal is written $${NAME}"


@pytest.mark.parametrize("kind", KINDS)
def test_literal_and_unknown_placeholders_keep_their_rules(kind, tmp_path):
    """`$${NAME}` stays a literal everywhere; a non-allowlisted name: literal in a template, refused in an overlay."""
    literal = "{a: '$${OPENCLAW_GATEWAY_TOKEN}', /* $${HOME} */ b: \"x $${HOME}\"}"
    seen = resolve(json5.loads(render_as(kind, literal, values_for("v"), tmp_path)), gateway_env("v"))
    assert seen == {"a": "${OPENCLAW_GATEWAY_TOKEN}", "b": "x ${HOME}"}
    unknown = "{a: 'x ${OTHER}'}"
    if kind == "template":
        seen = resolve(json5.loads(render_as(kind, unknown, values_for("v"), tmp_path)), gateway_env("v"))
        assert seen == {"a": "x ${OTHER}"}
    else:
        with pytest.raises(EntryError, match=r"\$\{OTHER\} is not an allowlisted variable"):
            render_as(kind, unknown, values_for("v"), tmp_path)


def test_strings_without_placeholders_are_left_byte_for_byte():
    text = "{a: 'it\\'s', b: \"\\u00e9\\x41\", c: '$${X}', /* ' */ d: 1e3, e: [\"\\\\\", '\"']}\n"
    assert render(text, values_for("v")) == text


def test_unclosed_string_is_refused_with_its_line():
    with pytest.raises(EntryError, match=r"t line 2: a quoted string does not end on its line"):
        render('{\n a: "open ${X}\n }', values_for("v"), "t")


STRING_ALPHABET = ["a", "'", '"', "\\", "\n", "\r", "\t", "\x00", "\x7f", "\u2028", "\u2029", "é", "🦀", "$", "{", "}"]


def test_encode_string_reads_back_exactly_with_an_independent_parser():
    rng = random.Random(21)
    for _ in range(2000):
        text = "".join(rng.choice(STRING_ALPHABET) for _ in range(rng.randint(0, 12)))
        for quote in "\"'":
            assert json5.loads(encode_string(text, quote)) == text


def test_decode_string_agrees_with_an_independent_parser():
    bodies = ["plain", "\\'\\\"\\\\", "\\b\\f\\n\\r\\t\\v\\0", "\\x41\\u00e9\\ud83e\\udd80", "a\\\nb", "\\$\\{\\q"]
    for body in bodies:
        assert decode_string(body) == json5.loads('"' + body + '"'), body


TEXT_PIECES = ["$", "$$", "{", "}", "A", "x", "{A}", "${A}", "${B}", "$${A}", "${NOPE}", "${a}"]


def test_substitution_is_inverted_exactly_by_openclaws_expansion():
    """Random string contents and values made of `$`, braces and placeholders: after the render and
    OpenClaw's own expansion each placeholder reads as its value and everything else as written."""
    rng = random.Random(2028)
    for _ in range(3000):
        content = "".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(0, 6)))
        values = {n: "".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(1, 4))) for n in ("A", "B")}
        rendered = json5.loads(render(json.dumps({"k": content}), values))["k"]
        seen = substitute(rendered, {**values, "NOPE": "LEAK", "a": "LEAK"})
        assert seen == substitute(content, values), (content, values, rendered)
        assert substitute(escape_for_openclaw(values["A"]), {"A": "LEAK", "B": "LEAK"}) == values["A"]


# -- the real entrypoint process (exit 78, one line) and the real pinned OpenClaw ----------------------


@pytest.mark.parametrize("position", sorted(POSITIONS))
def test_entrypoint_process_with_a_user_template(run_entry, tmp_path, position):
    """OPENCLAW_NIX_TEMPLATE pointing at a user's template holding the payload: exit 78 with one line,
    or a written config that reads as the value with nothing else changed."""
    slot, reads_as = POSITIONS[position]
    template = tmp_path / "user-template.json5"
    template.write_text(DOCUMENT.replace("SLOT", slot))
    result = run_entry("--check", env={**values_for(PAYLOAD), "OPENCLAW_NIX_TEMPLATE": str(template)})
    if reads_as is None:
        assert result.returncode == EX_CONFIG, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and str(template) in errors[0] and PLACEHOLDER in errors[0], result.stderr
        assert not result.path("/config/openclaw.json").exists()
        return
    assert result.returncode == 0, result.stderr
    seen = resolve(json5.loads(result.path("/config/openclaw.json").read_text()), gateway_env(PAYLOAD))
    assert seen == expected("template", position, PAYLOAD, tmp_path)


def openclaw_get(config: Path, path: str, env: dict[str, str], home: Path):
    """`openclaw config get PATH --json` of the pinned version on `config`, with `env` as the gateway's."""
    node, script = openclaw_cli()
    proc = subprocess.run(
        [str(node), str(script), "config", "get", path, "--json"],
        env={
            "PATH": f"{node.parent}:/usr/bin:/bin",
            "HOME": str(home),
            "OPENCLAW_CONFIG_PATH": str(config),
            "OPENCLAW_STATE_DIR": str(home / "state"),
            "OPENCLAW_NO_AUTO_UPDATE": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


REAL_VALUES = ["issue-payload", "comment-end", "other-placeholders"]


@pytest.mark.network
@pytest.mark.parametrize("position", ["double-quoted", "single-quoted"])
@pytest.mark.parametrize("case", REAL_VALUES)
def test_real_openclaw_reads_the_value_from_a_template(position, case, tmp_path):
    value = HOSTILE[case]
    slot, _ = POSITIONS[position]
    config = tmp_path / "openclaw.json"
    config.write_text(render(DOCUMENT.replace("SLOT", slot), values_for(value)))
    env = {k: v for k, v in gateway_env(value).items() if k != "HOME"}
    assert openclaw_get(config, "channels.matrix.homeserver", env, tmp_path) == value
    assert openclaw_get(config, "gateway.auth.mode", env, tmp_path) == "token"


@pytest.mark.network
@pytest.mark.parametrize("position", ["double-quoted", "single-quoted", "block-comment"])
def test_real_openclaw_reads_the_value_from_an_overlay(run_overlay, position, tmp_path):  # noqa: F811
    """The issue's overlay through the entrypoint process (its own `openclaw config validate` included)."""
    slot, reads_as = POSITIONS[position]
    overlay = "{ channels: { matrix: { " + slot + " } } }"
    result = run_overlay(overlay, env={NAME: PAYLOAD})
    if reads_as is None:
        assert result.returncode == EX_CONFIG, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and PLACEHOLDER in errors[0], result.stderr
        return
    assert result.returncode == 0, result.stderr
    config = result.path("/config/openclaw.json")
    env = {"OPENCLAW_GATEWAY_TOKEN": "t", NAME: PAYLOAD, "OTHER": "LEAKED-OTHER"}
    assert openclaw_get(config, "channels.matrix.homeserver", env, tmp_path) == PAYLOAD
    assert openclaw_get(config, "gateway.auth.mode", env, tmp_path) == "token"


def test_doit_template_refuses_what_the_entrypoint_refuses(contract, tmp_path):
    """The build's template check renders with the entrypoint's own rules: no validation is reached."""
    template = tmp_path / "openclaw.json5"
    template.write_text(DOCUMENT.replace("SLOT", POSITIONS["block-comment"][0]))
    user_contract = SimpleNamespace(template_path=template, allowlist=contract.allowlist)
    with pytest.raises(SystemExit, match=r"refused as the entrypoint would refuse it: template .* line 6: \$\{"):
        template_check.check(user_contract)


def test_shipped_overlays_pass_the_entrypoints_overlay_rules(contract):
    assert template_check.check_shipped_overlays(contract), "no shipped overlay found to check"
