"""Writing files whole: a reader never sees half a file, even if the writer dies mid-way."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced(out: Path, suffix: str = ".partial"):
    """Yield a sibling path to write; on success it replaces `out` in one rename, on error it is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + suffix)
    try:
        yield tmp
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(out: Path, text: str) -> None:
    with replaced(out) as tmp:
        tmp.write_text(text)


def write_json(out: Path, data, *, sort_keys: bool = False, redact: Callable[[str], str] = str) -> None:
    """Indented UTF-8 JSON with a final newline; `redact` rewrites the text first (e.g. redaction)."""
    write_text(out, redact(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=sort_keys)) + "\n")


def read_json(path: Path, default=None):
    """A JSON file another step wrote, or `default` when that step has not run."""
    return json.loads(path.read_text()) if path.exists() else default


def edited_copy(source: Path, names: list[str], dest: Path, file: str, old: str, new: str) -> Path:
    """Copy `names` (files or folders) from `source` to `dest`, then replace `old` by `new` once in `file`.

    For tests that plant one breakage in a copy of the flake or the kubenix module: fails loudly when
    the edit no longer applies, so a planted drift can never silently test nothing.
    """
    for name in names:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (source / name).is_dir() else shutil.copy)(source / name, dest / name)
    target = dest / file
    text = target.read_text()
    if old not in text:
        raise AssertionError(f"{old!r} not in {file}: the planted edit no longer applies")
    target.write_text(text.replace(old, new, 1))
    return dest
