"""The seed's smoke QA scenarios (T2-T8) and more, against the real image in rootless podman.

Each test is one scenario; its commands, outputs and figures land in the evidence directory.
They run unchanged against the Nix image wherever Nix can build it (`doit image` picks).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from harness.config_checks import config_reseeded, offline_start_plugins_loaded, substitution_allowlist
from harness.containers import (
    TEST_TOKEN,
    Volumes,
    free_port,
    gateway,
    gateway_up,
    host_tree,
    parse_versions,
    version_script,
)
from harness.template import at, dotted, parse, placeholders
from image.config_check import config_mismatches
from image.paths import REPO
from plumbing import commands
from plumbing.commands import Result
from plumbing.waiting import poll

pytestmark = pytest.mark.container


@pytest.mark.smoke
def test_t6_image_loaded_with_contract_metadata(image, contract, scenario, qa_user):
    """T6: the built image is loaded and listed with the contract's name, port, env and no User."""
    listing = scenario.add(qa_user.podman("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"))
    cfg = image.inspect["Config"]
    labels = cfg.get("Labels") or {}
    scenario.fact("listed", [line for line in listing.stdout.splitlines() if "openclaw-nix" in line])
    scenario.fact("builder", labels.get("io.openclaw-nix.builder"))
    scenario.fact("exposed_ports", sorted(cfg.get("ExposedPorts", {})))
    scenario.fact("user", cfg.get("User", ""))
    scenario.fact("size_bytes", image.inspect.get("Size"))
    assert any(line.startswith(contract.image_ref + " ") for line in listing.stdout.splitlines())
    assert config_mismatches(image.config, contract, image.builder) == []


@pytest.mark.smoke
def test_t2_rootless_write_probe(runner, volumes, qa_user, scenario):
    """T2: /state and /logs are writable as --userns=keep-id --user $(id -u):$(id -g); host owner is the QA user."""
    result = runner.sh("id; touch /state/probe /logs/probe", volumes=volumes)
    assert result.ok, result.stderr
    owners = {p: os.stat(p).st_uid for p in (volumes.state / "probe", volumes.logs / "probe")}
    scenario.fact("container_id", result.stdout.strip().splitlines()[0])
    scenario.fact("host_owners", {str(k): v for k, v in owners.items()})
    scenario.fact("qa_uid", qa_user.uid)
    assert f"uid={qa_user.uid}" in result.stdout
    assert set(owners.values()) == {qa_user.uid}
    state_tree = host_tree(volumes.state)
    assert {v["uid"] for v in state_tree.values()} == {qa_user.uid}


@pytest.mark.smoke
def test_t2_tool_prefixes_in_state(runner, volumes, contract, scenario):
    """T2: PATH, NPM_CONFIG_PREFIX, UV_CACHE_DIR ... point into /state, exactly as the contract says."""
    names = list(contract.env)
    result = runner.sh("; ".join(f'echo "{n}=${n}"' for n in names), volumes=volumes)
    assert result.ok, result.stderr
    seen = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    scenario.fact("env", seen)
    assert seen == contract.env
    for name in (
        "NPM_CONFIG_PREFIX",
        "NPM_CONFIG_CACHE",
        "UV_CACHE_DIR",
        "PIP_CACHE_DIR",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "HOME",
    ):
        assert seen[name].startswith("/state/"), name
    assert seen["PATH"].split(":")[:2] == ["/state/bin", "/state/npm/bin"]


@pytest.mark.smoke
def test_t4_config_reseeded_every_start(runner, volumes, scenario, template):
    """T4: /config/openclaw.json exists at every start, edits are gone next start, content identical."""
    config_reseeded(runner, volumes, scenario, template)


@pytest.mark.smoke
def test_t4_substitution_allowlist(runner, volumes, contract, scenario, template):
    """T4: allowlisted variables (OPENCLAW_MATRIX_TOKEN, ...) substituted; a non-allowlisted one never reaches it."""
    substitution_allowlist(runner, volumes, scenario, template, contract)


@pytest.mark.smoke
def test_t5_toolchain_versions(runner, contract, scenario):
    """T5: every toolchain binary of the contract prints a version (gemini and requests included)."""
    result = runner.run(["bash", "-c", version_script(contract)])
    versions = parse_versions(result.stdout)
    scenario.fact(
        "versions", {k: v["output"].strip().splitlines()[0] if v["output"].strip() else "" for k, v in versions.items()}
    )
    scenario.fact("exit_codes", {k: v["rc"] for k, v in versions.items()})
    assert sorted(versions) == sorted(t.name for t in contract.toolchain)
    failed = {k: v for k, v in versions.items() if v["rc"] != 0}
    assert not failed, failed
    assert contract.openclaw_version in versions["openclaw"]["output"]


