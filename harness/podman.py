"""Drive rootless podman as the non-root QA user from a root process (CI has no tty).

Every podman call goes through setup/as-qa-user, the one way measured to work on these hosts.
Calls go through plumbing.commands and are recorded (argv, exit code, output, seconds) for evidence.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from image.paths import REPO
from plumbing import commands
from plumbing.commands import Result

AS_QA_USER = REPO / "setup" / "as-qa-user"
QA_USER = os.environ.get("OPENCLAW_NIX_QA_USER", "openclaw-qa")


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

    def run(
        self,
        argv: list[str],
        *,
        stdin: Path | None = None,
        stdout_to: Path | None = None,
        timeout: float = 600,
        check: bool = False,
    ) -> Result:
        """`argv` as the QA user (through setup/as-qa-user unless we already are that user); recorded."""
        cmd = [str(AS_QA_USER), *argv] if os.geteuid() != self.uid else argv
        # stdin and stdout_to are opened by this (root) process: the QA user need not reach the files
        result = commands.run(
            cmd,
            stdin=stdin,
            stdout_to=stdout_to,
            timeout=timeout,
            env={"OPENCLAW_NIX_QA_USER": self.name},
            shown=list(argv),
        )
        self.log.append(result)
        return result.check() if check else result

    def podman(self, *args: str, **kwargs) -> Result:
        return self.run(["podman", *self.podman_global, *args], **kwargs)

    def mkdirs(self, *paths: Path) -> None:
        """Directories owned by the QA user (created as that user: no chown needed)."""
        self.run(["mkdir", "-p", *map(str, paths)], check=True)

    def write_file(self, path: Path, data: str | bytes) -> Path:
        """A file written here (as root) that the QA user owns and its containers can read (mode 0644)."""
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        os.chown(path, self.uid, self.gid)
        path.chmod(0o644)
        return path


def keep_id_flags(user: QaUser) -> list[str]:
    """The run flags the README prescribes: keep-id user namespace, the caller's uid:gid."""
    return ["--userns=keep-id", "--user", f"{user.uid}:{user.gid}"]
