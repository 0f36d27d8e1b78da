"""A wrong-token brute force against the published port is rate limited; the right token works afterwards.

OpenClaw counts failed shared-secret attempts per client IP (`gateway.auth.rateLimit`): `maxAttempts` failures
within `windowMs` lock that client out for `lockoutMs`, answered with HTTP 429 and `Retry-After`, whatever the
secret (docs/gateway/configuration-reference.md, "Gateway field details"). The attempts go where an attacker
on the host would send them: `POST /tools/invoke` on the port podman publishes (the gateway sees slirp4netns'
10.0.2.100, not loopback, so the loopback exemption does not apply). The image's limits are read from the
running gateway (`openclaw config get`), not from the template's text. Waiting out the image's 5-minute
lockout would make this a 6-minute scenario, so a one-key overlay shortens `lockoutMs` only (objects
deep-merge: the attempt count and window stay the image's).
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request

import pytest

from harness.containers import CONTRACT, TEST_TOKEN, free_port, gateway
from plumbing.waiting import poll

pytestmark = pytest.mark.container
OVERLAY = CONTRACT.volumes["overlay"]["path"]
LOCKOUT_MS = 15000  # the overlay's lockout: long enough to see, short enough to wait out
# A read-only tool call: what a client holding the token may do, harmless to repeat.
BODY = json.dumps({"tool": "sessions_list", "args": {}}).encode()


def invoke(port: int, token: str) -> tuple[int, dict[str, str], str]:
    """POST /tools/invoke with a bearer token: (status, headers, body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/tools/invoke",
        data=BODY,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode(errors="replace")


def test_wrong_token_brute_force_is_rate_limited(runner, volumes, scenario, qa_user):
    """N wrong tokens on the published port: 401 each, then 429 + Retry-After for any token; after the
    lockout the right token works again."""
    overlay = volumes.root / "rate-limit.json5"
    overlay.write_text(f"{{ gateway: {{ auth: {{ rateLimit: {{ lockoutMs: {LOCKOUT_MS} }} }} }} }}\n")
    overlay.chmod(0o644)
    os.chown(overlay, qa_user.uid, qa_user.gid)
    name = "qa-auth-rate-limit"
    port = free_port()
    extra = ["-v", f"{overlay}:{OVERLAY}:ro", "-p", f"127.0.0.1:{port}:{CONTRACT.port}"]
    with gateway(runner, name, volumes, scenario, extra=extra):
        shown = runner.exec(name, "openclaw config get gateway.auth.rateLimit --json 2>/dev/null")
        assert shown.ok, shown.stderr
        limit = json.loads(shown.stdout)
        scenario.fact("rate_limit_in_effect", limit)
        attempts = int(limit["maxAttempts"])
        assert limit["lockoutMs"] == LOCKOUT_MS and attempts > 0

        first = poll(lambda: invoke(port, TEST_TOKEN)[0] == 200, 60, "the right token accepted on the host port")
        assert first

        wrong = []
        for _ in range(attempts):
            status, _headers, _body = invoke(port, "wrong-" + secrets.token_hex(24))
            wrong.append(status)
        scenario.fact("wrong_token_statuses", wrong)
        assert wrong == [401] * attempts, wrong  # each failure answered as a plain mismatch; the last one locks

        status, headers, body = invoke(port, "wrong-" + secrets.token_hex(24))
        locked_at = time.monotonic()
        retry_after = headers.get("Retry-After")
        scenario.fact("after_limit", {"status": status, "retry_after": retry_after, "body": body[:300]})
        assert status == 429 and retry_after and 0 < int(retry_after) <= LOCKOUT_MS // 1000, (status, headers)

        right_status, _, right_body = invoke(port, TEST_TOKEN)
        scenario.fact("right_token_during_lockout", {"status": right_status, "body": right_body[:300]})
        assert right_status == 429, "the lockout is per client, not per secret: the right token waits too"

        def right_token_works():
            return invoke(port, TEST_TOKEN)[0] == 200

        poll(right_token_works, LOCKOUT_MS / 1000 + 30, "the right token accepted after the lockout", interval=1)
        waited = round(time.monotonic() - locked_at, 1)
        scenario.fact("right_token_accepted_after_s", waited)
        assert waited >= LOCKOUT_MS / 1000 - 2, f"accepted after {waited} s: the lockout did not hold"
        runner.stop(name)
