"""What an image holds, read from its docker-archive as a container sees it, and what its large files are for.

The layers are read in the manifest's order: a later layer's file replaces an earlier one, a whiteout
deletes, and a hardlink adds no bytes. PURPOSES says what each large file is for; bench/largest_paths.py
reports the largest ones, and a path without a purpose is reported as such.
"""

from __future__ import annotations

import fnmatch
import json
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from image.layers import clean_name

# (glob over the path, what it is for). First match wins; keep the specific globs first.
PURPOSES: list[tuple[str, str]] = [
    ("usr/local/bin/node", "node 22, V8 and ICU built in: runs the gateway, gemini-cli and npm"),
    ("usr/bin/gh", "GitHub CLI (toolchain), one Go binary"),
    ("usr/local/bin/uv", "uv, Python package and project manager (toolchain), one Rust binary"),
    ("usr/lib/x86_64-linux-gnu/libicudata.so.*", "ICU's Unicode and locale data: libxml2 (linked by ffmpeg) links ICU"),
    ("usr/lib/x86_64-linux-gnu/libcodec2.so.*", "Codec 2 speech codec, linked by ffmpeg's libavcodec"),
    ("usr/lib/x86_64-linux-gnu/libx265.so.*", "H.265/HEVC encoder, linked by ffmpeg's libavcodec"),
    ("usr/lib/x86_64-linux-gnu/libavcodec.so.*", "ffmpeg's codec library (toolchain)"),
    ("usr/lib/x86_64-linux-gnu/libavfilter.so.*", "ffmpeg's filter library (toolchain)"),
    ("usr/lib/x86_64-linux-gnu/libavformat.so.*", "ffmpeg's container library (toolchain)"),
    ("usr/lib/x86_64-linux-gnu/librsvg-2.so.*", "SVG renderer, linked by ffmpeg's libavcodec"),
    ("usr/lib/x86_64-linux-gnu/libplacebo.so.*", "GPU/CPU video rendering, linked by ffmpeg's libavfilter"),
    ("usr/lib/x86_64-linux-gnu/libSvtAv1Enc.so.*", "AV1 encoder, linked by ffmpeg's libavcodec"),
    ("usr/lib/x86_64-linux-gnu/libaom.so.*", "AV1 codec, linked by ffmpeg's libavcodec"),
    ("usr/lib/x86_64-linux-gnu/lapack/liblapack.so.*", "linear algebra, linked by pocketsphinx (ffmpeg's asr filter)"),
    ("usr/lib/x86_64-linux-gnu/libflite_cmu_us_*.so.*", "flite voice, linked by ffmpeg's flite filter"),
    ("usr/lib/x86_64-linux-gnu/libcrypto.so.*", "OpenSSL, linked by python, curl's and git's TLS stack"),
    ("usr/lib/x86_64-linux-gnu/libperl.so.*", "perl's shared library (perl with all modules: git, shasum, …)"),
    ("usr/bin/python3.*", "Python (toolchain), runs the entrypoint and pip"),
    ("usr/bin/perl", "perl (Debian essential; git's perl parts)"),
    ("usr/bin/git", "git (toolchain)"),
    ("usr/lib/git-core/git", "git (toolchain): the builtins link to it"),
    (
        "usr/local/lib/node_modules/@google/gemini-cli/bundle/chunk-*.js",
        "gemini-cli's bundled code, reached from its bin",
    ),
    (
        "usr/local/lib/node_modules/@google/gemini-cli/bundle/bundled/chrome-devtools-mcp.mjs",
        "gemini-cli's bundled Chrome DevTools MCP server (its browser tools)",
    ),
    (
        "usr/local/lib/node_modules/@google/gemini-cli/bundle/bundled/third_party/index.js",
        "gemini-cli's bundled third-party code",
    ),
    (
        "usr/local/lib/node_modules/openclaw/node_modules/typescript/lib/*.js",
        "TypeScript compiler: OpenClaw's code mode transpiles TypeScript tool input with it at run time",
    ),
    (
        "usr/local/lib/node_modules/openclaw/node_modules/playwright-core/lib/*.js",
        "Playwright, OpenClaw's browser control",
    ),
    (
        "opt/openclaw/plugins/matrix/node_modules/@matrix-org/matrix-sdk-crypto-wasm/pkg/*.wasm",
        "Matrix end-to-end crypto (WebAssembly), the matrix plugin's",
    ),
    ("opt/openclaw/plugins/whatsapp/node_modules/baileys/WAProto/index.js", "WhatsApp protocol, the whatsapp plugin's"),
]


def purpose(path: str) -> str | None:
    return next((text for pattern, text in PURPOSES if fnmatch.fnmatchcase(path, pattern)), None)


def archive_layers(archive: Path) -> Iterator[tuple[int, int, tarfile.TarFile]]:
    """(index, bytes, tar) of each layer of a docker-archive, in the manifest's order, read as streams."""
    with tarfile.open(archive) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for index, name in enumerate(manifest["Layers"]):
            with tarfile.open(fileobj=outer.extractfile(name), mode="r|") as tar:
                yield index, outer.getmember(name).size, tar


def image_files(layers: Iterable[tuple[str, Iterable[tarfile.TarInfo]]]) -> dict[str, tuple[int, str]]:
    """{path: (bytes, layer)} of the regular files the container sees; hardlinks are not counted again."""
    files: dict[str, tuple[int, str]] = {}
    for label, members in layers:
        for member in members:
            path = clean_name(member.name)
            folder, _, base = path.rpartition("/")
            if base.startswith(".wh."):  # whiteout: the lower layers' path is gone
                gone = f"{folder}/{base[4:]}".lstrip("/")
                files = {p: v for p, v in files.items() if p != gone and not p.startswith(gone + "/")}
            elif member.isreg():
                files[path] = (member.size, label)
            else:
                files.pop(path, None)
    return files


def largest(files: dict[str, tuple[int, str]], count: int = 10) -> list[dict]:
    """The `count` largest files, each with its layer and purpose (None: not described yet)."""
    ranked = sorted(files.items(), key=lambda item: (-item[1][0], item[0]))[:count]
    return [{"path": "/" + p, "bytes": size, "layer": layer, "purpose": purpose(p)} for p, (size, layer) in ranked]
