"""Offline Nix checks: the real flake passes, and each kind of breakage is caught.

Without nix these report "not run" (skipped with the reason), never pass. setup/bootstrap.sh
installs Debian's nix-bin, so CI runs them.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from image.nix import check as nix_check
from image.nix import lock as nix_lock
from image.nix import sources as nix_sources
from image.paths import NIX_OPENCLAW_GIT, REPO
from plumbing.files import edited_copy

pytestmark = pytest.mark.nix
FLAKE_FILES = [
    "image/parity/sources.toml",
    "flake.nix",
    "flake.lock",
    "nix",
    "image/contract.toml",
    "image/patches",
    "image/compile-cache-flush.cjs",
    "image/esm-resolve-fastpath.cjs",
    "entry",
    "template",
    "deploy/k8s/config-overlay",
]


@pytest.fixture(scope="module", autouse=True)
def nix_available():
    try:
        nix_check.require_nix()
    except nix_check.NixUnavailable as err:
        pytest.skip(f"not run: {err}")


@pytest.fixture
def kubenix_sources():
    """checks.kubenix-module needs local copies of kubenix and nixpkgs.lib (without them it is "not run")."""
    try:
        for name in nix_sources.SOURCES:
            nix_sources.tree(name)
    except nix_sources.SourceMissing as err:
        pytest.skip(f"not run: {err}")


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the flake with one edit; fails loudly if the edit does not apply."""
    return edited_copy(REPO, FLAKE_FILES, tmp_path, file, old, new)


def test_real_flake_has_no_problems():
    assert nix_check.problems(REPO) == []


def test_copy_of_the_flake_without_edits_passes(tmp_path):
    assert nix_check.problems(broken_copy(tmp_path, "flake.nix", "x86_64-linux", "x86_64-linux")) == []


def test_user_in_config_is_caught(tmp_path):
    flake = broken_copy(tmp_path, "nix/image.nix", "Cmd = image.cmd;", 'Cmd = image.cmd;\n    User = "1000";')
    found = nix_check.problems(flake)
    assert any("User" in p for p in found), found
    assert any("flake check" in p for p in found), found


def test_broken_env_generation_is_caught(tmp_path):
    flake = broken_copy(
        tmp_path,
        "nix/image.nix",
        "(builtins.attrNames contract.env)",
        "(builtins.tail (builtins.attrNames contract.env))",
    )
    assert any(p.startswith("Env ") for p in nix_check.problems(flake))


def test_misplaced_plugin_link_is_caught(tmp_path):
    flake = broken_copy(tmp_path, "nix/image.nix", 'name = "${image.plugins_dir}/${id}";', 'name = "/opt/${id}";')
    found = nix_check.problems(flake)
    assert any(p.startswith("/opt/openclaw/plugins/matrix -> ''") for p in found), found


@pytest.mark.parametrize(
    ("package", "spread"),
    [
        ("(plugins.matrix)", ["dist", "node_modules", "openclaw.plugin.json", "package.json"]),
        ("gateway", ["lib"]),
        ("pkgs.git", ["libexec", "share"]),
    ],
)
def test_package_in_contents_spreads_over_the_root_and_is_caught(tmp_path, package, spread):
    """What issue 15 found: a package in `contents` puts its top-level dirs at / (node_modules at /)."""
    flake = broken_copy(tmp_path, "nix/image.nix", "    binDirs\n", f"    binDirs\n    {package}\n")
    found = nix_check.problems(flake)
    assert any(p.startswith("image root ") and f"unexpected {spread}" in p for p in found), found


def test_two_plugin_roots_in_contents_collide(tmp_path):
    flake = broken_copy(
        tmp_path, "nix/image.nix", "    binDirs\n", "    binDirs\n    (plugins.matrix)\n    (plugins.whatsapp)\n"
    )
    found = nix_check.problems(flake)
    assert any(p.startswith("contents collide at /package.json: openclaw-runtime-plugin-matrix") for p in found), found


def test_unknown_stream_layered_image_argument_fails_evaluation(tmp_path):
    """The stub takes exactly nixpkgs' formal arguments: a misspelling fails as the real build would."""
    flake = broken_copy(
        tmp_path, "nix/image.nix", "  inherit contents config;\n", "  inherit contents config;\n  maxLayer = 100;\n"
    )
    found = nix_check.problems(flake)
    assert any("unexpected argument 'maxLayer'" in p for p in found), found


