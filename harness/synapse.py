"""A real Matrix homeserver (Synapse) for the Matrix scenarios, plus a small client-server API client.

Topology (measured on podman 4.3.1 rootless, Debian 12): the test creates a podman pod with
`--network none`. Its infra container holds a network namespace that has nothing but `lo`
(127.0.0.1/::1): no slirp4netns, no route out, no host port. Everything of a Matrix scenario lives
on that loopback and nowhere else:

- Synapse runs as a host process of the QA user *inside* the pod's netns: started by root with
  `nsenter --net=/proc/<infra pid>/ns/net setpriv --reuid <qa> ... python -m synapse.app.homeserver`
  (nsenter and setpriv exec, so the Popen pid is Synapse's own pid and SIGTERM reaches it directly).
  It binds 127.0.0.1 in that namespace only, so nothing outside the pod can reach it.
- The scripted model server (harness/model_server.py) listens on a socket created in the same netns.
- The gateway container joins the pod (`--pod`), so `http://127.0.0.1:<port>` inside the container
  is the same loopback. The pod is created with `--userns=keep-id`: podman 4.3 refuses `--userns` on
  a container that joins a pod ("--userns and --pod cannot be set together"); ids above the QA
  user's map as in `podman unshare`, so an arbitrary uid's volumes chowned there line up.
- The test's own client reaches Synapse through sockets it creates inside the netns: one worker
  thread calls setns(2) into the pod's netns once and then only creates sockets (a netns is
  per-thread state; a socket keeps the namespace it was created in), so the client is plain
  http.client, fast enough to poll, and never touches a host port. This needs root (the test suite
  runs as root; a QA-user pytest would need `podman unshare`).

Measured (2 cores, with other podman work running): Synapse answers 1.2-2.7 s after start; pod
create + start ~0.5 s; the bot joins a DM ~0.6-1 s after the invite.

Why not a published port: `-p` needs slirp4netns, which gives the pod a route to the outside world;
a `--network none` pod proves the gateway needs no other address for the whole conversation.

Synapse is set up for speed: SQLite, one client listener (no federation listener, no key servers,
no presence, no metrics, no URL previews, rate limits lifted), a registration shared secret and
macaroon/form secrets generated per run (registered in harness.evidence.SECRETS, never written to
evidence), signing key written directly (no `--generate-keys` pass).
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import hmac
import http.client
import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.evidence import SECRETS
from image.paths import CACHE
from plumbing import commands
from plumbing.files import write_json
from plumbing.waiting import poll

SYNAPSE_VENV = CACHE / "tools" / "synapse"
SYNAPSE_VERSION = "1.163.2"  # pinned in setup/bootstrap.sh
SERVER_NAME = "mx.openclaw-qa.test"  # never resolved: no federation
CLONE_NEWNET = 0x40000000


class Netns:
    """Create sockets inside another process's network namespace (e.g. a pod's infra container)."""

    def __init__(self, pid: int):
        self.pid = pid
        self._pool = ThreadPoolExecutor(max_workers=1, initializer=self._enter, thread_name_prefix=f"netns-{pid}")

    def _enter(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns into the netns of pid {self.pid}: {os.strerror(err)}")
        finally:
            os.close(fd)

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._pool.submit(socket.create_connection, (host, port), timeout).result()

    def listen(self, host: str, port: int) -> socket.socket:
        def bind() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
            return sock

        return self._pool.submit(bind).result()

    def run(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start a process in the namespace (nsenter execs: the Popen pid is the process's own)."""
        return commands.start(["nsenter", f"--net=/proc/{self.pid}/ns/net", *argv], **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


class MatrixError(RuntimeError):
    pass


@dataclass
class Client:
    """Just enough of the Matrix client-server API for the scenarios (JSON over http.client)."""

    netns: Netns
    port: int
    token: str | None = field(default=None, repr=False)
    user_id: str | None = None
    host: str = "127.0.0.1"
    _txn: int = 0

    def request(self, method: str, path: str, body: dict | None = None, *, timeout: float = 30) -> dict:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.sock = self.netns.connect(self.host, self.port, timeout)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        payload = json.loads(data) if data else {}
        if resp.status >= 400:
            raise MatrixError(f"{method} {path.split('?')[0]} -> {resp.status}: {payload}")
        return payload

    def create_room(self, invite: list[str], *, direct: bool = True, name: str | None = None) -> str:
        body: dict = {
            "invite": invite,
            "is_direct": direct,
            "preset": "trusted_private_chat" if direct else "private_chat",
        }
        if name:
            body["name"] = name
        return self.request("POST", "/_matrix/client/v3/createRoom", body)["room_id"]

    def send_text(self, room_id: str, text: str) -> str:
        self._txn += 1
        txn = f"qa-{time.time_ns()}-{self._txn}"
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.message/{txn}"
        return self.request("PUT", path, {"msgtype": "m.text", "body": text})["event_id"]

    def messages(self, room_id: str, limit: int = 200) -> list[dict]:
        """The room's timeline, oldest first (every event type: messages and membership)."""
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/messages?dir=b&limit={limit}"
        return list(reversed(self.request("GET", path)["chunk"]))

    def joined_members(self, room_id: str) -> list[str]:
        return sorted(self.request("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/joined_members")["joined"])


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


@dataclass
class Synapse:
    """One Synapse homeserver in `netns`, data under `root` (a directory owned by `run_as`)."""

    netns: Netns
    root: Path
    run_as: str
    port: int = 18008
    shared_secret: str = field(default_factory=lambda: secrets.token_hex(24), repr=False)
    proc: subprocess.Popen | None = None
    started_s: float | None = None

    def __post_init__(self) -> None:
        SECRETS.add(self.shared_secret)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "homeserver.log"

    def configure(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "media").mkdir(exist_ok=True)
        seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
        (self.root / "signing.key").write_text(f"ed25519 a_qa {seed}\n")
        log_config = {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "file": {"class": "logging.FileHandler", "filename": str(self.log_path), "formatter": "plain"}
            },
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        (self.root / "log.config.yaml").write_text(json.dumps(log_config))  # JSON is YAML
        lifted = {"per_second": 1000, "burst_count": 1000}
        config = {
            "server_name": SERVER_NAME,
            "pid_file": str(self.root / "homeserver.pid"),
            "public_baseurl": self.url + "/",
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(self.root / "homeserver.db")}},
            "log_config": str(self.root / "log.config.yaml"),
            "media_store_path": str(self.root / "media"),
            "signing_key_path": str(self.root / "signing.key"),
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": _secret(),
            "form_secret": _secret(),
            "report_stats": False,
            "enable_metrics": False,
            "enable_registration": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "rc_message": lifted,
            "rc_registration": lifted,
            "rc_login": {"address": lifted, "account": lifted, "failed_attempts": lifted},
            "rc_joins": {"local": lifted, "remote": lifted},
            "rc_joins_per_room": lifted,
            "rc_invites": {"per_room": lifted, "per_user": lifted, "per_issuer": lifted},
            "rc_3pid_validation": lifted,
        }
        path = self.root / "homeserver.yaml"
        write_json(path, config)
        uid = pwd.getpwnam(self.run_as)
        for dirpath, _dirs, files in os.walk(self.root):
            os.chown(dirpath, uid.pw_uid, uid.pw_gid)
            for name in files:
                os.chown(os.path.join(dirpath, name), uid.pw_uid, uid.pw_gid)
        os.chmod(self.root, 0o700)
        return path

    def start(self, deadline_s: float = 90) -> float:
        """Start Synapse in the netns as `run_as`; poll /versions until it answers. Returns seconds."""
        config = self.configure()
        user = pwd.getpwnam(self.run_as)
        started = time.monotonic()
        argv = [
            "setpriv",
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--clear-groups",
            "--",
            "env",
            "-i",
            f"HOME={self.root}",
            "PATH=/usr/bin:/bin",
            "LANG=C.UTF-8",
            str(SYNAPSE_VENV / "bin" / "python"),
            "-m",
            "synapse.app.homeserver",
            "-c",
            str(config),
        ]
        stderr = (self.root / "stderr.log").open("wb")
        self.proc = self.netns.run(argv, cwd=self.root, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        stderr.close()
        client = Client(self.netns, self.port)

        def up():
            if self.proc.poll() is not None:
                raise MatrixError(f"synapse exited {self.proc.returncode}: {self.tail()}")
            try:
                return client.request("GET", "/_matrix/client/versions", timeout=2)
            except OSError:
                return None

        poll(up, deadline_s, "synapse /_matrix/client/versions", interval=0.2)
        self.started_s = time.monotonic() - started
        return self.started_s

    def register(self, localpart: str, *, admin: bool = False) -> Client:
        """Register a user with the shared secret (admin API) and return a client logged in as it."""
        anon = Client(self.netns, self.port)
        nonce = anon.request("GET", "/_synapse/admin/v1/register")["nonce"]
        password = secrets.token_hex(16)
        SECRETS.add(password)
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"])
        )
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        reply = anon.request("POST", "/_synapse/admin/v1/register", body)
        SECRETS.add(reply["access_token"])
        return Client(self.netns, self.port, token=reply["access_token"], user_id=reply["user_id"])

    def tail(self, lines: int = 30) -> str:
        out = []
        for path in (self.root / "stderr.log", self.log_path):
            if path.exists():
                out += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def _secret() -> str:
    value = secrets.token_hex(24)
    SECRETS.add(value)
    return value
