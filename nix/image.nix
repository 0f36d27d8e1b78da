# The openclaw-nix OCI image: nix-openclaw's gateway + runtime plugins + the toolchain, laid out
# and configured exactly as image/contract.toml says (Env, ports, entrypoint, healthcheck, volumes,
# plugin and nss_wrapper paths all come from it: there is no second list here).
#
# Image root. dockerTools.streamLayeredImage merges every `contents` entry into `/` (its
# customisation layer is a symlinkJoin of them; a file already there is skipped silently), so a
# package put into `contents` spreads its top-level dirs over the root: a plugin root would put
# package.json, dist/ and node_modules/ at /, where node resolves modules for every process. So
# `contents` holds only trees made here for the root, nothing else:
#   app       ${app_dir}: entrypoint, health probe, contract, template, node preloads (copies)
#   rootLinks symlinks at the paths the contract names: plugins_dir/<id> -> each plugin root (and
#             beside it the package's npm integrity, a file),
#             passwd.nss_wrapper -> nixpkgs' libnss_wrapper.so, SSL_CERT_FILE -> cacert's bundle
#   binDirs   /bin and /usr/bin: one symlink per executable of every package on PATH
#   fakeNss   /etc/passwd and /etc/group (root, nobody); /var/empty
# plus, from extraCommands, the volumes' mount points (not the optional ones: an optional volume
# exists only when mounted) and /tmp, /var/tmp, all mode 1777. Everything else (the gateway, the
# plugins, the toolchain, their libraries) is only in /nix/store, reached through those links; the
# store paths come into the image as layers because the links refer to them.
#
# PATH. The contract's PATH ends in /usr/local/bin:/usr/bin:/bin. `binDirs` links each executable of
# the gateway, tini, the shell basics and the toolchain (deduplicated) into both /bin and /usr/bin,
# so `#!/usr/bin/env node`, `/bin/sh` and a bare `git` all resolve, as on the parity (Debian) image.
# Two packages providing the same executable name fail the build (`ln` refuses to overwrite) instead
# of one silently shadowing the other.
#
# Written with builtins only (no nixpkgs lib) so the offline checks can evaluate it against small
# stub inputs; see tests/nix/.
{
  pkgs,
  gateway, # nix-openclaw's openclaw-gateway (bin/openclaw, sets OPENCLAW_NIX_MODE=1)
  plugins, # { matrix = <openclaw-runtime-plugin-matrix>; ... } keyed by plugin id
  contract, # builtins.fromTOML of image/contract.toml
  entry, # entry/openclaw_nix_entry.py
  probe, # entry/openclaw_nix_probe.py: the HEALTHCHECK's and the Kubernetes probes' command
  template, # template/openclaw.json5
  contractFile, # image/contract.toml itself (the entrypoint reads it at start)
  patches, # image/patches/*.toml: find/replace fixes of the pinned gateway (docs/patches.md)
  patchApplier, # image/patches/apply.py: the parity builder's applier, run here as a script
  packageFiles ? { }, # image/parity/sources.toml [prune.package_files]: { <npm package> = [ <path in it> ]; }
  compileCacheFlush, # image/compile-cache-flush.cjs: node preload named by the contract's NODE_OPTIONS (app_dir)
  esmResolveFastpath, # image/esm-resolve-fastpath.cjs: node preload named by the contract's NODE_OPTIONS (app_dir)
  revision ? "unknown",
}:
let
  image = contract.image;
  appDir = image.app_dir;
  # The entrypoint's own name: the last word of the image entrypoint (after the init).
  entrypointName = builtins.elemAt image.entrypoint (builtins.length image.entrypoint - 1);
  # The scripts on PATH by their contract names, each a copy in app_dir: name on PATH -> file name there.
  scripts = {
    ${entrypointName} = "openclaw_nix_entry.py";
    ${contract.probe.command} = "openclaw_nix_probe.py";
  };
  # "/opt/openclaw-nix/lib/x.so" -> "opt": the image-root entry a path lives under.
  topOf = path: builtins.head (builtins.filter (s: builtins.isString s && s != "") (builtins.split "/" path));
  # What a tree made here puts at the image root (read by the offline check's stub streamLayeredImage).
  rootDirs =
    paths:
    builtins.listToAttrs (
      map (path: {
        name = topOf path;
        value = "dir";
      }) paths
    );
  patchSpecs = map (spec: builtins.fromTOML (builtins.readFile spec)) patches;
  uniqueList = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  # The gateway with image/patches applied to its dist: the same spec files and applier the parity
  # builder uses, so both images carry the same fix. nix-openclaw's gateway installs with its own
  # installPhase script (no postInstall hook), so the applier runs right after it, on the package root
  # that script made ($out/lib/openclaw). The applier finds each text by content (chunk file names are
  # hashes), and fails the build when a text is not found exactly once or the version differs.
  gatewayPatched = gateway.overrideAttrs (old: {
    installPhase =
      (old.installPhase or (throw "nix-openclaw's gateway has no installPhase of its own: apply image/patches in a postInstall"))
      + builtins.concatStringsSep "" (
        map (spec: "\n${pkgs.python3}/bin/python3 ${patchApplier} ${spec} $out/lib/openclaw") patches
      );
  });
  # A runtime plugin links its `openclaw` peer (node_modules/openclaw) to the gateway it was built
  # with: rebuilt against the patched one, so the image holds one gateway and no unpatched copy.
  withPatchedPeer =
    plugin:
    if (plugin.drvAttrs or { }) ? OPENCLAW_GATEWAY_PACKAGE then
      plugin.overrideAttrs (old: {
        env = old.env // {
          OPENCLAW_GATEWAY_PACKAGE = "${gatewayPatched}";
        };
      })
    else
      plugin;
  pluginsPatched = builtins.mapAttrs (_id: withPatchedPeer) plugins;
  # The files of named npm packages that nothing reads (sources.toml [prune.package_files], with the reason for
  # each), removed from each plugin root after nix-openclaw's install as the parity builder removes them:
  # wherever the package sits below node_modules (npm's tree or pnpm's .pnpm store; symlinks to it skipped).
  quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  prunePackageFiles = builtins.concatStringsSep "" (
    map (name: ''
      find "$out" -type d -path ${quote "*/node_modules/${name}"} | while IFS= read -r pkg; do
        for rel in ${builtins.concatStringsSep " " (map quote packageFiles.${name})}; do rm -rf "$pkg/$rel"; done
      done
    '') (builtins.attrNames packageFiles)
  );
  withPrunedFiles =
    plugin:
    if packageFiles == { } then
      plugin
    else
      plugin.overrideAttrs (old: {
        postFixup = (old.postFixup or "") + "\n" + prunePackageFiles;
      });
  pluginsInImage = builtins.mapAttrs (_id: withPrunedFiles) pluginsPatched;
  python = pkgs.python3.withPackages (ps: [
    ps.pip
    ps.requests
  ]);

  # Every toolchain entry of the contract must map to a package: a new tool in the contract
  # without a package here fails evaluation (and the offline check) instead of going missing.
  toolPackages = {
    curl = pkgs.curl;
    jq = pkgs.jq;
    git = pkgs.git;
    python3 = python;
    pip = python;
    requests = python;
    uv = pkgs.uv;
    ffmpeg = pkgs.ffmpeg-headless;
    gh = pkgs.gh;
    gemini = pkgs.gemini-cli;
    node = pkgs.nodejs_22;
    npm = pkgs.nodejs_22;
    openclaw = gatewayPatched;
  };
  toolchain = map (tool: toolPackages.${tool.name}) contract.toolchain;

  # Packages whose bin/ is on PATH: the init, a usable shell for `podman exec` and the QA scenarios
  # (both builders ship these), tar/gzip for backup/restore of /state (README), the toolchain.
  onPath = uniqueList (
    [
      pkgs.tini
      pkgs.bashInteractive
      pkgs.coreutils
      pkgs.gnugrep
      pkgs.gnused
      pkgs.findutils
      pkgs.gnutar
      pkgs.gzip
      gatewayPatched
    ]
    ++ toolchain
  );

  # The entrypoint, the health probe, contract and template at app_dir.
  app = pkgs.runCommand "openclaw-nix-app" { passthru.rootEntries = rootDirs [ appDir ]; } ''
    mkdir -p $out${appDir}
    cp ${entry} $out${appDir}/openclaw_nix_entry.py
    cp ${probe} $out${appDir}/openclaw_nix_probe.py
    cp ${contractFile} $out${appDir}/contract.toml
    cp ${template} $out${appDir}/${contract.openclaw.config_template}
    cp ${compileCacheFlush} $out${appDir}/compile-cache-flush.cjs
    cp ${esmResolveFastpath} $out${appDir}/esm-resolve-fastpath.cjs
    chmod 0755 $out${appDir}/openclaw_nix_entry.py $out${appDir}/openclaw_nix_probe.py
  '';

  # Symlinks at the contract's paths. The plugin roots sit at the path the template loads them from
  # (the parity image uses the same path); nss_wrapper where the entrypoint preloads it for a uid
  # with no passwd entry; the CA bundle where SSL_CERT_FILE points.
  links =
    builtins.listToAttrs (
      map (id: {
        name = "${image.plugins_dir}/${id}";
        value = "${pluginsInImage.${id}}";
      }) contract.openclaw.plugins
    )
    // {
      ${contract.passwd.nss_wrapper} = "${pkgs.nss_wrapper}/lib/libnss_wrapper.so";
      ${contract.env.SSL_CERT_FILE} = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
    };
  # Beside each plugin root, the npm integrity of the package nix-openclaw fetched (its plugin lock's
  # npmIntegrity, passed through as openclawRuntimePlugin.npmIntegrity): the entrypoint's install records
  # carry it (contract: plugin_integrity_suffix).
  integrityFiles = map (id: {
    path = "${image.plugins_dir}/${id}${image.plugin_integrity_suffix}";
    value = plugins.${id}.openclawRuntimePlugin.npmIntegrity;
  }) contract.openclaw.plugins;
  rootLinks = pkgs.runCommand "openclaw-nix-links" { passthru.rootEntries = rootDirs (builtins.attrNames links); } (
    builtins.concatStringsSep "\n" (
      map (path: "mkdir -p $out${dirOf path}\nln -s ${links.${path}} $out${path}") (builtins.attrNames links)
      ++ map (file: "printf '%s\\n' '${file.value}' > $out${file.path}") integrityFiles
    )
  );

  binDirs = pkgs.runCommand "openclaw-nix-bin" { passthru.rootEntries = rootDirs [ "/bin" "/usr/bin" ]; } (
    ''
      mkdir -p $out/bin $out/usr/bin
      for pkg in ${builtins.concatStringsSep " " (map toString onPath)}; do
        if [ ! -d "$pkg/bin" ]; then echo "$pkg has no bin/" >&2; exit 1; fi
        for exe in "$pkg"/bin/*; do
          ln -s "$exe" "$out/bin/"
          ln -s "$exe" "$out/usr/bin/"
        done
      done
    ''
    + builtins.concatStringsSep "" (
      map (name: ''
        ln -s ${app}${appDir}/${scripts.${name}} $out/bin/${name}
        ln -s ${app}${appDir}/${scripts.${name}} $out/usr/bin/${name}
      '') (builtins.attrNames scripts)
    )
  );

  contents = [
    app
    rootLinks
    binDirs
    pkgs.dockerTools.fakeNss # /etc/passwd + group: root and nobody; the entrypoint adds a missing uid
  ];

  # Mount points of the volumes that always exist (an optional one, e.g. the read-only overlay, is not
  # created: its absence means "not mounted"), and scratch dirs; all writable by any uid.
  mountPoints = map (v: "." + v.path) (
    builtins.filter (v: !(v.optional or false)) (builtins.attrValues contract.volumes)
  );
  scratch = builtins.concatStringsSep " " (mountPoints ++ [ "./tmp" "./var/tmp" ]);

  seconds = s: s * 1000000000; # the docker config's Healthcheck durations are nanoseconds
  healthcheck = image.healthcheck;

  config = {
    Entrypoint = image.entrypoint;
    Cmd = image.cmd;
    Env = map (name: "${name}=${contract.env.${name}}") (builtins.attrNames contract.env);
    ExposedPorts = builtins.listToAttrs (
      map (port: {
        name = "${toString port}/tcp";
        value = { };
      }) image.ports
    );
    # Same field names and units as the parity builder's docker config.
    Healthcheck = {
      Test = healthcheck.test;
      Interval = seconds healthcheck.interval;
      Timeout = seconds healthcheck.timeout;
      StartPeriod = seconds healthcheck.start_period;
      Retries = healthcheck.retries;
    };
    Labels = {
      "org.opencontainers.image.title" = "openclaw-nix";
      "org.opencontainers.image.source" = image.source;
      "org.opencontainers.image.version" = contract.openclaw.version;
      "org.opencontainers.image.revision" = revision;
      "io.openclaw-nix.builder" = "nix";
      "io.openclaw-nix.nix-openclaw.rev" = contract.openclaw.nix_openclaw_rev;
      # Which image/patches this release carries and which it leaves out, why (as the parity builder labels).
      "io.openclaw-nix.patches.applied" = builtins.concatStringsSep "," (
        map (spec: spec.name) (builtins.filter (spec: builtins.elem contract.openclaw.version spec.versions) patchSpecs)
      );
      "io.openclaw-nix.patches.not-applied" = builtins.concatStringsSep "; " (
        map (spec: "${spec.name}: ${spec.not_for.${contract.openclaw.version}}") (
          builtins.filter (spec: (spec.not_for or { }) ? ${contract.openclaw.version}) patchSpecs
        )
      );
    };
    # No User: run as any uid (podman --userns=keep-id --user $(id -u):$(id -g), any k8s uid).
  };
in
pkgs.dockerTools.streamLayeredImage {
  name = image.name;
  tag = image.tag;
  inherit contents config;
  extraCommands = ''
    mkdir -p ${scratch}
    chmod 1777 ${scratch}
  '';
  passthru = {
    imageConfig = config;
    contentNames = map (drv: drv.name) contents;
    onPathNames = map (drv: drv.name) onPath;
    toolchain = builtins.listToAttrs (
      map (tool: {
        name = tool.name;
        value = toolPackages.${tool.name}.name;
      }) contract.toolchain
    );
    rootLinks = links;
    # For the offline check: the gateway and plugins the image uses, and the patch files they carry.
    gateway = gatewayPatched;
    plugins = pluginsInImage;
    gatewayPatches = map toString patches;
    inherit revision;
  };
}