def test_real_stream_layered_image_argument_is_accepted(tmp_path):
    flake = broken_copy(
        tmp_path, "nix/image.nix", "  inherit contents config;\n", "  inherit contents config;\n  maxLayers = 100;\n"
    )
    assert nix_check.problems(flake) == []


def test_argument_not_in_every_nixpkgs_version_read_is_flagged(tmp_path):
    """`meta` is real at the newest revisions read but missing from older ones: not relied upon."""
    flake = broken_copy(
        tmp_path, "nix/image.nix", "  inherit contents config;\n", "  inherit contents config;\n  meta = { };\n"
    )
    assert nix_check.problems(flake) == ["streamLayeredImage arguments ['meta'] are not in every nixpkgs version read"]


def test_healthcheck_in_wrong_units_is_caught(tmp_path):
    flake = broken_copy(tmp_path, "nix/image.nix", "seconds = s: s * 1000000000;", "seconds = s: s * 1000;")
    found = nix_check.problems(flake)
    assert any(p.startswith("Healthcheck ") for p in found), found
    assert any("flake check" in p for p in found), found


def test_optional_overlay_volume_created_is_caught(tmp_path):
    flake = broken_copy(
        tmp_path, "nix/image.nix", "builtins.filter (v: !(v.optional or false))", "builtins.filter (v: true)"
    )
    found = nix_check.problems(flake)
    assert "optional volume /config-overlay is created in the image (must exist only when mounted)" in found, found
    assert any(p.startswith("image root ") and "unexpected ['config-overlay']" in p for p in found), found


def test_missing_nss_wrapper_link_is_caught(tmp_path):
    flake = broken_copy(
        tmp_path,
        "nix/image.nix",
        '${contract.passwd.nss_wrapper} = "${pkgs.nss_wrapper}',
        '"/opt/nss.so" = "${pkgs.nss_wrapper}',
    )
    found = nix_check.problems(flake)
    assert any(p.startswith("/opt/openclaw-nix/lib/libnss_wrapper.so -> None") for p in found), found


def test_gateway_without_the_patches_is_caught(tmp_path):
    """The gateway's installPhase must run image/patches/apply.py on every spec (the offline eval reads the .drv)."""
    flake = broken_copy(tmp_path, "nix/image.nix", ") patches\n      );", ") [ ]\n      );")
    found = nix_check.problems(flake)
    assert any("is not an input of the gateway derivation" in p for p in found), found


def test_patch_spec_differing_from_the_repo_is_caught(tmp_path):
    """The derivation must carry the repo's spec byte for byte: a flake that reads another copy is caught."""
    flake = broken_copy(tmp_path, "flake.nix", './image/patches + "/${name}"', '(builtins.toFile name "stale")')
    found = nix_check.patch_problems(flake)
    spec = "image/patches/session-init-conflict-retry.toml"
    assert found == [f"{spec} is not an input of the gateway derivation (or differs)"]


def test_plugin_linking_the_unpatched_gateway_is_caught(tmp_path):
    repointed = "pluginsPatched = builtins.mapAttrs (_id: withPatchedPeer) plugins;"
    flake = broken_copy(tmp_path, "nix/image.nix", repointed, "pluginsPatched = plugins;")
    found = nix_check.patch_problems(flake)
    assert any(p.startswith("plugins link an unpatched openclaw peer") for p in found), found


def test_plugins_without_the_package_file_prune_are_caught(tmp_path):
    flake = broken_copy(tmp_path, "flake.nix", ".prune.package_files or { }", ".prune.nothing or { }")
    found = nix_check.prune_problems(flake)
    assert any(p.startswith("plugin whatsapp keeps the files sources.toml prunes") for p in found), found


def test_plugin_prune_script_removes_the_named_files_wherever_the_package_sits(tmp_path):
    """The postFixup the flake gives each plugin, run on a plugin tree: npm's and pnpm's layouts lose the
    files sources.toml names; the package's code, other packages and a symlinked copy's target stay."""
    scripts = nix_check.plugin_post_fixups(REPO)
    out = tmp_path / "out"
    files = [
        "node_modules/node-wav/index.js",
        "node_modules/node-wav/x.json",
        "node_modules/node-wav/tests/test.js",
        "node_modules/.pnpm/node-wav@0.0.2/node_modules/node-wav/file.wav",
        "node_modules/other/x.json",
        "outside/x.json",
    ]
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    (out / "node_modules/linked").mkdir()
    (out / "node_modules/linked/node-wav").symlink_to("../../outside")
    subprocess.run(["bash", "-euc", scripts["whatsapp"]], env={"out": str(out), "PATH": "/usr/bin:/bin"}, check=True)
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not p.is_symlink())
    assert left == ["node_modules/node-wav/index.js", "node_modules/other/x.json", "outside/x.json"]


