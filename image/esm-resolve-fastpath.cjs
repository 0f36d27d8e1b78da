// Preloaded into the image's node processes (image/contract.toml [env] NODE_OPTIONS).
// Why: for every `.js` module an ES import resolves, node 22 looks up the package scope's "type", and
// its lookup (package_json_reader getPackageScopeConfig) copies the package.json fields with an object
// spread that runs the lazy `exports` getter: the whole "exports" map is JSON-parsed again for each
// module. OpenClaw's map is 45 kB with 325 entries and a start resolves ~12,000 relative imports, so
// this one parse was the largest item of the gateway's start profile (docs/performance.md).
// What: a resolve hook that answers a relative `./x.js` / `../x.js` import itself only where node has
// already answered for that directory, and with node's own answer:
// - node resolved a `.js` file of the same directory to exactly the URL the specifier spells (its
//   realpath: no symlink on the way) with the declared format "module" or "commonjs" (every file of a
//   directory shares its package scope, so the format is the directory's);
// - the file exists and is a regular file (lstat: not a symlink), its name plain ASCII (its URL form is
//   its path form), no query, hash or import attributes, an `import` (never a require());
// - an import it answered before gets the same answer again, as node's own resolve cache would give.
// Anything else (bare and absolute specifiers, require(), a missing or unreadable file, a directory, a
// symlink, a package without "type") goes to node as before, errors included.
// Only where OPENCLAW_NIX_ESM_FASTPATH=1 (image/contract.toml [image] esm_fastpath_env: the entrypoint
// sets it for the gateway), removed from the env here so no child inherits it, and never beside an
// async loader (--loader, or module.register called later: the hook steps aside): node 22 would pass
// over that loader for every import answered here. The agent's own node programs may use one.
"use strict";
const nodeModule = require("node:module");
const { lstatSync } = require("node:fs");

const SWITCH = "OPENCLAW_NIX_ESM_FASTPATH";
const LOADER_FLAG = /^--(experimental-)?loader(=|$)/;
const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
const on = process.env[SWITCH] === "1" && !flags.some((flag) => LOADER_FLAG.test(flag));
delete process.env[SWITCH];

const PLAIN_NAME = /^[A-Za-z0-9._-]+\.js$/;
const formatOfDir = new Map(); // "file:///…/dir/" -> the format node gave a `.js` file there
const answered = new Map(); // `${parentURL}\0${specifier}` -> the answer this hook gave
// How many imports it answered, for QA (harness/resolve_record.py): node does not tell an outer hook.
const stats = { answered: 0 };

function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  const conditions = context.conditions ?? [];
  const attributes = context.importAttributes;
  if (
    parent === undefined ||
    !parent.startsWith("file:///") ||
    !(specifier.startsWith("./") || specifier.startsWith("../")) ||
    !conditions.includes("import") ||
    conditions.includes("require") || // a require() under --conditions=import
    (attributes !== undefined && Object.keys(attributes).length > 0)
  ) {
    return nextResolve(specifier, context);
  }
  const key = `${parent}\0${specifier}`;
  const known = answered.get(key);
  if (known !== undefined) {
    stats.answered++;
    return { ...known, shortCircuit: true };
  }
  const url = new URL(specifier, parent);
  const href = url.href;
  const slash = href.lastIndexOf("/");
  if (url.search || url.hash || !PLAIN_NAME.test(href.slice(slash + 1))) return nextResolve(specifier, context);
  const dir = href.slice(0, slash + 1);
  const format = formatOfDir.get(dir);
  if (format !== undefined) {
    let stat;
    try {
      stat = lstatSync(url, { throwIfNoEntry: false });
    } catch {} // ENAMETOOLONG, EACCES, ERR_ACCESS_DENIED: node's own answer or error instead
    if (stat !== undefined && stat.isFile()) {
      stats.answered++;
      answered.set(key, { url: href, format });
      return { url: href, format, shortCircuit: true };
    }
  }
  const result = nextResolve(specifier, context);
  if (result.url === href && (result.format === "module" || result.format === "commonjs")) {
    formatOfDir.set(dir, result.format);
  }
  return result;
}

if (on && typeof nodeModule.registerHooks === "function") {
  const hooks = nodeModule.registerHooks({ resolve });
  Object.defineProperty(globalThis, Symbol.for("openclaw-nix.esm-resolve-fastpath"), { value: stats });
  // a program's own async loader registered later: step aside before it is (ES imports of node:module
  // see the wrapper too once the built-in's ES exports are synced)
  const register = nodeModule.register;
  nodeModule.register = function registerAfterFastpath(...args) {
    hooks.deregister();
    nodeModule.register = register;
    nodeModule.syncBuiltinESMExports();
    return Reflect.apply(register, this, args);
  };
  nodeModule.syncBuiltinESMExports();
}
