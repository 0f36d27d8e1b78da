// Preloaded into the image's node processes (image/contract.toml [env] NODE_OPTIONS).
// node keeps every loaded module's compile cache entry in memory until the process exits, to write the
// new ones then: the code cache read from NODE_COMPILE_CACHE (on /state), or made for a module it
// lacked. Once a module is loaded those bytes are dead weight (tens of MB for the gateway). Flushing
// writes what is new (nothing for a module read whole from the cache) and frees every entry; the timer
// repeats it for modules loaded later. Unref'd: it never keeps a process alive, and it is not a V8 flag,
// so node's cache directory name does not change.
"use strict";
const { flushCompileCache, getCompileCacheDir } = require("node:module");

if (typeof flushCompileCache === "function") {
  setInterval(() => {
    if (getCompileCacheDir()) flushCompileCache();
  }, 5000).unref();
}
