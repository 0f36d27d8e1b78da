"""Who the container runs as and what it reports: a uid with no passwd entry, the HEALTHCHECK, no
setuid/setgid files (issue 12 items 5-7), in rootless podman against the built image."""

from __future__ import annotations

import pytest

from harness.containers import NO_ENTRY_UID, Runner, gateway, parse_versions, restricted_runner, version_script
from plumbing.waiting import poll

pytestmark = pytest.mark.container

# What a named user gets, asked the ways the toolchain asks (libc's getpwuid through node, Python, git).
IDENTITY_SCRIPT = r"""
node -e 'const u = require("os").userInfo(); console.log("node", u.username, u.homedir)'
python3 -c 'import getpass, os, pwd; print("python", getpass.getuser(), pwd.getpwuid(os.getuid()).pw_name)'
echo "whoami $(whoami)"
git config --global user.email qa@example.invalid && echo "git $(git var GIT_COMMITTER_IDENT | cut -d' ' -f1)"
"""


def test_uid_without_passwd_entry_is_a_named_user(runner, volumes, contract, scenario):
    """--passwd=false --read-only --cap-drop=ALL --user 4243:4243: the toolchain sees a named user, runs,
    and the gateway goes live."""
    k8s = restricted_runner(runner, volumes, uid=NO_ENTRY_UID)
    user = contract.passwd["user"]
    probe = k8s.run(["bash", "-c", IDENTITY_SCRIPT], volumes=volumes, extra=["--network=none"])
    lines = dict(line.split(" ", 1) for line in probe.stdout.splitlines() if " " in line)
    scenario.fact("identity", lines)
    assert probe.ok, probe.stderr
    assert lines["node"] == f"{user} {contract.env['HOME']}"
    assert lines["python"] == f"{user} {user}"
    assert lines["whoami"] == user and lines["git"] == user
    tools = k8s.run(["bash", "-c", version_script(contract)], volumes=volumes, extra=["--network=none"])
    versions = parse_versions(tools.stdout)
    scenario.fact("toolchain_rc", {name: v["rc"] for name, v in versions.items()})
    assert {name: v["rc"] for name, v in versions.items()} == {t.name: 0 for t in contract.toolchain}
    name = "qa-no-passwd-entry"
    with gateway(k8s, name, volumes, scenario, extra=["--network=none"]):
        pass  # live on /healthz is the assertion


def test_healthcheck_reports_healthy_then_unhealthy(runner, volumes, image, contract, scenario):
    """The image's HEALTHCHECK (from the contract): healthy on a live gateway, unhealthy while the gateway
    process is stopped (SIGSTOP), healthy again after SIGCONT."""
    config = image.config["Healthcheck"]
    scenario.fact("image_healthcheck", config)
    assert config == contract.healthcheck
    name = "qa-healthcheck"
    # No systemd here to schedule the checks: run them on demand (`podman healthcheck run`).
    with gateway(runner, name, volumes, scenario, extra=["--network=none", "--health-interval", "disable"]):
        healthy = runner.scenario.add(runner.user.podman("healthcheck", "run", name))
        gateway_pid = "$(cat /proc/1/task/1/children)"
        runner.exec(name, f"kill -STOP {gateway_pid}")
        stopped = runner.scenario.add(runner.user.podman("healthcheck", "run", name, timeout=60))
        runner.exec(name, f"kill -CONT {gateway_pid}")
        again = poll(
            lambda: (r := runner.user.podman("healthcheck", "run", name)).ok and r,
            60,
            "healthy again after SIGCONT",
            interval=0.5,
        )
        scenario.fact("healthy", [healthy.returncode, healthy.stdout.strip()])
        scenario.fact("while_stopped", [stopped.returncode, stopped.stdout.strip()])
        # podman 4.3 prints nothing when healthy (exit 0) and "unhealthy" with exit 1
        assert healthy.ok and "unhealthy" not in healthy.stdout
        assert not stopped.ok and "unhealthy" in stopped.stdout
        assert again.ok


def test_no_setuid_or_setgid_files(runner, scenario):
    """CIS Docker Benchmark 4.8: no file in the image carries the setuid or setgid bit (searched as the
    container's root, which can read every directory, so `find` must exit 0)."""
    as_root = Runner(runner.user, runner.image, runner.scenario, identity=[])
    result = as_root.run(["sh", "-c", "find / -xdev -perm /6000 -type f; echo rc=$?"])
    lines = result.stdout.splitlines()
    found = [line for line in lines if not line.startswith("rc=")]
    scenario.fact("setuid_setgid_files", found)
    assert result.ok and lines and lines[-1] == "rc=0", result.stdout + result.stderr
    assert found == []
