"""image/esm-resolve-fastpath.cjs, asked of the pinned node: a program resolves every import, and fails
every failing one, exactly as without the preload, through the cases where a shortcut could go wrong
(symlinked file and directory, another package scope, a package without "type", a directory, a missing
file, a query, a name URL-encoding changes, require()); the shortcut is taken at all; and only in the
process the entrypoint switched it on for (the gateway), never in one with its own async loader."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from entry.openclaw_nix_entry import gateway_env
from harness.resolve_record import (
    ASYNC_LOADER_ARGV,
    ASYNC_LOADER_PROGRAM,
    LOADER_ANSWER,
    RECORDER,
    differences,
    read_records,
)
from image.contract import ESM_RESOLVE_FASTPATH, Contract

MAIN = """
import { createRequire } from "node:module";
import { unlinkSync, writeFileSync } from "node:fs";
const gone = new URL("./lib/gone.js", import.meta.url);
writeFileSync(gone, "export default 'gone';");
const tries = [
  "./lib/a.js", "./lib/a.js?again=1", "./lib/missing.js", "./lib", "./lib/link.js", "./linked/b.js",
  "./linked/c.js", "./lib/with space.js", "./lib/cjs/d.js", "./typeless/esm.js", "./typeless/cjs.js",
  "./lib/sub/../b.js", "./lib/%62.js", "./lib/data.json", "./lib/b.js#/c.js", "./lib/gone.js",
  "./lib/" + "a".repeat(300) + ".js",
];
const outcome = {};
const load = async (t) => {
  try { return (await import(t)).default; } catch (err) { return err.code; }
};
for (const t of tries) outcome[t] = await load(t);
unlinkSync(gone);  // node answers an import it resolved before from its cache: the same module again
outcome.again = await load("./lib/gone.js");
const require = createRequire(import.meta.url);
outcome.require = require("./lib/cjs/e.js");
console.log(JSON.stringify(outcome));
"""

FILES = {
    # a large "exports" map, as OpenClaw's: what node re-parses per module without the preload
    "package.json": json.dumps(
        {"name": "t", "type": "module", "exports": {f"./x{i}": f"./lib/x{i}.js" for i in range(300)}}
    ),
    "main.js": MAIN,
    "lib/a.js": 'import "./b.js"; import "./c.js"; import "../lib/c.js"; import "./cjs/d.js";\n'
    'import "./sub/s1.js"; export default 1;\n',
    "lib/b.js": 'import "./c.js"; export default "b";\n',
    "lib/c.js": "export default 'c';\n",
    "lib/with space.js": 'import "./b.js"; export default "space";\n',
    "lib/data.json": '{"a": 1}\n',
    "lib/sub/s1.js": 'import "./s2.js"; import "../b.js"; export default 1;\n',
    "lib/sub/s2.js": "export default 2;\n",
    "lib/cjs/package.json": json.dumps({"type": "commonjs"}),
    "lib/cjs/d.js": 'require("./e.js"); module.exports = "d";\n',
    "lib/cjs/e.js": 'module.exports = "e";\n',
    "lib/cjs/f.js": 'module.exports = "f";\n',
    "typeless/package.json": json.dumps({"name": "typeless"}),
    "typeless/esm.js": 'import "./cjs.js"; export default 1;\n',
    "typeless/cjs.js": 'module.exports = "cjs";\n',
}


@pytest.fixture
def program(tmp_path: Path) -> Path:
    root = tmp_path / "prog"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "lib" / "link.js").symlink_to("b.js")
    (root / "linked").symlink_to("lib")
    (tmp_path / "recorder.cjs").write_text(RECORDER)
    return root


SWITCH = Contract.load().esm_fastpath_env
ON = {SWITCH: "1"}


def run(node: Path, root: Path, tag: str, *preloads: Path, flags: tuple = (), **env: str) -> tuple[dict, dict]:
    """main.js with node `flags` and `preloads` then the recorder; its outcome per import and its one record."""
    options = " ".join([*flags, *(f"--require={p}" for p in (*preloads, root.parent / "recorder.cjs"))])
    env = {"PATH": "/usr/bin:/bin", "NODE_OPTIONS": options, "RESOLVE_RECORD": str(root.parent / tag), **env}
    done = subprocess.run(
        [node, root / "main.js"], env=env, capture_output=True, text=True, timeout=60, check=False, cwd=root
    )
    assert done.returncode == 0, done.stderr
    records = read_records(root.parent, tag)
    assert len(records) == 1, records
    return json.loads(done.stdout), records[0]


# --conditions=import: require() then resolves with the "import" condition too
@pytest.mark.parametrize("flags", [(), ("--conditions=import",)], ids=["plain", "conditions-import"])
def test_every_resolution_is_nodes_own(pinned_node, program, flags):
    outcome_with, with_fastpath = run(pinned_node, program, "with", ESM_RESOLVE_FASTPATH, flags=flags, **ON)
    outcome_without, without = run(pinned_node, program, "without", flags=flags)
    assert outcome_with == outcome_without
    # the cases are what they claim: errors stay errors, the rest load
    assert outcome_without["./lib/missing.js"] == "ERR_MODULE_NOT_FOUND"
    assert outcome_without["./lib/" + "a" * 300 + ".js"] == "ERR_MODULE_NOT_FOUND"  # ENAMETOOLONG to lstat
    assert outcome_without["./lib"] == "ERR_UNSUPPORTED_DIR_IMPORT"
    assert outcome_without["./lib/data.json"] == "ERR_IMPORT_ATTRIBUTE_MISSING"
    assert outcome_without["again"] == "gone"
    assert outcome_without["require"] == "e"
    assert with_fastpath["seen"].keys() == without["seen"].keys()
    assert differences(with_fastpath, without) == {}
    assert without["fastpath"] == 0
    assert with_fastpath["fastpath"] >= 5  # taken for the plain siblings of a resolved file


def test_symlinks_and_other_scopes_go_to_node(pinned_node, program):
    """The answers the fast path must not make up: a symlink resolves to its target, another scope's
    format is that scope's, a package without "type" leaves the format to node's loader."""
    _, record = run(pinned_node, program, "with", ESM_RESOLVE_FASTPATH, **ON)
    base = program.as_uri()
    keys = {k: k.split(" ", 2) for k in record["seen"]}  # conditions, parent, specifier (may hold spaces)
    answers = {keys[k][2]: v for k, v in record["seen"].items() if keys[k][1] == f"{base}/main.js"}
    assert answers["./lib/link.js"] == [f"{base}/lib/b.js", "module"]
    assert answers["./linked/c.js"] == [f"{base}/lib/c.js", "module"]
    assert answers["./lib/cjs/d.js"] == [f"{base}/lib/cjs/d.js", "commonjs"]
    assert answers["./typeless/cjs.js"] == [f"{base}/typeless/cjs.js", None]
    assert answers["./lib/with space.js"] == [f"{base}/lib/with%20space.js", "module"]


def test_the_image_preloads_it():
    """NODE_OPTIONS names the preload by its app_dir path (both builders install it there by name)."""
    contract = Contract.load()
    assert f"--require={contract.app_dir}/{ESM_RESOLVE_FASTPATH.name}" in contract.env["NODE_OPTIONS"].split()
    assert os.access(ESM_RESOLVE_FASTPATH, os.R_OK)


CHILD = (
    'import { execFileSync } from "node:child_process";\n'
    f"console.log(JSON.stringify([process.env.{SWITCH} ?? null, execFileSync(process.execPath, "
    f'["-p", "process.env.{SWITCH} ?? null"]).toString().trim()]));\n'
)


@pytest.mark.parametrize(
    "argv",
    [ASYNC_LOADER_ARGV, ["--loader", "./loader.mjs", ASYNC_LOADER_ARGV[-1]]],
    ids=["module.register", "--loader"],
)
@pytest.mark.parametrize("switch", [{}, ON], ids=["as-shipped", "switch-forced"])
def test_a_programs_own_async_loader_is_asked(pinned_node, program, argv, switch):
    """node 22 passes over an async loader for every import a sync hook answers: a program with its own
    (module.register, as tsx or esmock do; or --loader) gets its loader's answer with the image's preload,
    whether or not the switch is set (the hook is off beside --loader and steps aside at register())."""
    for name, text in ASYNC_LOADER_PROGRAM.items():
        (program / name).write_text(text)
    env = {"PATH": "/usr/bin:/bin", **switch}
    done = subprocess.run(
        [pinned_node, f"--require={ESM_RESOLVE_FASTPATH}", *argv],
        env=env,
        cwd=program,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, LOADER_ANSWER), done.stderr[-800:]


def test_off_without_the_switch(pinned_node, program):
    _, record = run(pinned_node, program, "off", ESM_RESOLVE_FASTPATH)
    assert record["fastpath"] == 0


def test_the_switch_is_not_inherited(pinned_node, program):
    """The preload takes the switch out of its process's env: a node the gateway starts runs without it."""
    (program / "child.js").write_text(CHILD)
    env = {"PATH": "/usr/bin:/bin", "NODE_OPTIONS": f"--require={ESM_RESOLVE_FASTPATH}", **ON}
    done = subprocess.run(
        [pinned_node, "child.js"], env=env, cwd=program, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [None, "null"]


def test_the_entrypoint_switches_it_on_for_the_gateway_only():
    contract = Contract.load().raw
    assert gateway_env(contract, contract["image"]["cmd"]) == ON
    assert gateway_env(contract, ["/usr/local/bin/openclaw", "gateway", "run", "--verbose"]) == ON
    for other in (["openclaw", "config", "get", "gateway"], ["sh", "-c", "openclaw gateway"], ["node", "x.js"]):
        assert gateway_env(contract, other) == {}, other
    assert f'const SWITCH = "{SWITCH}";' in ESM_RESOLVE_FASTPATH.read_text()
