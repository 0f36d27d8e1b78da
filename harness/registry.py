"""A real distribution registry (Debian's docker-registry) on 127.0.0.1 for the publish tests:
TLS from a throwaway CA, htpasswd (bcrypt) auth, storage in a temp dir, stopped at the end.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.containers import free_port
from plumbing import commands
from plumbing.waiting import poll


class RegistryUnavailable(RuntimeError):
    pass


@dataclass
class Registry:
    address: str  # 127.0.0.1:PORT
    user: str
    password: str
    ca_dir: Path  # holds ca.crt (skopeo/podman --cert-dir)
    process: subprocess.Popen

    log: Path

    def blob_uploads(self) -> int:
        """Blob uploads the registry has served so far (each layer or config pushed costs one)."""
        return sum(
            1
            for line in self.log.read_text().splitlines()
            if 'msg="response completed"' in line and "http.request.method=POST" in line and "/blobs/uploads/" in line
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _openssl(*args: str, cwd: Path) -> None:
    commands.run(["openssl", *args], cwd=cwd, check=True)


def start(workdir: Path) -> Registry:
    for tool in ("docker-registry", "htpasswd", "openssl", "skopeo"):
        if shutil.which(tool) is None:
            raise RegistryUnavailable(f"{tool} is not installed (setup/bootstrap.sh installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    ca_dir = workdir / "ca"
    ca_dir.mkdir()
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=openclaw-nix test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=ca_dir,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "../server.key",
        "-out",
        "../server.csr",
        cwd=ca_dir,
    )
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "../server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "../san.ext",
        "-out",
        "../server.crt",
        cwd=ca_dir,
    )
    (ca_dir / "ca.key").unlink()  # only the certificate is needed from here on
    user, password = "qa-pusher", secrets.token_urlsafe(18)
    htpasswd = commands.run(["htpasswd", "-Bbn", user, password], check=True)
    (workdir / "htpasswd").write_text(htpasswd.stdout)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}, "delete": {"enabled": True}},
        "http": {
            "addr": f"127.0.0.1:{port}",
            "tls": {"certificate": str(workdir / "server.crt"), "key": str(workdir / "server.key")},
        },
        "auth": {"htpasswd": {"realm": "openclaw-nix-qa", "path": str(workdir / "htpasswd")}},
    }
    (workdir / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    log = (workdir / "registry.log").open("w")
    process = commands.start(["docker-registry", "serve", workdir / "config.yml"], stdout=log, stderr=log)

    def listening() -> bool:
        if process.poll() is not None:
            raise RegistryUnavailable(f"registry exited: {(workdir / 'registry.log').read_text()[-500:]}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        poll(listening, 10, "the registry to listen", interval=0.1)
    except AssertionError as err:
        process.kill()
        raise RegistryUnavailable(str(err)) from None
    return Registry(f"127.0.0.1:{port}", user, password, ca_dir, process, workdir / "registry.log")
