"""The one way this project runs a command (pipeline, builders, QA harness, benchmarks).

Why our own module and not plumbum (measured here, plumbum 2.0.2): the QA user's podman runs as
`setup/as-qa-user … podman …`, i.e. a wrapper whose child holds our pipes. plumbum's `timeout=1` on a
call of that shape (`sh -c 'sleep 30 & wait'`) returned only after 30 s, when the grandchild ended: it
kills the direct child and then waits for the pipes to close. Here every command runs in its own
session and a timeout kills the whole process group, so a hung podman cannot hang a scenario. plumbum
also cost 81 ms to import and gave nothing else we use (no pipelines, no remote machines); per call
both are ~0.9 ms.
Every call returns a `Result` (argv, exit code, output, seconds) that scenarios put in evidence.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

Stdin = Path | bytes | str | None


class CommandFailed(RuntimeError):
    """A command that had to succeed did not; the message carries its argv, code and stderr tail."""

    def __init__(self, result: Result):
        self.result = result
        super().__init__(f"{shlex.join(result.argv)} failed ({result.returncode}): {result.stderr.strip()[-1500:]}")


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

    def check(self) -> Result:
        if not self.ok:
            raise CommandFailed(self)
        return self

    def record(self) -> dict:
        return {
            "argv": self.argv,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 2),
            "stdout": self.stdout[-20000:],
            "stderr": self.stderr[-20000:],
        }


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def run(
    argv: list[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdin: Stdin = None,
    timeout: float | None = 600,
    check: bool = False,
    shown: list[str] | None = None,
    stdout_to: Path | None = None,
    inherit_env: bool = True,
) -> Result:
    """Run `argv` with output captured (text). `env` is added to ours (or is the whole
    environment with inherit_env=False); `stdin` is a file to read,
    bytes or text; `stdout_to` takes binary output into a file instead. A timeout kills the process
    group and gives returncode 124. `shown` is the argv recorded in the Result when it differs from
    what runs (e.g. without the as-qa-user wrapper)."""
    started = time.monotonic()
    data = stdin.encode() if isinstance(stdin, str) else stdin if isinstance(stdin, bytes) else None
    with (
        stdin.open("rb") if isinstance(stdin, Path) else open(os.devnull, "rb") as fh,
        stdout_to.open("wb") if stdout_to else nullcontext() as out_fh,
    ):
        proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env={**(os.environ if inherit_env else {}), **(env or {})},
            stdin=subprocess.PIPE if data is not None else fh,
            stdout=out_fh or subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(data, timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            code, err = 124, _text(err) + f"\ntimed out after {timeout}s"
        except BaseException:  # Ctrl-C: the command's own session would not see it
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    result = Result(shown or list(map(str, argv)), code, _text(out), _text(err), time.monotonic() - started)
    return result.check() if check else result


def stream(argv: list[str], *, cwd: Path | str | None = None, env: dict[str, str] | None = None) -> None:
    """Run a long step with its output on our terminal (progress stays visible); raise on failure."""
    code = subprocess.run([str(a) for a in argv], cwd=cwd, env={**os.environ, **(env or {})}).returncode
    if code != 0:
        raise CommandFailed(Result(list(map(str, argv)), code, "", "(output shown above)", 0.0))


def start(argv: list[str], **popen) -> subprocess.Popen:
    """A long-lived helper process (homeserver, registry, native gateway); the caller stops it."""
    return subprocess.Popen([str(a) for a in argv], **popen)
