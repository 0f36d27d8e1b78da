#!/usr/bin/env python3
"""openclaw-nix probe: is the gateway live, and can it do its work? Run inside the container.

The image's HEALTHCHECK, the Kubernetes probes and `podman kube play` run this command. The entrypoint
exec()s the gateway, so nothing in the container watches /state; OpenClaw's own /healthz and /readyz
stay "live" and "ready" while /state is full and every new write (a pairing, a session) fails.
Modes, each printing one line and exiting 0 (passes) or 1 (fails, saying what):
  live         the gateway answers its live path. A full /state does not change it: restarting the
               gateway frees no space (and counts towards OpenClaw's crash-loop breaker).
  ready        /state takes a small write AND the gateway's ready path says ready (every enabled channel).
  healthcheck  live AND /state takes the write: the image's HEALTHCHECK. Channel readiness is left out:
               an unlinked WhatsApp (the template enables it) would keep a container unhealthy forever.
The /state write: an unnamed file (O_TMPFILE; else a named one removed right after it is created) gets
write_bytes of random data (so a compressing filesystem has to store them) and an fsync (so delayed
allocation reports ENOSPC), and is gone when closed: nothing is left behind, and with a few KiB free the
probe still passes. The write and the HTTP request run side by side within the contract's `timeout`:
a hung disk or gateway fails the probe in time instead of hanging it.
Stdlib only, as any uid; settings from the image contract's [probe] table.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import os
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

LEFTOVER = ".openclaw-nix-probe."  # the fallback's file name prefix (+ pid)
STALE_S = 60  # a fallback file older than this was left by a killed probe: removed
NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}  # O_TMPFILE unsupported here


@dataclass(frozen=True)
class Settings:
    port: int
    state: str
    live_path: str
    ready_path: str
    timeout: float
    write_bytes: int

    @classmethod
    def from_contract(cls, contract: dict) -> Settings:
        probe = contract["probe"]
        return cls(
            port=int(contract["image"]["ports"][0]),
            state=contract["volumes"]["state"]["path"],
            live_path=probe["live_path"],
            ready_path=probe["ready_path"],
            timeout=float(probe["timeout"]),
            write_bytes=int(probe["write_bytes"]),
        )


def contract_path() -> Path:
    """The contract beside this file (the image's app_dir), else the repo's; OPENCLAW_NIX_CONTRACT wins."""
    if os.environ.get("OPENCLAW_NIX_CONTRACT"):
        return Path(os.environ["OPENCLAW_NIX_CONTRACT"])
    here = Path(__file__).resolve().parent
    beside = here / "contract.toml"
    return beside if beside.is_file() else here.parent / "image" / "contract.toml"


def remove_leftovers(directory: str, now: float) -> None:
    """Remove fallback files a killed probe left (older than STALE_S: a running probe's file is younger)."""
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(LEFTOVER):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > STALE_S:
                        os.unlink(entry.path)


def open_unnamed(directory: str, use_tmpfile: bool = True) -> int:
    """A writable file in `directory` that has no name: O_TMPFILE, or a named file unlinked at once."""
    if use_tmpfile and hasattr(os, "O_TMPFILE"):
        try:
            return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except OSError as err:
            if err.errno not in NO_TMPFILE:
                raise
    remove_leftovers(directory, time.time())
    name = os.path.join(directory, f"{LEFTOVER}{os.getpid()}")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with contextlib.suppress(FileNotFoundError):  # another probe's leftover sweep may have been first
        os.unlink(name)
    return fd


def write_check(directory: str, size: int, use_tmpfile: bool = True) -> str | None:
    """None when `directory` durably took `size` bytes; else why not (the OS error)."""
    data = os.urandom(size)
    try:
        fd = open_unnamed(directory, use_tmpfile)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        return f"{err.strerror or err} (errno {errno.errorcode.get(err.errno, err.errno)})"
    return None


def free_bytes(directory: str) -> str:
    """What statvfs says is free for this uid, for the message (cheap; not a verdict)."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return "free space unknown"
    free = float(stat.f_bavail * stat.f_frsize)
    for unit in ("B", "KiB", "MiB"):
        if free < 1024:
            return f"{free:.1f} {unit} free"
        free /= 1024
    return f"{free:.1f} GiB free"


def http_get(port: int, path: str, deadline: float) -> tuple[int, dict | None, str]:
    """GET http://127.0.0.1:port/path, no proxy, done by `deadline` (time.monotonic()): (status or 0,
    JSON body or None, error text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(deadline - time.monotonic(), 0.01))
    try:
        conn.connect()
        conn.sock.settimeout(max(deadline - time.monotonic(), 0.01))  # connect took its share
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read(65536)
    except (OSError, http.client.HTTPException) as err:
        return 0, None, "timed out" if isinstance(err, TimeoutError) else str(err) or type(err).__name__
    finally:
        conn.close()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return response.status, parsed if isinstance(parsed, dict) else None, ""


def live_result(settings: Settings, deadline: float) -> tuple[bool, str]:
    status, _, error = http_get(settings.port, settings.live_path, deadline)
    if status == 200:
        return True, f"{settings.live_path} live"
    return False, f"{settings.live_path} {error or f'answered {status}'}"


def ready_result(settings: Settings, deadline: float) -> tuple[bool, str]:
    """Ready: HTTP 200 and, if the body says, ready true (OpenClaw answers 503 with the failing channels)."""
    status, body, error = http_get(settings.port, settings.ready_path, deadline)
    said = (body or {}).get("ready", True)
    if status == 200 and said is True:
        return True, f"{settings.ready_path} ready"
    failing = (body or {}).get("failing")
    detail = f"failing {','.join(map(str, failing))}" if failing else error or f"answered {status}"
    return False, f"{settings.ready_path} not ready ({detail})"


def state_verdict(settings: Settings, wrote: list[str | None]) -> tuple[bool, str]:
    """What the /state write thread reported (nothing yet: it is still stuck at the deadline)."""
    if not wrote:
        return False, f"{settings.state} did not take a {settings.write_bytes}-byte write within {settings.timeout:g} s"
    free = free_bytes(settings.state)
    if wrote[0] is not None:
        return False, f"{settings.state} cannot take a write: {wrote[0]}; {free}"
    return True, f"{settings.state} took a {settings.write_bytes}-byte write ({free})"


LABELS = {"live": ("live", "not live"), "ready": ("ready", "not ready"), "healthcheck": ("healthy", "unhealthy")}


def probe(mode: str, settings: Settings, use_tmpfile: bool = True) -> tuple[bool, str]:
    """Run one mode: (passes, one line saying what was seen). The /state write runs in a daemon thread
    beside the HTTP request; both get until the same deadline."""
    started = time.monotonic()
    deadline = started + settings.timeout
    wrote: list[str | None] = []
    writer = None
    if mode in ("ready", "healthcheck"):
        writer = threading.Thread(
            target=lambda: wrote.append(write_check(settings.state, settings.write_bytes, use_tmpfile)), daemon=True
        )
        writer.start()
    checks = [(ready_result if mode == "ready" else live_result)(settings, deadline)]
    if writer is not None:
        writer.join(max(0.0, deadline - time.monotonic()))
        checks.append(state_verdict(settings, wrote))
    ok = all(passed for passed, _ in checks)
    seen = "; ".join(text for _, text in checks)
    return ok, f"{LABELS[mode][0 if ok else 1]}: {seen} [{time.monotonic() - started:.2f} s]"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in LABELS:
        print(f"usage: openclaw-nix-probe {{{'|'.join(LABELS)}}}", file=sys.stderr)
        return 1  # 2 is reserved by the Docker HEALTHCHECK
    try:
        with contract_path().open("rb") as fh:
            settings = Settings.from_contract(tomllib.load(fh))
    except (OSError, ValueError, KeyError) as err:
        print(f"openclaw-nix-probe: cannot read the image contract ({err})", file=sys.stderr)
        return 1
    ok, line = probe(argv[0], settings)
    print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
