"""Publishing for real: push to a local TLS + htpasswd registry, pull back by digest into a clean
rootless storage, run it offline; and the failures a user will meet, each with one clear line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from harness import registry as reg
from harness.containers import Runner, free_port
from harness.podman import QaUser
from harness.preconditions import cannot_run
from image.paths import REPO
from plumbing import commands
from plumbing.commands import Result

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    try:
        running = reg.start(tmp_path_factory.mktemp("registry"))
    except reg.RegistryUnavailable as err:
        cannot_run(str(err))
    yield running
    running.stop()


def publish(*args: str | Path, env: dict[str, str]) -> Result:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_NIX_REGISTRY", "REGISTRY_AUTH"))}
    return commands.run(
        [sys.executable, "-m", "pipeline.publish", *args],
        cwd=REPO,
        env={**clean, **env},
        inherit_env=False,
        timeout=900,
    )


def creds(registry: reg.Registry, password: str | None = None) -> dict[str, str]:
    return {
        "OPENCLAW_NIX_REGISTRY_USER": registry.user,
        "OPENCLAW_NIX_REGISTRY_PASSWORD": password or registry.password,
        "OPENCLAW_NIX_REGISTRY_CERT_DIR": str(registry.ca_dir),
    }


def test_push_twice_pull_by_digest_and_run_offline(registry, image, qa_user, scenario, tmp_path):
    """Push (version, revision, dev tags), push again (no layer re-uploaded), pull by digest into an
    empty rootless storage, run with --network=none: gateway live."""
    repo = f"{registry.address}/openclaw-nix"
    uploads = [registry.blob_uploads()]
    first = publish(
        "--to", repo, "--archive", image.archive, "--record", str(tmp_path / "push1.json"), env=creds(registry)
    )
    assert first.returncode == 0, first.stderr
    uploads.append(registry.blob_uploads())
    second = publish(
        "--to", repo, "--archive", image.archive, "--record", str(tmp_path / "push2.json"), env=creds(registry)
    )
    assert second.returncode == 0, second.stderr
    uploads.append(registry.blob_uploads())
    rec1, rec2 = (json.loads((tmp_path / f"push{i}.json").read_text()) for i in (1, 2))
    everything = first.stdout + first.stderr + second.stdout + second.stderr + json.dumps([rec1, rec2])
    layers = len(image.inspect["RootFS"]["Layers"])
    scenario.fact("digest", rec1["digest"])
    scenario.fact("tags", [t["tag"] for t in rec1["tags"]])
    scenario.fact("blob_uploads_first_push_all_tags", uploads[1] - uploads[0])
    scenario.fact("blob_uploads_second_push", uploads[2] - uploads[1])
    scenario.fact("layers", layers)
    assert registry.password not in everything, "credentials leaked into output or the record"
    assert rec1["digest"] == rec2["digest"] and rec1["digest"] in first.stdout
    assert uploads[1] - uploads[0] == layers + 1, "each layer and the config uploaded exactly once over all tags"
    assert uploads[2] - uploads[1] == 0, "a second push must upload nothing"

    # pull by digest into a storage that has never seen the image
    home = qa_user.home / "qa-registry"
    qa_user.run(["podman", "unshare", "rm", "-rf", str(home)], check=True)
    qa_user.mkdirs(home / "ca")
    qa_user.run(["cp", "/dev/stdin", str(home / "ca" / "ca.crt")], stdin=registry.ca_dir / "ca.crt", check=True)
    password_file = tmp_path / "password"
    password_file.write_text(registry.password)
    clean = QaUser(
        qa_user.name,
        podman_global=[
            "--root",
            str(home / "storage"),
            "--runroot",
            f"/run/user/{qa_user.uid}/qa-registry",
            "--storage-driver",
            "overlay",
        ],
    )
    login = clean.podman(
        "login",
        "--cert-dir",
        str(home / "ca"),
        "--authfile",
        str(home / "auth.json"),
        "--username",
        registry.user,
        "--password-stdin",
        registry.address,
        stdin=password_file,
    )
    assert login.ok, login.stderr
    by_digest = f"{repo}@{rec1['digest']}"
    pulled = scenario.add(
        clean.podman(
            "pull", "--cert-dir", str(home / "ca"), "--authfile", str(home / "auth.json"), by_digest, timeout=900
        )
    )
    assert pulled.ok, pulled.stderr
    pulled_id = clean.podman("image", "inspect", by_digest, "--format", "{{.Id}}").stdout.strip()
    scenario.fact("pulled_image_id", pulled_id)
    assert "sha256:" + pulled_id == image.image_id
    runner = Runner(clean, by_digest, scenario)
    name = "qa-pulled"
    try:
        assert runner.start(name, volumes=None, extra=["--network=none"]).ok
        live = runner.wait_live(name)
        assert live.ok
    finally:
        runner.remove(name)
        clean.run(["podman", "unshare", "rm", "-rf", str(home)])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong_password", "rejected the credentials"),
        ("unreachable", "cannot reach the registry"),
        ("untrusted_tls", "TLS verification"),
        ("missing_image", "no image archive"),
    ],
)
def test_push_failure_is_one_clear_line(registry, image, scenario, tmp_path, case, expected):
    """Wrong password, unreachable registry, unknown CA, missing image: exit 1, one line, no record."""
    repo, archive, env = f"{registry.address}/openclaw-nix", image.archive, creds(registry)
    if case == "wrong_password":
        env = creds(registry, password="definitely-wrong")
    elif case == "unreachable":
        repo = f"127.0.0.1:{free_port()}/openclaw-nix"
    elif case == "untrusted_tls":
        env.pop("OPENCLAW_NIX_REGISTRY_CERT_DIR")
    else:
        archive = str(tmp_path / "no-such-image.tar")
    record = tmp_path / "push.json"
    result = publish("--to", repo, "--archive", archive, "--record", str(record), "--tag", "qa", env=env)
    lines = result.stderr.strip().splitlines()
    scenario.fact("exit_code", result.returncode)
    scenario.fact("stderr", lines)
    assert result.returncode == 1
    assert len(lines) == 1 and expected in lines[0], lines
    assert not record.exists()
    assert "definitely-wrong" not in result.stdout + result.stderr and registry.password not in result.stderr
