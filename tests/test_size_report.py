"""bench/largest_paths.py: the files the container sees, read across layers, and a purpose for each large one."""

from __future__ import annotations

import io
import json
import tarfile

from image.contents import image_files, largest, purpose
from image.paths import EVIDENCE
from pipeline.docs import largest_paths_table


def member(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


def test_files_are_read_as_the_container_sees_them():
    """A later layer's file replaces an earlier one, a whiteout deletes a file or a whole folder, a symlink
    over a file replaces it, and a hardlink adds no bytes."""
    base = [
        member("usr/bin/git", 300),
        member("usr/lib/git-core/git", 0, tarfile.LNKTYPE, "usr/bin/git"),
        member("usr/share/doc/a/copyright", 5),
        member("opt/x", 7),
        member("./etc/motd", 2),
    ]
    top = [
        member("usr/bin/.wh.git"),
        member("usr/share/.wh.doc"),
        member("opt/x", 0, tarfile.SYMTYPE, "y"),
        member("etc/motd", 9),
        member("usr/local/bin/node", 1000),
    ]
    files = image_files([("base", base), ("top", top)])
    assert files == {"etc/motd": (9, "top"), "usr/local/bin/node": (1000, "top")}
    assert [row["path"] for row in largest(files, 1)] == ["/usr/local/bin/node"]


def test_purposes_name_the_known_large_files_and_nothing_else():
    assert purpose("usr/lib/x86_64-linux-gnu/libavcodec.so.59.37.100") == "ffmpeg's codec library (toolchain)"
    assert purpose("usr/local/bin/node").startswith("node 22")
    assert purpose("usr/lib/x86_64-linux-gnu/libsomething-new.so.1") is None


def test_committed_report_describes_every_path_it_names():
    """Whoever makes a new file one of the largest says what it is for (PURPOSES) or removes it."""
    report = json.loads((EVIDENCE / "bench" / "largest_paths.json").read_text())
    assert len(report["largest"]) == 10
    assert [row["path"] for row in report["largest"] if row["purpose"] is None] == []
    assert report["within_goal"] == (report["image_bytes"] <= report["goal_bytes"])


def test_table_says_when_a_path_is_not_described():
    report = {"builder": "parity", "image_bytes": 950e6, "goal_bytes": 900e6, "within_goal": False}
    report["largest"] = [{"path": "/x", "bytes": 2e6, "layer": "base", "purpose": None}]
    table = "\n".join(largest_paths_table(report))
    assert "goal ≤ 900 MB: not met" in table and "| `/x` | 2.0 MB | base | not described |" in table


def test_archive_layers_are_read_in_manifest_order(tmp_path):
    """The docker-archive's manifest decides the order, not the order of the members in the archive."""
    from image.contents import archive_layers

    def layer_bytes(name: str, size: int) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = member(name, size)
            tar.addfile(info, io.BytesIO(b"x" * size))
        return buf.getvalue()

    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in [("b/layer.tar", layer_bytes("f", 2)), ("a/layer.tar", layer_bytes("f", 5))]:
            tar.addfile(member(name, len(data)), io.BytesIO(data))
        manifest = json.dumps([{"Layers": ["b/layer.tar", "a/layer.tar"]}]).encode()
        tar.addfile(member("manifest.json", len(manifest)), io.BytesIO(manifest))
    files = image_files((str(i), tar) for i, _, tar in archive_layers(archive))
    assert files == {"f": (5, "1")}
