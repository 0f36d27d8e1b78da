"""The config template as QA reads it: JSON5 parsed into a tree, values selected by key path.

QA must hold for any valid template a user writes (comments, any key order, quotes, CRLF), so no
scenario looks at the template's or the seeded config's text by position: it parses both as JSON5
and compares values at paths, or compares whole files as bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import json5

Path_ = tuple[str | int, ...]
PLACEHOLDER = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}")  # `$${NAME}` is a literal, not a placeholder


def parse(data: bytes | str) -> Any:
    """A JSON5 document (bytes are UTF-8; CRLF, comments, trailing commas and single quotes are fine)."""
    return json5.loads(data.decode("utf-8") if isinstance(data, bytes) else data)


def leaves(tree: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every scalar in the tree with its key path (list items by index)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from leaves(value, (*path, index))
    else:
        yield path, tree


def at(tree: Any, path: Path_) -> Any:
    """The value at `path` (KeyError/IndexError when it is not there)."""
    for key in path:
        tree = tree[key]
    return tree


def dotted(path: Path_) -> str:
    return ".".join(str(k) for k in path)


def placeholders(tree: Any) -> dict[Path_, list[str]]:
    """Paths whose string value names `${VAR}` placeholders, with the names (in order)."""
    found = {}
    for path, value in leaves(tree):
        names = PLACEHOLDER.findall(value) if isinstance(value, str) else []
        if names:
            found[path] = names
    return found


def fixed_values(tree: Any) -> dict[Path_, Any]:
    """Every leaf that is not a placeholder string: what seeding must carry over unchanged."""
    holders = placeholders(tree)
    return {path: value for path, value in leaves(tree) if path not in holders}


@dataclass(frozen=True)
class Template:
    """The config template a container seeds /config from: the shipped one (baked into the image), or a
    variant mounted read-only over the image's copy, which is what rebuilding with it would give."""

    name: str
    data: bytes
    mounts: list[str] = field(default_factory=list)
