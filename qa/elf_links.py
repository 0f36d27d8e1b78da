"""Every ELF file under the given roots, with the shared libraries `ldd` cannot find for it.

Stdlib only: QA runs this file's source inside the image (`python3 -c SOURCE /usr /opt`), so it proves
that trimming the Debian base (image/parity/sources.toml, dpkg_excludes) removed nothing a binary, a
library or a node addon links. Prints one JSON object: {"checked": N, "missing": {path: [soname, ...]}}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ELF_MAGIC = b"\x7fELF"


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


def missing_libraries(path: str) -> list[str]:
    """Sonames `ldd` reports as "not found" (static and non-dynamic files report none)."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
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