@pytest.mark.smoke
def test_t5_tmp_writable_and_tls_trust(runner, contract, scenario):
    """T5: /tmp and /var/tmp are writable (1777) and the TLS trust store SSL_CERT_FILE names exists."""
    result = runner.sh(
        'touch /tmp/probe /var/tmp/probe && stat -c "%a %n" /tmp /var/tmp /config /state /logs && '
        'test -s "$SSL_CERT_FILE" && echo "certificates=$(grep -c "BEGIN CERTIFICATE" "$SSL_CERT_FILE")" && '
        "python3 -c 'import ssl; print(ssl.create_default_context().cert_store_stats())'"
    )
    assert result.ok, result.stderr
    modes = dict(reversed(line.split()) for line in result.stdout.splitlines() if line.startswith(("1777", "755")))
    scenario.fact("modes", modes)
    certificates = next(
        (line.split("=", 1)[1] for line in result.stdout.splitlines() if line.startswith("certificates=")), ""
    )
    scenario.fact("certificates", certificates)
    assert modes.get("/tmp") == "1777" and modes.get("/var/tmp") == "1777"
    assert int(certificates or 0) > 50


@pytest.mark.smoke
def test_t5_ffmpeg_transcodes_in_software(runner, scenario):
    """T5: ffmpeg encodes and decodes real media with software codecs (the GPU stack is trimmed away)."""
    result = runner.sh(
        "cd /tmp && ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=duration=1:size=320x240:rate=10 "
        "-f lavfi -i sine=frequency=440:duration=1 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest out.mp4 && "
        "ffprobe -v error -count_frames -show_entries stream=codec_name,nb_read_frames -of json out.mp4 && "
        "echo --- && ffmpeg -hide_banner -loglevel error -i out.mp4 -vn -c:a libopus out.ogg && "
        "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 out.ogg"
    )
    assert result.ok, result.stderr
    probe, audio = result.stdout.split("---")
    streams = {s["codec_name"]: int(s["nb_read_frames"]) for s in json.loads(probe)["streams"]}
    scenario.fact("mp4_streams_frames", streams)
    scenario.fact("reencoded_audio", audio.strip())
    assert streams.get("h264") == 10 and streams.get("aac", 0) > 0
    assert audio.strip() == "opus"


@pytest.mark.smoke
def test_t5_every_elf_links_resolve(runner, scenario):
    """T5: no binary, library or node addon in the image links a library the image lacks."""
    source = (REPO / "harness" / "elf_links.py").read_text()
    result = runner.run(["python3", "-c", source, "/usr", "/opt", "/nix/store"])
    assert result.ok, result.stderr
    found = json.loads(result.stdout)
    scenario.fact("elf_files_checked", found["checked"])
    scenario.fact("missing_libraries", found["missing"])
    assert found["checked"] > 500
    assert found["missing"] == {}


@pytest.mark.smoke
def test_t7_offline_start_plugins_loaded(runner, volumes, contract, scenario):
    """T7: --network=none, empty volumes: gateway live, matrix + whatsapp loaded, nothing installed at start."""
    offline_start_plugins_loaded(runner, volumes, contract, scenario, "qa-offline")


@pytest.mark.smoke
def test_t7_network_port_reachable_from_host(runner, volumes, contract, scenario, qa_user):
    """T7: with the normal network and -p 127.0.0.1:PORT:18789 the gateway answers on the host."""
    name = "qa-network"
    port = free_port()
    with gateway(runner, name, volumes, scenario, extra=["-p", f"127.0.0.1:{port}:{contract.port}"]):

        def host_healthz() -> Result | None:
            done = commands.run(["curl", "-fsS", f"http://127.0.0.1:{port}/healthz"], timeout=10)
            return done if done.ok else None

        result = poll(host_healthz, 20, "/healthz on the published host port")
        scenario.fact("host_port", port)
        scenario.fact("host_healthz", result.stdout.strip())
        assert result.returncode == 0 and json.loads(result.stdout)["ok"] is True
        runner.stop(name)


def test_state_persists_across_restarts(runner, volumes, scenario):
    """/state survives a restart: files present before are unchanged after a second gateway start."""
    user_note = "workspace/notes.md"
    runner.sh(f"echo 'keep me' > /state/{user_note}", volumes=volumes)
    names = ["qa-persist-1", "qa-persist-2"]
    trees = []
    try:
        for name in names:
            gateway_up(runner, name, volumes, scenario, extra=["--network=none"])
            runner.stop(name)
            runner.remove(name)
            trees.append(host_tree(volumes.state))
    finally:
        for name in names:
            runner.remove(name)
    before, after = trees
    changed = sorted(p for p in before if p in after and before[p]["sha256"] != after[p]["sha256"])
    removed = sorted(set(before) - set(after))
    scenario.fact("files_after_first_start", len(before))
    scenario.fact("removed", removed)
    scenario.fact("changed_by_openclaw", changed)
    assert removed == []
    assert before[user_note] == after[user_note]
    assert all(p.startswith(".openclaw/") for p in changed), changed


