"""Secrets from files: a podman secret mounted as a file and named by OPENCLAW_GATEWAY_TOKEN_FILE
fills the gateway token; a missing file stops the start with one line; the value is never logged."""

from __future__ import annotations

import os
import secrets

import pytest

from harness.containers import CONTRACT, gateway

pytestmark = pytest.mark.container
SECRET_NAME = "qa-gateway-token"
MOUNT = f"/run/secrets/{SECRET_NAME}"
FILE_ENV = {"OPENCLAW_GATEWAY_TOKEN": None, "OPENCLAW_GATEWAY_TOKEN_FILE": MOUNT}


def call_health(token: str) -> str:
    """A gateway RPC over its WebSocket with `token`: answered only when the token is the gateway's."""
    url = f"ws://127.0.0.1:{CONTRACT.port}"
    return f"openclaw gateway call health --json --url {url} --token '{token}' >/dev/null 2>&1; echo exit=$?"


def test_podman_secret_file_fills_the_token(qa_user, runner, volumes, scenario):
    """podman secret (type=mount) + OPENCLAW_GATEWAY_TOKEN_FILE: the gateway takes the file's token."""
    value = "file-" + secrets.token_hex(16)
    source = qa_user.home / "qa-secret-token"
    source.write_text(value + "\n")  # as `echo … > file; podman secret create NAME file` leaves it
    os.chown(source, qa_user.uid, qa_user.gid)
    source.chmod(0o600)
    qa_user.podman("secret", "rm", SECRET_NAME)
    created = scenario.add(qa_user.podman("secret", "create", SECRET_NAME, str(source)))
    source.unlink()
    assert created.ok, created.stderr
    mount = ["--secret", f"{SECRET_NAME},type=mount,uid={qa_user.uid},gid={qa_user.gid},mode=0400"]
    try:
        count = runner.sh(f"grep -c -F '{value}' {CONTRACT.env['OPENCLAW_CONFIG_PATH']}", env=FILE_ENV, extra=mount)
        assert count.ok and count.stdout.strip() == "1", count.stderr
        with gateway(runner, "qa-secret-file", volumes, scenario, env=FILE_ENV, extra=mount):
            right = runner.exec("qa-secret-file", call_health(value))
            wrong = runner.exec("qa-secret-file", call_health("not-" + value))
            scenario.fact("health_call_with_the_file_token", right.stdout.strip())
            scenario.fact("health_call_with_another_token", wrong.stdout.strip())
            assert right.stdout.strip() == "exit=0" and wrong.stdout.strip() != "exit=0"
            logs = runner.logs("qa-secret-file")
            logged = logs.stdout + logs.stderr + (volumes.logs / "openclaw.log").read_text(errors="replace")
        assert value not in logged
    finally:
        qa_user.podman("secret", "rm", SECRET_NAME)


def test_missing_secret_file_is_one_line_and_exit_78(runner, scenario):
    """OPENCLAW_GATEWAY_TOKEN_FILE naming a file that is not mounted: exit 78, one line naming it."""
    result = runner.sh("cat /config/openclaw.json", env=FILE_ENV)
    scenario.fact("stderr", result.stderr.strip())
    assert result.returncode == 78
    lines = [line for line in result.stderr.splitlines() if line.startswith("openclaw-nix:")]  # not podman's
    assert len(lines) == 1 and f"OPENCLAW_GATEWAY_TOKEN_FILE={MOUNT}" in lines[0], lines
