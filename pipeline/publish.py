"""Push the built image archive to a registry with skopeo, under the version, revision and dev tags.

Credentials come only from the environment: REGISTRY_AUTH_FILE (an auth file you point at, as
podman/skopeo use it), or OPENCLAW_NIX_REGISTRY_USER + OPENCLAW_NIX_REGISTRY_PASSWORD, which are turned
into a temporary 0600 auth file via `skopeo login --password-stdin` and deleted afterwards. They never
appear on a command line, in output or in the push record. Pushing the same image again uploads no
layer: skopeo asks the registry for each blob first (the tests count uploads in a real registry's log;
skopeo's own output does not say, off a terminal).

Usage: python -m pipeline.publish [--to REGISTRY/REPO] [--tag T ...]
       OPENCLAW_NIX_PUSH_TO overrides the default repository ghcr.io/openclaw/openclaw-nix.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from image.contract import Contract
from image.paths import BUILD
from image.provenance import git_revision
from image.record import ImageRecord
from plumbing import commands
from plumbing.files import write_json

DEFAULT_REPOSITORY = Contract.load().raw["kubernetes"]["repository"]
PUSH_RECORD = BUILD / "push.json"


class PublishError(RuntimeError):
    """One line that says what failed and what to change."""


@dataclass(frozen=True)
class Target:
    repository: str  # e.g. ghcr.io/owner/openclaw-nix or 127.0.0.1:5000/openclaw-nix
    cert_dir: str | None = None  # a directory with the registry's CA (ca.crt), for private registries

    @property
    def registry(self) -> str:
        return self.repository.split("/", 1)[0]


def default_tags(contract: Contract, revision: str) -> list[str]:
    tags = [contract.openclaw_version, "dev"]
    if revision and revision != "unknown":
        tags.insert(1, revision.removesuffix("-dirty")[:12] + ("-dirty" if revision.endswith("-dirty") else ""))
    return tags


def explain(stderr: str, target: Target) -> str:
    text = stderr.lower()
    if any(s in text for s in ("unauthorized", "authentication required", "denied", "invalid username/password")):
        return (
            f"the registry {target.registry} rejected the credentials: check OPENCLAW_NIX_REGISTRY_USER/"
            "OPENCLAW_NIX_REGISTRY_PASSWORD or REGISTRY_AUTH_FILE"
        )
    if "connection refused" in text or "no such host" in text or "i/o timeout" in text or "dial tcp" in text:
        return f"cannot reach the registry {target.registry}: is the address right and the registry up?"
    if "x509" in text or "certificate" in text:
        return (
            f"TLS verification of {target.registry} failed: point OPENCLAW_NIX_REGISTRY_CERT_DIR at a "
            "directory holding its CA as ca.crt"
        )
    last = [line for line in stderr.strip().splitlines() if line.strip()]
    return f"skopeo failed: {last[-1][:300] if last else 'no output'}"


def _auth_file(target: Target, workdir: Path) -> str | None:
    """The auth file to use: the user's REGISTRY_AUTH_FILE, or a temporary one made from env credentials."""
    user, password = os.environ.get("OPENCLAW_NIX_REGISTRY_USER"), os.environ.get("OPENCLAW_NIX_REGISTRY_PASSWORD")
    if user and password:
        auth = workdir / "auth.json"
        cmd = ["skopeo", "login", "--authfile", str(auth), "--username", user, "--password-stdin"]
        if target.cert_dir:
            cmd += ["--cert-dir", target.cert_dir]
        proc = commands.run([*cmd, target.registry], stdin=password)
        if proc.returncode != 0:
            raise PublishError(explain(proc.stderr, target))
        auth.chmod(0o600)
        return str(auth)
    return os.environ.get("REGISTRY_AUTH_FILE")


def push(archive: Path, target: Target, tags: list[str]) -> dict:
    if not archive.exists():
        raise PublishError(f"no image archive at {archive}: build it first (doit image)")
    results = []
    with tempfile.TemporaryDirectory(prefix="openclaw-nix-push-") as tmp:
        auth = _auth_file(target, Path(tmp))
        for tag in tags:
            digest_file = Path(tmp) / f"{tag}.digest"
            cmd = ["skopeo", "copy", "--digestfile", str(digest_file)]
            cmd += ["--authfile", auth] if auth else []
            cmd += ["--dest-cert-dir", target.cert_dir] if target.cert_dir else []
            ref = f"{target.repository}:{tag}"
            print(f"[push] {archive.name} -> {ref}", flush=True)
            proc = commands.run([*cmd, f"docker-archive:{archive}", f"docker://{ref}"], timeout=3600)
            if proc.returncode != 0 or not digest_file.exists():
                raise PublishError(explain(proc.stderr, target))
            results.append({"tag": tag, "ref": ref, "digest": digest_file.read_text().strip()})
    digests = {r["digest"] for r in results}
    if len(digests) != 1:
        raise PublishError(f"tags got different digests {sorted(digests)}: the registry changed under us")
    return {"repository": target.repository, "digest": digests.pop(), "tags": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--to",
        default=os.environ.get("OPENCLAW_NIX_PUSH_TO", DEFAULT_REPOSITORY),
        help="REGISTRY/REPOSITORY (default %(default)s)",
    )
    parser.add_argument("--tag", action="append", help="tag(s) to push (default: OpenClaw version, revision, dev)")
    parser.add_argument("--archive", type=Path, help="image archive (default: the one `doit image` built)")
    parser.add_argument("--record", type=Path, default=PUSH_RECORD, help="where to write the push record")
    args = parser.parse_args(argv)
    target = Target(args.to, os.environ.get("OPENCLAW_NIX_REGISTRY_CERT_DIR"))
    try:
        image = ImageRecord.current() if args.archive is None else None
        archive = args.archive or (image.archive if image else BUILD / "missing-image.tar")
        tags = args.tag or default_tags(Contract.load(), git_revision())
        record = {
            **push(archive, target, tags),
            "builder": image.builder if image else None,
            "image_id": image.image_id if image else None,
        }
    except PublishError as err:
        print(f"openclaw-nix push: error: {err}", file=sys.stderr)
        return 1
    write_json(args.record, record)
    print(
        f"[push] {record['repository']}@{record['digest']} ({', '.join(t['tag'] for t in record['tags'])}) "
        f"-> {args.record}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
