"""Fetch pinned artefacts once into the download cache and verify them before use."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
from pathlib import Path

from image.parity.sources import NpmPackage
from image.paths import DOWNLOADS
from plumbing import commands


class DownloadError(RuntimeError):
    pass


def sri_sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def npm_tarball(pkg: NpmPackage, cache: Path = DOWNLOADS) -> Path:
    """The verified tarball of `pkg`, downloaded with the host's `npm pack` on first use."""
    target = cache / "npm" / pkg.tarball_name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"[download] npm pack {pkg.spec}", flush=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            proc = commands.run(["npm", "pack", "--silent", pkg.spec], cwd=tmp, timeout=1800)
            produced = Path(tmp) / pkg.tarball_name
            if proc.returncode != 0 or not produced.exists():
                raise DownloadError(f"npm pack {pkg.spec} failed: {proc.stderr.strip()[-500:]}")
            produced.rename(target)
    actual = sri_sha512(target)
    if actual != pkg.integrity:
        target.unlink()
        raise DownloadError(f"{pkg.spec}: integrity {actual} != pinned {pkg.integrity}; removed the file, retry")
    return target


def pypi_wheel(name: str, version: str, cache: Path = DOWNLOADS) -> Path:
    """The manylinux x86_64 wheel of name==version (pip verifies against the index hashes)."""
    folder = cache / "pypi"
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(folder.glob(pattern))
    if not found:
        print(f"[download] pip download {name}=={version}", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        commands.run(
            [
                "python3",
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--platform",
                "manylinux2014_x86_64",
                "--python-version",
                "3.11",
                "-d",
                str(folder),
                f"{name}=={version}",
            ],
            timeout=1800,
            check=True,
        )
        found = sorted(folder.glob(pattern))
    if not found:
        raise DownloadError(f"no wheel for {name}=={version} in {folder}")
    return found[0]


def unpack_npm(tarball: Path, dest: Path) -> Path:
    """Unpack an npm tarball (top folder `package/` stripped) into a fresh `dest`."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    commands.run(
        [
            "tar",
            "-xzf",
            str(tarball),
            "-C",
            str(dest),
            "--strip-components=1",
            "--no-same-owner",
            "--no-same-permissions",
        ],
        check=True,
    )
    return dest
