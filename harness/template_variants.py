"""Templates a user could write: the shipped template rewritten in the ways JSON5 allows.

Each variant means what the shipped template means (plus, where named, one added setting), but is
spelled differently: comments anywhere (also on the last line, with no newline after it), keys in
another order, single-quoted strings, trailing commas, CRLF line endings. QA run against them
proves the scenarios read the config, not our own template's text. Placeholders stay in
"double-quoted" strings (the template's documented rule). Derived from whatever template ships, so
they follow it when it changes; tests/test_template_variants.py has the pinned OpenClaw validate each.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.template import PLACEHOLDER, parse

IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
LAST_LINE = "// an operator's note on the last line, with no newline after it"
# Settings a user adds, each valid for the pinned OpenClaw: a channel setting, and a second use of an
# allowlisted variable at a new place.
ADDED_CHANNEL_SETTING = (("channels", "matrix", "textChunkLimit"), 2000)
ADDED_VARIABLE = (("logging", "consoleLevel"), "${OPENCLAW_LOG_LEVEL}")


@dataclass(frozen=True)
class Style:
    """How `write` spells a tree."""

    reverse_keys: bool = False
    single_quotes: bool = False  # for strings and keys that hold no placeholder
    trailing_commas: bool = True
    comments: bool = False  # line comments before every key and between key and value, block ones after values
    newline: str = "\n"


def _string(value: str, style: Style) -> str:
    if style.single_quotes and not PLACEHOLDER.search(value):
        body = json.dumps(value, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")
        return f"'{body}'"
    return json.dumps(value, ensure_ascii=False)


def _key(key: str, style: Style) -> str:
    if IDENTIFIER.fullmatch(key) and not style.single_quotes:
        return key
    return _string(key, style)


def _scalar(value: Any, style: Style) -> str:
    text = _string(value, style) if isinstance(value, str) else json.dumps(value)
    return text + (" /* as shipped */" if style.comments else "")


def _lines(value: Any, style: Style, indent: str) -> list[str]:
    """`value` as lines; the first carries no indent (it follows a key), the rest are indented."""
    inner = indent + "  "
    if isinstance(value, dict):
        items = list(value.items())[:: -1 if style.reverse_keys else 1]
        out = ["{"]
        for n, (key, item) in enumerate(items):
            if style.comments:
                out.append(f"{inner}// {key}: set by the operator")
            body = _lines(item, style, inner)
            comma = "," if n < len(items) - 1 or style.trailing_commas else ""
            if style.comments and len(body) == 1:  # a comment between a key and its value, too
                out += [f"{inner}{_key(key, style)}: // the value follows", f"{inner}  {body[0]}"]
            else:
                out += [f"{inner}{_key(key, style)}: {body[0]}", *body[1:]]
            out[-1] += comma
        return [*out, f"{indent}}}"]
    if isinstance(value, list):
        out = ["["]
        if style.comments:
            out.append(f"{inner}// list items")
        for n, item in enumerate(value):
            body = _lines(item, style, inner)
            out += [inner + body[0], *body[1:]]
            out[-1] += "," if n < len(value) - 1 or style.trailing_commas else ""
        return [*out, f"{indent}]"]
    return [_scalar(value, style)]


def write(tree: Any, style: Style = Style()) -> str:
    """The tree as a JSON5 document in `style` (ends with a newline)."""
    head = ["// written by hand: every comment, quote and comma here is the operator's"] if style.comments else []
    return style.newline.join([*head, *_lines(tree, style, "")]) + style.newline


def _with(tree: Any, *settings: tuple[tuple[str, ...], Any]) -> Any:
    tree = copy.deepcopy(tree)
    for path, value in settings:
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _last_line(text: str, newline: str = "\n") -> str:
    return text.rstrip("\r\n") + newline + LAST_LINE


VARIANTS: dict[str, Callable[[str, Any], str]] = {
    "comment-on-last-line": lambda text, tree: _last_line(text),
    "comments-everywhere": lambda text, tree: _last_line(write(tree, Style(comments=True))),
    "keys-reordered": lambda text, tree: write(tree, Style(reverse_keys=True, trailing_commas=False)),
    "single-quoted": lambda text, tree: write(tree, Style(single_quotes=True)),
    "trailing-commas": lambda text, tree: write(tree, Style(trailing_commas=True)),
    "crlf": lambda text, tree: _crlf(text),
    "added-channel-setting": lambda text, tree: write(_with(tree, ADDED_CHANNEL_SETTING)),
    "added-allowlisted-variable": lambda text, tree: write(_with(tree, ADDED_VARIABLE)),
    "all-at-once": lambda text, tree: _last_line(
        write(
            _with(tree, ADDED_CHANNEL_SETTING, ADDED_VARIABLE),
            Style(reverse_keys=True, single_quotes=True, comments=True, newline="\r\n"),
        ),
        "\r\n",
    ),
}


def variant(name: str, shipped: str) -> bytes:
    """Variant `name` of the shipped template text, as the bytes a user's file would hold."""
    return VARIANTS[name](shipped, parse(shipped)).encode("utf-8")