def test_image_root_matches_the_contract():
    """The listing the check computes is the one docs/nix.md documents (a readable anchor)."""
    assert nix_check.expected_root(nix_check.Contract.load()) == [
        "bin",
        "config",
        "etc",
        "logs",
        "nix",
        "opt",
        "state",
        "tmp",
        "usr",
        "var",
    ]


def test_flake_carries_nix_openclaws_binary_cache():
    """nix-openclaw's nixConfig (rev 910c1ce): a consuming flake does not inherit it."""
    flake = (REPO / "flake.nix").read_text()
    assert 'extra-substituters = [ "https://cache.garnix.io" ];' in flake
    assert '"cache.garnix.io:CTFPyKSLcx5RMJKfLo5EEPUObbA78b0YQ2DTCJXqr9g="' in flake


def test_syntax_error_is_caught(tmp_path):
    flake = broken_copy(tmp_path, "nix/image.nix", "in\npkgs.dockerTools", "in in\npkgs.dockerTools")
    assert any("does not parse" in p for p in nix_check.problems(flake))


def test_wrong_lock_rev_is_caught(tmp_path):
    flake = broken_copy(
        tmp_path, "flake.lock", "910c1ce89e6a6c7574ab97d3935afbe5310b5db7", "0000000000000000000000000000000000000000"
    )
    assert any("flake.lock pins" in p for p in nix_check.lock_problems(flake, nix_check.Contract.load()))


def test_lock_narhash_is_the_hash_of_the_source(tmp_path):
    """Recompute narHash from a local git copy of nix-openclaw (fetched outside CI); else not run."""
    lock = json.loads((REPO / "flake.lock").read_text())
    node = lock["nodes"]["nix-openclaw"]["locked"]
    git_dir = NIX_OPENCLAW_GIT
    if not (git_dir / "HEAD").exists():
        pytest.skip(
            f"not run: no local git copy of openclaw/nix-openclaw at {git_dir} "
            "(set OPENCLAW_NIX_OPENCLAW_GIT or OPENCLAW_NIX_SOURCES; there is no GitHub here)"
        )
    if subprocess.run(["git", "-C", str(git_dir), "cat-file", "-e", node["rev"]]).returncode != 0:
        pytest.skip(f"not run: {git_dir} lacks {node['rev']}")
    src = nix_lock.export_source(git_dir, node["rev"], tmp_path / "src")
    assert nix_lock.nar_hash(src) == node["narHash"]
    assert nix_lock.commit_time(git_dir, node["rev"]) == node["lastModified"]


def test_flake_check_evaluates_the_kubenix_module_with_the_pinned_sources(tmp_path, kubenix_sources):
    """checks.kubenix-module runs the module through real kubenix: a uid not from the contract fails it."""
    flake = broken_copy(tmp_path, "nix/kubenix.nix", "runAsUser = kube.uid;", "runAsUser = kube.uid + 1;")
    found = nix_check.problems(flake)
    assert len(found) == 1 and found[0].startswith("nix flake check --no-build failed"), found
    assert "assertion" in found[0] and "failed" in found[0], found


def test_without_the_kubenix_sources_the_other_checks_still_run(tmp_path, monkeypatch):
    """No local kubenix copy: the image's own flake check is still evaluated and still catches a User."""
    monkeypatch.setitem(
        nix_sources.SOURCES, "kubenix", replace(nix_sources.SOURCES["kubenix"], git_dir=tmp_path / "no-copy")
    )
    monkeypatch.setattr(nix_sources, "EXPORTS", tmp_path / "exports")
    flake = broken_copy(tmp_path / "flake", "nix/image.nix", "Cmd = image.cmd;", 'Cmd = image.cmd;\n    User = "1000";')
    found = nix_check.flake_check_problems(flake)
    assert len(found) == 1 and "check image-contract" in found[0], found


def test_probe_missing_from_path_is_caught(tmp_path):
    """The HEALTHCHECK and the Kubernetes probes run the probe command: an image without it on PATH fails."""
    flake = broken_copy(tmp_path, "nix/image.nix", '    ${contract.probe.command} = "openclaw_nix_probe.py";\n', "")
    found = nix_check.problems(flake)
    assert "openclaw-nix-probe is not on PATH" in found, found
