"""Drive rootless podman as the non-root QA user from a root process (CI has no tty).

Every podman call goes through setup/as-qa-user, the one way measured to work on these hosts.
Calls are recorded (argv, exit code, output, seconds) so scenarios can put them in evidence.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from image.paths import REPO

AS_QA_USER = REPO / "setup" / "as-qa-user"
QA_USER = os.environ.get("OPENCLAW_NIX_QA_USER", "openclaw-qa")


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def record(self) -> dict:
        return {
            "argv": self.argv,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 2),
            "stdout": self.stdout[-20000:],
            "stderr": self.stderr[-20000:],
        }


@dataclass
class QaUser:
    """The rootless user, its ids and home; `run` executes as that user."""

    name: str = QA_USER
    log: list[Result] = field(default_factory=list)
    # global podman flags, e.g. --root/--runroot for a separate, clean storage
    podman_global: list[str] = field(default_factory=list)

    @property
    def pw(self) -> pwd.struct_passwd:
        return pwd.getpwnam(self.name)

    @property
    def uid(self) -> int:
        return self.pw.pw_uid

    @property
    def gid(self) -> int:
        return self.pw.pw_gid

    @property
    def home(self) -> Path:
        return Path(self.pw.pw_dir)

    def run(self, argv: list[str], *, stdin: Path | None = None, timeout: float = 600, check: bool = False) -> Result:
        started = time.monotonic()
        cmd = [str(AS_QA_USER), *argv] if os.geteuid() != self.uid else argv
        with stdin.open("rb") if stdin else open(os.devnull, "rb") as fh:
            try:
                proc = subprocess.run(
                    cmd,
                    stdin=fh,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    env={**os.environ, "OPENCLAW_NIX_QA_USER": self.name},
                )
                result = Result(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
            except subprocess.TimeoutExpired as err:
                result = Result(
                    argv,
                    124,
                    _text(err.stdout),
                    _text(err.stderr) + f"\ntimed out after {timeout}s",
                    time.monotonic() - started,
                )
        self.log.append(result)
        if check and not result.ok:
            raise RuntimeError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
        return result

    def podman(self, *args: str, **kwargs) -> Result:
        return self.run(["podman", *self.podman_global, *args], **kwargs)

    def mkdirs(self, *paths: Path) -> None:
        """Directories owned by the QA user (created as that user: no chown needed)."""
        self.run(["mkdir", "-p", *map(str, paths)], check=True)


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def keep_id_flags(user: QaUser) -> list[str]:
    """The run flags the README prescribes: keep-id user namespace, the caller's uid:gid."""
    return ["--userns=keep-id", "--user", f"{user.uid}:{user.gid}"]
