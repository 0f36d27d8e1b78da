"""Deterministic OCI layer tarballs: same inputs and epoch, same bytes, same digest.

Every entry is owned by root (OpenClaw refuses plugin files owned by another uid), has its
mtime clamped to SOURCE_DATE_EPOCH, is emitted in sorted order, and loses world-write except the
directories the contract wants 1777. No file keeps a setuid/setgid bit (CIS Docker Benchmark 4.8):
nothing in the image may gain privileges; it runs as any non-root uid and needs none.
Hardlinks in staged trees become regular files: OpenClaw rejects hardlinked plugin files outside
Nix mode.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from plumbing.files import replaced

STICKY_DIRS = {"config", "state", "logs", "tmp", "var/tmp"}


@dataclass(frozen=True)
class Layer:
    path: Path
    diff_id: str  # sha256 of the uncompressed tar, as the image config lists it
    size: int


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, fh):
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.fh.write(data)


def clean_name(name: str) -> str:
    """'./usr/bin/' -> 'usr/bin' (but '.openclaw' keeps its dot)."""
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def _normalise(info: tarfile.TarInfo, epoch: int) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = min(int(info.mtime), epoch)
    name = clean_name(info.name)
    info.name = name
    if info.isdir() and name in STICKY_DIRS:
        info.mode = 0o1777
    else:
        info.mode &= ~0o002
    if not info.isdir():
        info.mode &= ~0o6000
    info.pax_headers = {}
    return info


def write_layer(entries: Iterable[tuple[tarfile.TarInfo, io.BufferedIOBase | None]], out: Path, epoch: int) -> Layer:
    """Write (TarInfo, content) pairs as a normalised tar at `out`, atomically."""
    with replaced(out) as tmp, tmp.open("wb") as raw:
        hasher = _HashingWriter(raw)
        with tarfile.open(fileobj=hasher, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            for info, content in entries:
                tar.addfile(_normalise(info, epoch), content)
    return Layer(out, "sha256:" + hasher.sha.hexdigest(), hasher.size)


def _parents(rel: str, seen: set[str]) -> Iterator[str]:
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = "/".join(parts[:i])
        if parent not in seen:
            seen.add(parent)
            yield parent


def tree_entries(root: Path, extra_dirs: Iterable[str] = ()) -> Iterator[tuple[tarfile.TarInfo, object]]:
    """Entries for everything under `root` (sorted, parents first), plus empty `extra_dirs`."""
    files: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            full = Path(dirpath, name)
            files[str(full.relative_to(root))] = full
    for extra in extra_dirs:
        files.setdefault(extra.strip("/"), None)  # type: ignore[arg-type]
    seen: set[str] = set()
    for rel in sorted(files):
        for parent in _parents(rel, seen):
            if parent not in files:
                info = tarfile.TarInfo(parent)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                yield info, None
        seen.add(rel)
        full = files[rel]
        if full is None:
            info = tarfile.TarInfo(rel)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield info, None
            continue
        st = full.lstat()
        info = tarfile.TarInfo(rel)
        info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
        if stat.S_ISLNK(st.st_mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
            yield info, None
        elif stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            yield info, None
        elif stat.S_ISREG(st.st_mode):
            info.type, info.size = tarfile.REGTYPE, st.st_size
            with full.open("rb") as fh:
                yield info, fh
        # sockets, fifos and device nodes never belong in a layer


def duplicate_files(source: Path) -> dict[str, str]:
    """Regular files of a tar whose bytes and mode equal an earlier file's: {name: that earlier name}. Debian ships
    some files twice rather than hardlinked (git and scalar in both /usr/bin and /usr/lib/git-core, one
    copyright text per library package, perl's Unicode tables in perl-base and perl-modules): ~13 MB."""
    first: dict[tuple[int, int, str], str] = {}
    duplicates = {}
    with tarfile.open(source) as tar:
        for member in tar:
            if not member.isreg() or member.size == 0:
                continue
            digest = hashlib.sha256()
            with tar.extractfile(member) as fh:  # type: ignore[union-attr]
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            name = clean_name(member.name)
            duplicates[name] = first.setdefault((member.size, member.mode, digest.hexdigest()), name)
    return {name: target for name, target in duplicates.items() if name != target}


def tar_entries(source: Path, link_duplicates: bool = False) -> Iterator[tuple[tarfile.TarInfo, object]]:
    """Entries of an existing rootfs tar (mmdebstrap's, already in a reproducible order), minus
    device nodes and fifos. Its hardlinks (git's ~100 builtins) are kept: expanding them costs 300 MB.
    With `link_duplicates`, a file whose bytes equal an earlier one's becomes a hardlink to it: the same
    bytes under every name, stored once (the files are root-owned and nothing rewrites them in place)."""
    links = duplicate_files(source) if link_duplicates else {}
    with tarfile.open(source) as tar:
        for member in tar:
            if member.ischr() or member.isblk() or member.isfifo() or clean_name(member.name) == "":
                continue
            info = copy.copy(member)  # _normalise mutates; keep the archive's index intact
            if member.islnk():
                info.linkname = clean_name(member.linkname)
            elif clean_name(member.name) in links:
                info.type, info.size = tarfile.LNKTYPE, 0
                info.linkname = links[clean_name(member.name)]
                yield info, None
                continue
            yield info, tar.extractfile(member) if member.isreg() else None
