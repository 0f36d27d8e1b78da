"""The image record: which builder made which archive, its image id, ref and layers.

Every builder writes one (`<archive>.json`, then build/image.json for "the image `doit image` made
last"); load, QA, publish, F1 and the benches read it back through `ImageRecord.read`, so the
fields are named in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from image.paths import BUILD
from plumbing.files import read_json, write_json

CURRENT_IMAGE = BUILD / "image.json"  # the record of the archive `doit image` produced last


@dataclass(frozen=True)
class LayerRecord:
    name: str
    diff_id: str
    size: int


@dataclass(frozen=True)
class ImageRecord:
    builder: str  # "parity" or "nix": evidence always says which
    image_id: str  # sha256:… of the config blob, what podman reports
    archive: Path
    ref: str
    layers: tuple[LayerRecord, ...] = field(default=())
    openclaw_version: str | None = None  # the OpenClaw release inside (None in records written before it was kept)
    # image/patches: {"applied": [names], "not_applied": {name: why}} (None: not recorded by that builder)
    patches: dict | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["archive"] = str(self.archive)
        return data

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def from_json(cls, data: dict) -> ImageRecord:
        layers = tuple(LayerRecord(**layer) for layer in data.get("layers", []))
        return cls(
            data["builder"],
            data["image_id"],
            Path(data["archive"]),
            data["ref"],
            layers,
            data.get("openclaw_version"),
            data.get("patches"),
        )

    @classmethod
    def read(cls, path: Path = CURRENT_IMAGE) -> ImageRecord:
        """The record at `path`; SystemExit telling the user what to run when there is none."""
        data = read_json(path)
        if data is None:
            raise SystemExit(f"{path} is missing: build the image first (doit image)")
        return cls.from_json(data)

    @classmethod
    def current(cls) -> ImageRecord | None:
        """The last built image's record, or None when nothing was built yet."""
        data = read_json(CURRENT_IMAGE)
        return None if data is None else cls.from_json(data)
