"""OpenClaw's own security audit, run against a live gateway of the image: 0 critical, 0 warn.

OpenClaw's docs tell operators to run `openclaw security audit --deep`; `--deep` adds a live probe of the
running gateway (its WebSocket, with the configured token) and the plugins' own collectors, `--json` gives
the report: `summary` (counts per severity), `findings` (checkId, severity, title, detail), `deep.gateway`.
Each configuration starts on fresh volumes (what a new user gets), the audit runs inside the container
(`podman exec`, where the operator runs it), and the whole report is written to the evidence.

Configurations: the image's template alone; the README's Matrix overlay (its 10-matrix.json5 and
20-model.json5, with the environment the README passes); and the Kubernetes base's overlay ConfigMap
(deploy/k8s/config-overlay) under the pod's runtime (read-only root, a uid without passwd entry, cap-drop
ALL, volumes given to that uid as fsGroup does). A finding may only be accepted by naming its
checkId in ACCEPTED with the reason and the exact detail it must have (shown in docs/security-audit.md);
an OpenClaw suppression (`security.audit.suppressions`) would hide findings from this test, so none may
be configured.

The one accepted finding is OpenClaw's own probe bug (openclaw/openclaw#128217, open; fix proposed in
#135147): the deep probe connects with the token, is authenticated, and then fails its first read because
the CLI never holds `operator.read`. It is accepted only with exactly that detail, and the scenario
proves the probe really authenticated: the same audit with a wrong `--token` must fail differently.
"""

from __future__ import annotations

import json
import secrets

import pytest

from harness.containers import CONTRACT, gateway, restricted_runner
from harness.evidence import EVIDENCE_DIR, SECRETS, write_json
from harness.k8s import K8S_DIR

pytestmark = pytest.mark.container
OVERLAY = CONTRACT.volumes["overlay"]["path"]

# checkId -> (the detail it must have, why it is accepted). Any other critical or warn finding fails.
PROBE_SCOPE_BUG = "missing scope: operator.read"
ACCEPTED: dict[str, tuple[str, str]] = {
    "gateway.probe_failed": (
        PROBE_SCOPE_BUG,
        "OpenClaw 2026.6.11 bug openclaw/openclaw#128217: the deep probe authenticates, then its read fails "
        "because the CLI is never granted operator.read; not a connectivity or configuration problem",
    ),
}

# The README's "Talk to it over Matrix" overlay, as an operator copies it (homeserver on the internet).
README_MATRIX_OVERLAY = {
    "10-matrix.json5": """{
  channels: {
    matrix: {
      autoJoin: "always",
      dm: { policy: "allowlist", allowFrom: ["@you:example.org"] },
    },
    whatsapp: { enabled: false },
  },
  plugins: { entries: { whatsapp: { enabled: false } } },
}
""",
    "20-model.json5": '{ agents: { defaults: { model: { primary: "openrouter/auto" } } } }\n',
}
MATRIX_TOKEN = "syt_qa_" + secrets.token_hex(16)  # a made-up bot token: no homeserver is reachable
SECRETS.add(MATRIX_TOKEN)
MATRIX_ENV = {"OPENCLAW_MATRIX_HOMESERVER": "https://matrix.example.org", "OPENCLAW_MATRIX_TOKEN": MATRIX_TOKEN}
K8S_OVERLAY = {p.name: p.read_text() for p in sorted((K8S_DIR / "config-overlay").glob("*.json5"))}
# name -> (overlay files, environment, run as the Kubernetes pod does)
CONFIGS = {
    "template": ({}, {}, False),
    "readme_matrix_overlay": (README_MATRIX_OVERLAY, MATRIX_ENV, False),
    "k8s_base": (K8S_OVERLAY, MATRIX_ENV, True),
}


def overlay_flags(volumes, qa_user, files: dict[str, str]) -> list[str]:
    """Write the overlay directory (owned by the QA user) and mount it read-only; [] for no overlay."""
    if not files:
        return []
    target = volumes.root / "overlay"
    qa_user.mkdirs(target)
    for name, text in files.items():
        qa_user.write_file(target / name, text)
    return ["-v", f"{target}:{OVERLAY}:ro"]


def accepted(finding: dict) -> bool:
    """Listed in ACCEPTED, with exactly the detail it was accepted for."""
    detail, _reason = ACCEPTED.get(finding["checkId"], (None, None))
    return detail is not None and finding.get("detail", "").strip() == detail


def blocking(report: dict) -> list[dict]:
    """Critical and warn findings not accepted."""
    return [
        {k: f.get(k) for k in ("checkId", "severity", "title", "detail")}
        for f in report["findings"]
        if f["severity"] in ("critical", "warn") and not accepted(f)
    ]


def audit(runner, name: str, *flags: str) -> dict:
    result = runner.exec(name, " ".join(["openclaw security audit --deep --json", *flags]))
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_security_audit_deep_passes(runner, volumes, scenario, qa_user, config):
    """`openclaw security audit --deep --json` inside a running gateway on fresh volumes: the live probe
    succeeds and no critical or warn finding remains except the accepted ones (named with reasons)."""
    files, env, as_pod = CONFIGS[config]
    assert not as_pod or files, "the Kubernetes base ships an overlay"
    if as_pod:
        runner = restricted_runner(runner, volumes)
    name = f"qa-audit-{config.replace('_', '-')}"
    # no network: the gateway and the audit need none, and the Matrix channel must not reach the internet
    extra = ["--network=none", *overlay_flags(volumes, qa_user, files)]
    scenario.fact("overlay_files", sorted(files))
    with gateway(runner, name, volumes, scenario, env=env, extra=extra):
        report = audit(runner, name)
        write_json(EVIDENCE_DIR / f"{scenario.name}.audit.json", report)
        scenario.fact("summary", report["summary"])
        scenario.fact(
            "findings", [f"{f['severity']} {f['checkId']}: {f.get('detail', '')[:160]}" for f in report["findings"]]
        )
        scenario.fact("accepted", {f["checkId"]: ACCEPTED[f["checkId"]][1] for f in report["findings"] if accepted(f)})
        probe = report.get("deep", {}).get("gateway", {})
        scenario.fact("deep_probe", probe)
        assert probe.get("attempted"), f"no live gateway probe: {probe}"
        assert probe.get("ok") or probe.get("error") == PROBE_SCOPE_BUG, f"the live probe failed: {probe}"
        assert not report.get("suppressedFindings"), "a configured suppression hides findings"
        assert blocking(report) == []

        # the control: with a wrong token the probe is refused at authentication, so the accepted detail
        # above can only come from a probe that authenticated with the right one
        wrong = audit(runner, name, "--token", "wrong-" + secrets.token_hex(24))
        refused = wrong.get("deep", {}).get("gateway", {})
        scenario.fact("deep_probe_wrong_token", refused)
        assert not refused.get("ok") and refused.get("error") not in (None, PROBE_SCOPE_BUG), refused
        runner.stop(name)
