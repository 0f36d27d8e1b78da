"""Apply a find/replace patch spec (image/patches/*.toml) to an installed npm package, or fail loudly.

Both builders run this same file at build time: the parity builder imports it, the Nix build runs it
as a script (`python3 apply.py SPEC PACKAGE_ROOT`), so it is stdlib-only and imports nothing of ours.

Why find/replace and not a diff: the pinned package's chunk file names are content hashes, which a
rebuild from source need not reproduce; the text is what is stable. Why so strict: a patch that
silently stops matching (a new release, a changed chunk) would ship the bug again unnoticed, so
every `find` must occur exactly once over the files the spec names, the package must be the one
and the version the spec was written for, and every `same_file` text (what the replacement relies
on, e.g. a logger in scope) must occur exactly once in the file patched.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path


class PatchError(SystemExit):
    """Raised (exit status 1, message on stderr) when a spec does not apply exactly."""

    def __init__(self, spec: dict, message: str):
        super().__init__(f"patch {spec.get('name', '?')}: {message}")


def load(spec_path: Path) -> dict:
    spec = tomllib.loads(spec_path.read_text(encoding="utf-8"))
    for key in ("name", "package", "version", "files", "replace"):
        if not spec.get(key):
            raise PatchError(spec, f"{spec_path} lacks `{key}`")
    return spec


def apply(spec_path: Path, package_root: Path) -> list[str]:
    """Apply one spec to `package_root` (the folder holding the package's package.json); returns
    "relative/file: what" lines. Writes nothing unless every replacement matched exactly."""
    spec = load(spec_path)
    manifest = json.loads((package_root / "package.json").read_text(encoding="utf-8"))
    if (manifest.get("name"), manifest.get("version")) != (spec["package"], spec["version"]):
        raise PatchError(
            spec,
            f"written for {spec['package']}@{spec['version']}, found {manifest.get('name')}@{manifest.get('version')}"
            f" in {package_root}: check whether the release still needs it, then update or remove {spec_path.name}",
        )
    files = sorted(p for p in package_root.glob(spec["files"]) if p.is_file())
    texts = {p: p.read_text(encoding="utf-8") for p in files}
    changed: dict[Path, str] = {}
    done = []
    for number, rule in enumerate(spec["replace"], 1):
        find, replace = rule["find"], rule["replace"]
        hits = {p: (changed.get(p) or t).count(find) for p, t in texts.items()}
        found = {p: n for p, n in hits.items() if n}
        if sum(found.values()) != 1:
            where = ", ".join(f"{p.relative_to(package_root)} x{n}" for p, n in found.items()) or "nowhere"
            raise PatchError(
                spec,
                f"replacement {number}: the text to replace must occur exactly once in {spec['files']}"
                f" ({len(files)} files), found {where}",
            )
        (path,) = found
        text = changed.get(path) or texts[path]
        for needed in rule.get("same_file", []):
            if text.count(needed) != 1:
                raise PatchError(
                    spec,
                    f"replacement {number}: {path.relative_to(package_root)} must contain {needed!r} exactly once"
                    f" (found {text.count(needed)})",
                )
        changed[path] = text.replace(find, replace, 1)
        done.append(f"{path.relative_to(package_root)}: replacement {number} of {spec['name']}")
    for path, text in changed.items():
        path.write_text(text, encoding="utf-8")
    return done


def apply_all(specs: list[Path], package_root: Path, package: str) -> list[str]:
    """Every spec written for `package`, in name order."""
    lines = []
    for spec_path in sorted(specs):
        if load(spec_path)["package"] == package:
            lines += apply(spec_path, package_root)
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: apply.py SPEC.toml PACKAGE_ROOT", file=sys.stderr)
        return 2
    for line in apply(Path(argv[0]), Path(argv[1])):
        print(f"[patch] {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
