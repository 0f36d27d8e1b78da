"""Apply a find/replace patch spec (image/patches/*.toml) to an installed npm package, or fail loudly.

Both builders run this same file at build time: the parity builder imports it, the Nix build runs it
as a script (`python3 apply.py SPEC PACKAGE_ROOT`), so it is stdlib-only and imports nothing of ours.

Why find/replace and not a diff: the pinned package's chunk file names are content hashes, which a
rebuild from source need not reproduce; the text is what is stable. Why so strict: a patch that
silently stops matching (a new release, a changed chunk) would ship the bug again unnoticed, so
every `find` must occur exactly once over the files the spec names, and every `same_file` text (what
the replacement relies on, e.g. a logger in scope) must occur exactly once in the file patched.

Which releases a spec is for is the spec's own decision, never guessed: `versions` lists the releases
its replacements were checked against (applied, and they must match exactly); `[not_for]` maps a
release to why the patch does not belong there (not applied; the reason goes into the image's record
and labels). A release in neither stops the build, saying whether the texts would match, so whoever
builds it decides and writes that down in the spec.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path


class PatchError(SystemExit):
    """Raised (exit status 1, message on stderr) when a spec does not apply exactly."""

    def __init__(self, spec: dict, message: str):
        super().__init__(f"patch {spec.get('name', '?')}: {message}")


def load(spec_path: Path) -> dict:
    spec = tomllib.loads(spec_path.read_text(encoding="utf-8"))
    for key in ("name", "package", "versions", "files", "replace"):
        if not spec.get(key):
            raise PatchError(spec, f"{spec_path} lacks `{key}`")
    return spec


def apply(spec_path: Path, package_root: Path) -> list[str]:
    """Apply one spec to `package_root` (the folder holding the package's package.json); returns
    "relative/file: what" lines. Writes nothing unless every replacement matched exactly."""
    spec = load(spec_path)
    name, version = package_id(package_root)
    if name != spec["package"] or version not in spec["versions"]:
        raise PatchError(
            spec,
            f"written for {spec['package']}@{' / '.join(spec['versions'])}, found {name}@{version} in {package_root}:"
            f" check whether that release still needs it, then update or remove {spec_path.name}",
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


def package_id(package_root: Path) -> tuple[str | None, str | None]:
    """(name, version) from the package.json in `package_root`."""
    manifest = json.loads((package_root / "package.json").read_text(encoding="utf-8"))
    return manifest.get("name"), manifest.get("version")


def decide(spec_path: Path, package_root: Path) -> str | None:
    """None when the spec is to be applied to this package; the reason when it is declared not for this
    release (`[not_for]`). A release the spec names in neither list stops the build (PatchError) with
    what a trial on a copy says, so the person building it can decide with the facts in hand."""
    spec = load(spec_path)
    name, version = package_id(package_root)
    if name != spec["package"] or version in spec["versions"]:
        return None
    reason = (spec.get("not_for") or {}).get(version)
    if reason:
        return reason
    trial = _trial(spec_path, package_root)
    raise PatchError(
        spec,
        f"checked against {spec['package']}@{' / '.join(spec['versions'])}, not {version}; on {version} {trial}."
        f" Decide: add {version!r} to `versions` in {spec_path.name} (applied, must match), or to its [not_for]"
        " table with the reason it does not belong there",
    )


def _trial(spec_path: Path, package_root: Path) -> str:
    """What applying the spec to a copy of the package's files would do (nothing is written here)."""
    spec = load(spec_path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        for path in package_root.glob(spec["files"]):
            if path.is_file():
                target = copy / path.relative_to(package_root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        (copy / "package.json").write_text(
            json.dumps({"name": spec["package"], "version": spec["versions"][0]}), encoding="utf-8"
        )
        try:
            apply(spec_path, copy)
        except PatchError as err:
            return "its texts do not match (" + str(err.code).split(": ", 1)[1] + ")"
    return "its texts would apply exactly"


def declared(specs: list[Path], package: str, version: str) -> dict:
    """What the specs declare for `package`@`version` without looking at it: {"applied": [names in `versions`],
    "not_applied": {name: reason from [not_for]}} (the Nix image's labels are checked against this)."""
    outcome: dict = {"applied": [], "not_applied": {}}
    for spec_path in sorted(specs):
        spec = load(spec_path)
        if spec["package"] != package:
            continue
        if version in spec["versions"]:
            outcome["applied"].append(spec["name"])
        elif version in (spec.get("not_for") or {}):
            outcome["not_applied"][spec["name"]] = spec["not_for"][version]
    return outcome


def apply_all(specs: list[Path], package_root: Path, package: str) -> dict:
    """Every spec written for `package`, in name order: {"applied": [names], "not_applied": {name: reason},
    "lines": what was done}. A spec that neither applies nor is declared not for this release raises."""
    outcome: dict = {"applied": [], "not_applied": {}, "lines": []}
    for spec_path in sorted(specs):
        spec = load(spec_path)
        if spec["package"] != package:
            continue
        reason = decide(spec_path, package_root)
        if reason is None:
            outcome["lines"] += apply(spec_path, package_root)
            outcome["applied"].append(spec["name"])
        else:
            outcome["not_applied"][spec["name"]] = reason
            outcome["lines"].append(f"{spec['name']} not applied to {package}@{package_id(package_root)[1]}: {reason}")
    return outcome


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: apply.py SPEC.toml PACKAGE_ROOT", file=sys.stderr)
        return 2
    spec_path, root = Path(argv[0]), Path(argv[1])
    reason = decide(spec_path, root)
    lines = apply(spec_path, root) if reason is None else [f"{load(spec_path)['name']} not applied: {reason}"]
    for line in lines:
        print(f"[patch] {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
