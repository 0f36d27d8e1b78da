"""A hostile environment value against a `${NAME}` placeholder an operator quoted with single quotes
(or left in a comment), in a mounted overlay and in a user's own template, in the real image.

Pass: the start is refused with exit 78 and one line, or the value arrives byte for byte and
gateway.auth.mode is still `token` — both read by the pinned `openclaw config get` inside the
container, after the real entrypoint rendered the config. Full tier (no smoke marker).
"""

from __future__ import annotations

import json
import shlex
import shutil

import pytest

from harness.containers import CONTRACT

pytestmark = pytest.mark.container
NAME = "OPENCLAW_MATRIX_HOMESERVER"
PLAIN = "https://plain.example"
# the payload: closes a single-quoted string and the objects around it, then sets gateway.auth
PAYLOAD = "https://x' } }, gateway: { auth: { mode: 'none' } }, channels: { matrix: { homeserver: 'https://x"
# the same through a block comment
COMMENT_PAYLOAD = "*/ 'https://x' } }, gateway: { auth: { mode: 'none' } }, channels: { matrix: { homeserver: /*"
# (homeserver's value in the file, the environment value, what homeserver must read if not refused)
CASES = {
    "single-quoted": (f"'${{{NAME}}}'", PAYLOAD, PAYLOAD),
    "block-comment": (f"/* ${{{NAME}}} */ '{PLAIN}'", COMMENT_PAYLOAD, PLAIN),
}
OVERLAY = CONTRACT.volumes["overlay"]["path"]
USER_TEMPLATE = "/user-template/openclaw.json5"


def user_template(homeserver: str) -> str:
    """An operator's own template (built from the contract, not copied from the shipped one)."""
    paths = ", ".join(json.dumps(CONTRACT.plugin_path(p)) for p in CONTRACT.plugins)
    return f"""// my own template
{{
  gateway: {{ mode: "local", port: {CONTRACT.port}, bind: "lan",
             auth: {{ mode: "token", token: "${{OPENCLAW_GATEWAY_TOKEN}}" }} }},
  agents: {{ defaults: {{ workspace: {json.dumps(CONTRACT.workspace)} }} }},
  plugins: {{ load: {{ paths: [{paths}] }}, entries: {{ matrix: {{ enabled: true }} }} }},
  channels: {{ matrix: {{ enabled: true, homeserver: {homeserver}, encryption: false }} }},
}}
"""


def mounted(volumes, text: str, target: str) -> list[str]:
    """A file next to the volumes (readable by the QA user), mounted read-only at `target`."""
    path = volumes.root / target.strip("/").replace("/", "-")
    path.write_text(text)
    path.chmod(0o644)
    shutil.chown(path, volumes.state.owner(), volumes.state.group())
    return ["-v", f"{path}:{target}:ro"]


def section(stdout: str, marker: str):
    """The JSON `openclaw config get --json` printed after `marker` (its last line), or None."""
    lines = stdout.split(marker, 1)[1].split("\n--", 1)[0].strip().splitlines() if marker in stdout else []
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("path", ["overlay", "template"])
def test_hostile_value_cannot_rewrite_the_config(runner, volumes, scenario, path, case):
    """A value closing its quotes or comment and setting gateway.auth.mode none: refused (78, one line),
    or the value byte for byte and auth mode still token (openclaw config get in the container)."""
    homeserver, value, reads_as = CASES[case]
    if path == "overlay":
        extra = mounted(volumes, f"{{ channels: {{ matrix: {{ homeserver: {homeserver} }} }} }}\n", OVERLAY)
        env = {NAME: value}
    else:
        extra = mounted(volumes, user_template(homeserver), USER_TEMPLATE)
        env = {NAME: value, "OPENCLAW_NIX_TEMPLATE": USER_TEMPLATE}
    checks = (
        "echo --homeserver; openclaw config get channels.matrix.homeserver --json 2>/dev/null; "
        "echo --auth-mode; openclaw config get gateway.auth.mode --json 2>/dev/null; echo --end"
    )
    result = runner.run(
        ["-c", f"exec openclaw-nix-entrypoint sh -c {shlex.quote(checks)}"],
        volumes=volumes,
        env=env,
        extra=[*extra, "--network=none", "--entrypoint", "sh"],
        timeout=240,
    )
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    scenario.fact("exit", result.returncode)
    scenario.fact("error_lines", errors)
    if result.returncode == 78:
        assert len(errors) == 1, result.stderr
        assert f"${{{NAME}}}" in errors[0]
        scenario.fact("verdict", "refused")
        return
    assert result.returncode == 0, result.stderr[-2000:]
    seen, auth_mode = section(result.stdout, "--homeserver"), section(result.stdout, "--auth-mode")
    scenario.fact("homeserver_byte_exact", seen == reads_as)
    scenario.fact("homeserver_seen", seen)
    scenario.fact("auth_mode", auth_mode)
    scenario.fact("verdict", "substituted")
    assert auth_mode == "token", "an environment value changed gateway.auth.mode"
    assert seen == reads_as
