#!/usr/bin/env python3
"""The ten largest files in the built image and what each is for, read from its docker-archive.

Answers "where do the bytes go" with paths rather than layers: the layers are read in order as the
container sees them (a later layer's file replaces an earlier one, whiteouts delete), a hardlink counts
once, and each path gets the purpose written in PURPOSES below. A path with no purpose is reported as such
(tests/test_size_report.py fails on committed evidence that has one): whoever changes the image says what
a new large file is for, or removes it.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.evidence import write_json
from image.layers import clean_name
from image.paths import EVIDENCE
from image.record import ImageRecord

GOAL_BYTES = 900_000_000  # image size goal with the full toolchain (`podman image inspect`)

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
    ranked = sorted(files.items(), key=lambda item: (-item[1][0], item[0]))[:count]
    return [{"path": "/" + p, "bytes": size, "layer": layer, "purpose": purpose(p)} for p, (size, layer) in ranked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=EVIDENCE / "bench" / "largest_paths.json")
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    image = ImageRecord.read()
    names = [layer.name for layer in image.layers]
    sizes: list[int] = []

    def layers() -> Iterator[tuple[str, tarfile.TarFile]]:
        for index, size, tar in archive_layers(image.archive):
            sizes.append(size)
            yield (names[index] if index < len(names) else f"layer {index}"), tar

    files = image_files(layers())
    total = sum(sizes)
    top = largest(files, args.count)
    figures = {
        "builder": image.builder,
        "image_id": image.image_id,
        "image_bytes": total,
        "files_bytes": sum(size for size, _ in files.values()),
        "files": len(files),
        "goal_bytes": GOAL_BYTES,
        "within_goal": total <= GOAL_BYTES,
        "largest": top,
    }
    print(f"image {total / 1e6:.1f} MB ({len(files)} files, {figures['files_bytes'] / 1e6:.1f} MB of file data); "
          f"goal <= {GOAL_BYTES / 1e6:.0f} MB: {'met' if figures['within_goal'] else 'NOT met'}")  # fmt: skip
    for row in top:
        print(f"{row['bytes'] / 1e6:8.1f} MB  {row['path']}  [{row['layer']}]  {row['purpose'] or 'NOT DESCRIBED'}")
    write_json(args.json, figures)
    undescribed = [row["path"] for row in top if row["purpose"] is None]
    if undescribed:
        print(f"no purpose written for {undescribed}: add them to PURPOSES in {Path(__file__).name}", file=sys.stderr)
    return 1 if undescribed else 0


if __name__ == "__main__":
    sys.exit(main())
