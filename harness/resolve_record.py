"""Record what node resolves, to show the image's ES resolve fast path (image/esm-resolve-fastpath.cjs)
changes nothing: the same program run with and without it must resolve every import to the same URL and
format, or fail with the same error code.

RECORDER is a node preload. Given after the fast path in NODE_OPTIONS, its hook is registered last and so
runs first: it sees the answer of everything below it (the fast path, then node). At exit it writes
`$RESOLVE_RECORD.<pid>.json`: {"fastpath": imports the fast path answered itself (its own count: node
does not pass that on to an outer hook), "seen": {key: answer}}.
"""

from __future__ import annotations

import json
from pathlib import Path

RECORDER = r""""use strict";
const { registerHooks } = require("node:module");
const { writeFileSync } = require("node:fs");
const seen = {};
registerHooks({
  resolve(specifier, context, nextResolve) {
    const key = `${(context.conditions ?? []).join(",")} ${context.parentURL} ${specifier}`;
    try {
      const result = nextResolve(specifier, context);
      seen[key] = [result.url, result.format ?? null];
      return result;
    } catch (err) {
      seen[key] = ["error", err.code ?? String(err)];
      throw err;
    }
  },
});
process.on("exit", () => {
  const fastpath = globalThis[Symbol.for("openclaw-nix.esm-resolve-fastpath")]?.answered ?? 0;
  writeFileSync(`${process.env.RESOLVE_RECORD}.${process.pid}.json`, JSON.stringify({ fastpath, seen }));
});
"""

# A program with its own async loader (module.register, as tsx or esmock do): its loader sends ./target.js
# to ./other.js, so it prints LOADER_ANSWER when its loader was asked. It imports a sibling first, so a
# resolve fast path switched on would know the directory and answer ./target.js itself.
ASYNC_LOADER_PROGRAM = {
    "package.json": '{"type": "module"}\n',
    "loader.mjs": "export async function resolve(s, c, next) {\n"
    '  return next(s === "./target.js" ? "./other.js" : s, c);\n}\n',
    "register.mjs": 'import { register } from "node:module";\nregister("./loader.mjs", import.meta.url);\n',
    "target.js": 'export default "target";\n',
    "other.js": 'export default "other";\n',
    "uses-loader.js": 'await import("./other.js");\nconsole.log((await import("./target.js")).default);\n',
}
ASYNC_LOADER_ARGV = ["--import", "./register.mjs", "uses-loader.js"]  # run in the program's directory
LOADER_ANSWER = "other"


def read_records(directory: Path, prefix: str) -> list[dict]:
    """Every record the recorder wrote under `directory` for RESOLVE_RECORD=<directory>/<prefix>."""
    return [json.loads(p.read_text()) for p in sorted(directory.glob(f"{prefix}.*.json"))]


def differences(with_fastpath: dict, without: dict) -> dict[str, tuple]:
    """Resolutions both runs made whose answers differ: key -> (with, without)."""
    a, b = with_fastpath["seen"], without["seen"]
    return {k: (a[k], b[k]) for k in a.keys() & b.keys() if a[k] != b[k]}


def without_preload(node_options: str, preload_name: str) -> str:
    """NODE_OPTIONS with every `--require` of `preload_name` left out (the image as it was before it)."""
    return " ".join(o for o in node_options.split() if not (o.startswith("--require=") and o.endswith(preload_name)))