def test_runtime_npm_install_persists(runner, volumes, scenario):
    """A runtime `npm install -g` lands in /state/npm and its command still works after a restart."""
    make_pkg = (
        "set -e; mkdir -p /tmp/p/bin; cd /tmp/p; "
        'printf \'%s\' \'{"name":"oc-hello","version":"1.0.0","bin":{"oc-hello":"bin/h.js"}}\' '
        "> package.json; printf '#!/usr/bin/env node\\nconsole.log(\"hello from state\")\\n' > bin/h.js; "
        "npm pack --silent >/dev/null; npm install -g --offline ./oc-hello-1.0.0.tgz 2>&1 | tail -2; "
        "command -v oc-hello"
    )
    install = runner.sh(make_pkg, volumes=volumes, extra=["--network=none"])
    assert install.ok, install.stderr
    again = runner.sh("command -v oc-hello && oc-hello", volumes=volumes, extra=["--network=none"])
    scenario.fact("installed_at", install.stdout.strip().splitlines()[-1])
    scenario.fact("after_restart", again.stdout.strip())
    assert again.ok and "hello from state" in again.stdout
    assert again.stdout.startswith("/state/npm/bin/oc-hello")


WHEEL_SCRIPT = """
import zipfile
meta = {"ochello.py": "print('hello from pip in state')\\n",
        "ochello-1.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: ochello\\nVersion: 1.0\\n",
        "ochello-1.0.dist-info/WHEEL":
            "Wheel-Version: 1.0\\nGenerator: qa\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
        "ochello-1.0.dist-info/RECORD": ""}
with zipfile.ZipFile("/tmp/ochello-1.0-py3-none-any.whl", "w") as whl:
    for name, text in meta.items():
        whl.writestr(name, text)
"""


def test_runtime_pip_install_persists(runner, volumes, scenario):
    """A runtime `pip install` (offline, local wheel) lands under /state and imports after a restart."""
    install = runner.sh(
        f"python3 -c {shlex.quote(WHEEL_SCRIPT)}"
        " && pip install --no-index /tmp/ochello-1.0-py3-none-any.whl 2>&1 | tail -n 2"
        " && python3 -c 'import ochello; print(ochello.__file__)'",
        volumes=volumes,
        extra=["--network=none"],
    )
    assert install.ok, install.stderr
    again = runner.sh("python3 -c 'import ochello; print(ochello.__file__)'", volumes=volumes, extra=["--network=none"])
    scenario.fact("installed_at", install.stdout.strip().splitlines()[-1])
    scenario.fact("after_restart", again.stdout.strip())
    assert again.ok and "hello from pip in state" in again.stdout
    assert "/state/python/" in again.stdout


TRIMMED_TOOLS_SCRIPT = r"""
cd /tmp && rm -rf g && mkdir g && cd g
git init -q --bare remote.git && git clone -q remote.git work 2>&1
git -C work -c user.name=qa -c user.email=qa@invalid commit -q --allow-empty -m pushed-and-cloned
git -C work push -q origin HEAD:main 2>&1 && git clone -q --branch main remote.git again && git -C again log --format=%s
echo ---; git ls-remote https://127.0.0.1:9/x.git 2>&1
echo ---; ffmpeg -hide_banner -loglevel error -f lavfi -i flite=text=hello:voice=slt -t 1 -f null - && echo flite=ok
echo ---; printf abc | shasum -a 256
echo ---; perl -MEncode -MJSON::PP -e 'print JSON::PP->new->ascii->encode([Encode::decode("UTF-8", "\xc3\xa9")]), "\n"'
"""


