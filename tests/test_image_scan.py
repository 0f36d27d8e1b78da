"""The layer scanner finds planted secrets and lists packages (on a tiny archive made here)."""

from __future__ import annotations

import json
import subprocess

from harness.image_scan import sbom, scan
from image.archive import image_config, write_docker_archive
from image.layers import tree_entries, write_layer


def make_archive(tmp_path, contract):
    root = tmp_path / "root"
    (root / "opt/app/node_modules/left-pad").mkdir(parents=True)
    (root / "opt/app/node_modules/left-pad/package.json").write_text(
        json.dumps({"name": "left-pad", "version": "1.3.0"})
    )
    key = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], capture_output=True, check=True
    ).stdout
    (root / "opt/app/id_rsa").write_bytes(key)
    (root / "opt/app/config.js").write_text('const token = "planted-literal-123";\n')
    (root / "opt/app/parser.js").write_text('const HEADER = "-----BEGIN PRIVATE KEY-----";\n')
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("Package: jq\nStatus: install ok installed\nVersion: 1.6-2.1\n\n")
    layer = write_layer(tree_entries(root), tmp_path / "l.tar", 0)
    archive = tmp_path / "img.tar"
    write_docker_archive(archive, contract.image_ref, image_config(contract, [("app", layer)], {}, 0), [("app", layer)])
    return archive


def test_scan_finds_planted_key_and_literal_but_not_a_bare_header(tmp_path, contract):
    archive = make_archive(tmp_path, contract)
    found = {(f.path, f.kind) for f in scan(archive, ["planted-literal-123"], {})}
    assert ("opt/app/id_rsa", "private key") in found
    assert any(path == "opt/app/config.js" for path, _ in found)
    assert not any(path == "opt/app/parser.js" for path, _ in found)
    assert scan(archive, ["planted-literal-123"], {"*/app/*": "test"}) == []


def test_sbom_lists_debian_and_npm_packages(tmp_path, contract):
    (layer,) = sbom(make_archive(tmp_path, contract))
    assert layer["debian"] == ["jq=1.6-2.1"] and layer["npm"] == ["left-pad@1.3.0"]
