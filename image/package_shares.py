"""Which Debian packages each top-level package alone brings into the image, and the bytes they hold there.

A size goal argued from "ffmpeg pulls in N MB" needs that N computed, not read off dpkg's graph by hand.
A package's closure is everything reachable from it through Depends and Pre-Depends; its exclusive share is
the part of that closure no other root reaches. The roots are the packages the builder asks for plus the
base system (what mmdebstrap's minbase installs whatever is asked: Essential or Priority: required packages,
and apt). Bytes are
those of the files actually present in the image (a dpkg-excluded file counts nothing), each path once.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from image.layers import clean_name

BASE = "base system"  # the root of what minbase installs without being asked
MINBASE_EXTRA = ("apt",)  # minbase adds apt to the Essential and Priority: required packages
STATUS = "var/lib/dpkg/status"
INFO = re.compile(r"var/lib/dpkg/info/([^/:]+)(?::[\w-]+)?\.list")
FIELD = re.compile(r"^([\w-]+):[ \t]*(.*)$")


@dataclass(frozen=True)
class Package:
    name: str
    depends: tuple[tuple[str, ...], ...]  # Depends + Pre-Depends: each group lists its alternatives by name
    provides: tuple[str, ...]
    base: bool  # Essential: yes or Priority: required


def _names(relation: str) -> list[tuple[str, ...]]:
    """`a (>= 1), b:any | c` -> [("a",), ("b", "c")]: versions and architecture qualifiers dropped."""
    groups = []
    for group in filter(None, (g.strip() for g in relation.split(","))):
        groups.append(tuple(re.split(r"[\s(:\[]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")))
    return groups


def parse_status(text: str) -> dict[str, Package]:
    """The installed packages of a dpkg status file, by name."""
    packages = {}
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            match = FIELD.match(line)
            if match and not line[0].isspace():
                key = match.group(1)
                fields[key] = match.group(2)
            elif key:  # a continuation line (Description, Conffiles)
                fields[key] += "\n" + line
        if "Package" not in fields or not fields.get("Status", "").endswith(" installed"):
            continue
        name = fields["Package"]
        packages[name] = Package(
            name=name,
            depends=tuple(_names(fields.get("Pre-Depends", "")) + _names(fields.get("Depends", ""))),
            provides=tuple(g[0] for g in _names(fields.get("Provides", ""))),
            base=fields.get("Essential") == "yes" or fields.get("Priority") == "required",
        )
    return packages


def closure(packages: Mapping[str, Package], roots: Iterable[str]) -> set[str]:
    """Every installed package reachable from `roots`. An alternative or a virtual name counts every installed
    package that satisfies it, so no package is credited to one root while another root could be its reason."""
    providers: dict[str, set[str]] = {}
    for package in packages.values():
        for virtual in package.provides:
            providers.setdefault(virtual, set()).add(package.name)
    seen: set[str] = set()
    todo = [r for r in roots if r in packages]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for group in packages[name].depends:
            for alt in group:
                todo += ([alt] if alt in packages else []) + sorted(providers.get(alt, ()))
    return seen


def root_sets(packages: Mapping[str, Package], asked: Iterable[str]) -> dict[str, list[str]]:
    """{root: its packages}: each package the builder asks for, and the base system."""
    roots = {name: [name] for name in asked}
    roots[BASE] = sorted(p.name for p in packages.values() if p.base or p.name in MINBASE_EXTRA)
    return roots


def exclusive(packages: Mapping[str, Package], roots: Mapping[str, list[str]]) -> dict[str, set[str]]:
    """{root: the packages in its closure that no other root's closure holds}."""
    closures = {root: closure(packages, names) for root, names in roots.items()}
    out = {}
    for root, mine in closures.items():
        others = set().union(*(c for r, c in closures.items() if r != root))
        out[root] = mine - others
    return out


def resolve(path: str, links: Mapping[str, str]) -> str:
    """`path` (relative to /) with its directory symlinks followed, e.g. usr-merge's bin -> usr/bin."""
    for _ in range(8):  # bounded: a link loop leaves the path as far as it got
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in links:
                target = links[prefix]
                base = "" if target.startswith("/") else prefix.rpartition("/")[0]
                path = "/".join(filter(None, [base, target.strip("/"), *parts[i:]]))
                break
        else:
            return path
    return path


def owned_files(lists: Mapping[str, str], links: Mapping[str, str]) -> dict[str, set[str]]:
    """{package: the paths (relative to /, links followed) its dpkg .list names}."""
    return {name: {resolve(line.strip().lstrip("/"), links) for line in text.splitlines() if line.strip()}
            for name, text in lists.items()}  # fmt: skip


def share_bytes(names: Iterable[str], owned: Mapping[str, set[str]], files: Mapping[str, tuple[int, str]]) -> int:
    """Bytes of the regular files present in the image that any of `names` owns, each path once."""
    paths = set().union(*(owned.get(n, set()) for n in names))
    return sum(files[p][0] for p in paths if p in files)


@dataclass
class DpkgCapture:
    """Collects the dpkg database and the symlinks while image_files walks the layers (one pass over the tar)."""

    status: str = ""
    lists: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def members(self, tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        """`tar`'s members (a stream), unchanged; the dpkg files among them are read on the way."""
        for member in tar:
            path = clean_name(member.name)
            if member.issym():
                self.links[path] = member.linkname
            elif member.isreg() and (path == STATUS or INFO.fullmatch(path)):
                text = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
                if path == STATUS:
                    self.status = text
                else:
                    self.lists[INFO.fullmatch(path).group(1)] = text  # type: ignore[union-attr]
            yield member
