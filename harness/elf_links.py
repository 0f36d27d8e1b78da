"""Every ELF file under the given roots, with the shared libraries its loader cannot find for it.

Stdlib only: QA runs this file's source inside the image (`python3 -c SOURCE /usr /opt /nix/store`), so it
proves that trimming the Debian base (image/parity/sources.toml, dpkg_excludes_unused) removed nothing a
binary, a library or a node addon links. Each file is traced by its own ELF interpreter (`ld.so` in trace mode,
as `ldd` does), libraries by the one this python uses: no `ldd` needed, so the Nix image (whose loader
lives in /nix/store) is checked the same way. Prints one JSON object:
{"checked": N, "missing": {path: [soname or "interpreter PATH", ...]}}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ELF_MAGIC = b"\x7fELF"
PT_INTERP = 3


def elf_files(roots: list[str]):
    """Regular files (not symlinks) starting with the ELF magic."""
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    if os.path.islink(path) or not os.path.isfile(path):
                        continue
                    with open(path, "rb") as fh:
                        if fh.read(4) == ELF_MAGIC:
                            yield path
                except OSError:
                    continue


def interpreter(path: str) -> str | None:
    """The PT_INTERP of a 64-bit little-endian ELF file (None for libraries and other classes)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if len(head) < 64 or head[4] != 2 or head[5] != 1:
            return None
        phoff, phentsize, phnum = (
            int.from_bytes(head[32:40], "little"),
            head[54] | head[55] << 8,
            head[56] | head[57] << 8,
        )
        for index in range(phnum):
            fh.seek(phoff + index * phentsize)
            header = fh.read(56)
            if int.from_bytes(header[0:4], "little") == PT_INTERP:
                fh.seek(int.from_bytes(header[8:16], "little"))
                return fh.read(int.from_bytes(header[32:40], "little")).rstrip(b"\0").decode()
    return None


DEFAULT_LOADER = interpreter(os.path.realpath(sys.executable))


def missing_libraries(path: str) -> list[str]:
    """Sonames the loader reports as "not found"; a missing interpreter is reported itself."""
    loader = interpreter(path) or DEFAULT_LOADER
    if not loader:
        return []
    if not os.path.exists(loader):
        return [f"interpreter {loader}"]
    trace = {**os.environ, "LD_TRACE_LOADED_OBJECTS": "1"}  # list, never run: what ldd sets
    out = subprocess.run([loader, path], capture_output=True, text=True, env=trace).stdout
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


def scan(roots: list[str]) -> dict:
    checked, missing = 0, {}
    for path in elf_files(roots):
        checked += 1
        gone = missing_libraries(path)
        if gone:
            missing[path] = gone
    return {"checked": checked, "missing": missing}


if __name__ == "__main__":
    print(json.dumps(scan(sys.argv[1:] or ["/usr", "/opt"])))