def test_trimmed_image_keeps_what_the_toolchain_uses(runner, scenario):
    """What the size trims (sources.toml) sit next to keeps working: git pushes and clones and reaches its https
    transport (only the server programs are gone), ffmpeg's flite filter speaks with a kept voice, and perl
    loads XS and pure-perl modules (shasum's Digest::SHA, Encode, JSON::PP) without its shared library."""
    result = runner.sh(TRIMMED_TOOLS_SCRIPT, extra=["--network=none"])
    parts = [part.strip() for part in result.stdout.split("---")]
    scenario.fact("outputs", parts)
    assert result.ok and len(parts) == 5, result.stderr
    clone, https, flite, shasum, perl = parts
    assert clone.splitlines()[-1] == "pushed-and-cloned"
    assert "unable to access" in https and "is not a git command" not in https
    assert flite == "flite=ok"
    assert shasum.startswith("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert perl == '["\\u00e9"]', perl


def test_bad_input_missing_token_refuses(runner, volumes, scenario):
    """Missing OPENCLAW_GATEWAY_TOKEN: the container stops with one clear line, /state untouched."""
    runner.sh("echo precious > /state/workspace/keep.txt", volumes=volumes)
    before = host_tree(volumes.state)
    result = runner.run(None, volumes=volumes, env={"OPENCLAW_GATEWAY_TOKEN": None}, extra=["--network=none"])
    scenario.fact("exit_code", result.returncode)
    scenario.fact("stderr", result.stderr.strip())
    assert result.returncode == 78
    assert "OPENCLAW_GATEWAY_TOKEN" in result.stderr and "-e OPENCLAW_GATEWAY_TOKEN=" in result.stderr
    assert host_tree(volumes.state) == before


def test_bad_input_unwritable_state_refuses(runner, volumes, scenario, qa_user):
    """/state not writable by the container uid: clear error naming path, uid and fix; nothing lost."""
    locked = volumes.root / "locked-state"
    locked.mkdir(mode=0o755)  # created by root: with keep-id the container user cannot write it
    (locked / "precious.txt").write_text("mine")
    os.chmod(volumes.root, 0o755)
    before = host_tree(locked)
    vols = Volumes(volumes.root)
    result = runner.run(None, env={}, extra=["-v", f"{locked}:/state", "-v", f"{vols.logs}:/logs", "--network=none"])
    scenario.fact("exit_code", result.returncode)
    scenario.fact("stderr", result.stderr.strip())
    assert result.returncode == 78
    assert "/state is not writable" in result.stderr and f"uid {qa_user.uid}" in result.stderr
    assert "--userns=keep-id" in result.stderr
    assert host_tree(locked) == before
    shutil.rmtree(locked)


def test_gateway_honours_the_given_token(runner, volumes, contract, scenario, template):
    """The gateway runs with the token it was given (not a random one): the CLI authenticates with it, and
    the config holds it wherever the template names ${OPENCLAW_GATEWAY_TOKEN} (read as JSON5, by key path)."""
    name = "qa-token"
    with gateway(runner, name, volumes, scenario, extra=["--network=none"]):
        health = runner.exec(
            name,
            "openclaw health --json >/tmp/h.json 2>/tmp/h.err; rc=$?; "
            "head -c 3000 /tmp/h.json; tail -c 800 /tmp/h.err >&2; exit $rc",
        )
        config = parse(runner.exec(name, f"cat {contract.env['OPENCLAW_CONFIG_PATH']}").stdout)
        paths = [p for p, names in placeholders(parse(template.data)).items() if "OPENCLAW_GATEWAY_TOKEN" in names]
        scenario.fact("health_rc", health.returncode)
        scenario.fact("token_paths", {dotted(p): TEST_TOKEN in at(config, p) for p in paths})
        assert health.ok, health.stderr
        assert paths and all(TEST_TOKEN in at(config, p) for p in paths)


def runbook(page: Path) -> str:
    """A page's blocks tagged ```sh runbook (the ones that need no outside service), verbatim and in order:
    together they are one script a reader pastes top to bottom."""
    blocks = re.findall(r"^```sh runbook\n(.*?)^```", page.read_text(), re.S | re.M)
    assert blocks, f"{page.name} has no ```sh runbook block"
    return "\n".join(blocks)


@pytest.mark.smoke
def test_t8_readme_runbook_as_written(qa_user, image, scenario):
    """T8: the README quick start's runbook blocks (run, Control UI, stop), extracted and run as written by a
    non-root user."""
    script_text = runbook(REPO / "README.md")
    assert image.ref in script_text
    qa_user.podman("rm", "-f", "-t", "0", "openclaw")
    qa_user.run(["rm", "-rf", str(qa_user.home / "openclaw")])
    script = "set -euo pipefail\n" + script_text
    result = scenario.add(qa_user.run(["timeout", "300", "bash", "-c", script], timeout=330))
    left = qa_user.podman("ps", "-a", "--filter", "name=^openclaw$", "--format", "{{.Names}}").stdout.strip()
    qa_user.podman("rm", "-f", "-t", "0", "openclaw")
    owners = {p["uid"] for p in host_tree(qa_user.home / "openclaw").values()}
    scenario.fact("exit_code", result.returncode)
    scenario.fact("host_file_owners", sorted(owners))
    scenario.fact("container_left_behind", left)
    assert result.ok, result.stderr[-2000:]
    assert '{"ok":true,"status":"live"}' in result.stdout
    assert "matrix" in result.stdout and "whatsapp" in result.stdout
    assert "<title>OpenClaw Control</title>" in result.stdout  # the Control UI page, served on the gateway port
    assert left == ""  # the stop block removed the container
    assert owners == {qa_user.uid}
