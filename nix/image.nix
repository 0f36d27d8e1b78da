# The openclaw-nix OCI image: nix-openclaw's gateway + runtime plugins + the toolchain, laid out
# and configured exactly as image/contract.toml says (Env, ports, entrypoint, volumes, plugin
# paths all come from it: there is no second list here).
#
# Written with builtins only (no nixpkgs lib) so the offline checks can evaluate it against small
# stub inputs; see tests/nix/.
{
  pkgs,
  gateway, # nix-openclaw's openclaw-gateway (bin/openclaw, sets OPENCLAW_NIX_MODE=1)
  plugins, # { matrix = <openclaw-runtime-plugin-matrix>; ... } keyed by plugin id
  contract, # builtins.fromTOML of image/contract.toml
  entry, # entry/openclaw_nix_entry.py
  template, # template/openclaw.json5
  contractFile, # image/contract.toml itself (the entrypoint reads it at start)
  revision ? "unknown",
}:
let
  image = contract.image;
  appDir = image.app_dir;
  # The entrypoint's own name: the last word of the image entrypoint (after the init).
  entrypointName = builtins.elemAt image.entrypoint (builtins.length image.entrypoint - 1);
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
    openclaw = gateway;
  };
  toolchain = map (tool: toolPackages.${tool.name}) contract.toolchain;

  # The entrypoint, contract and template at app_dir, and the entrypoint on PATH.
  app = pkgs.runCommand "openclaw-nix-app" { } ''
    mkdir -p $out${appDir} $out/bin
    cp ${entry} $out${appDir}/openclaw_nix_entry.py
    cp ${contractFile} $out${appDir}/contract.toml
    cp ${template} $out${appDir}/${contract.openclaw.config_template}
    chmod 0755 $out${appDir}/openclaw_nix_entry.py
    ln -s $out${appDir}/openclaw_nix_entry.py $out/bin/${entrypointName}
  '';

  # Plugin roots at the path the template loads them from (the parity image uses the same path).
  pluginLinks = pkgs.runCommand "openclaw-nix-plugin-links" { } (
    "mkdir -p $out${image.plugins_dir}\n"
    + builtins.concatStringsSep "\n" (
      map (id: "ln -s ${plugins.${id}} $out${image.plugins_dir}/${id}") contract.openclaw.plugins
    )
  );

  contents = [
    app
    pluginLinks
    gateway
    pkgs.tini
    # a usable shell for `podman exec` and the QA scenarios (both builders ship these)
    pkgs.bashInteractive
    pkgs.coreutils
    pkgs.gnugrep
    pkgs.gnused
    pkgs.findutils
    pkgs.gnutar # backup/restore of /state through `kubectl exec … tar` (README)
    pkgs.gzip
    pkgs.cacert
    pkgs.dockerTools.binSh
    pkgs.dockerTools.usrBinEnv
    pkgs.dockerTools.fakeNss # /etc/passwd + group: root and nobody; podman adds the run uid
  ]
  ++ toolchain
  ++ map (id: plugins.${id}) contract.openclaw.plugins;

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
    Labels = {
      "org.opencontainers.image.title" = "openclaw-nix";
      "org.opencontainers.image.source" = image.source;
      "org.opencontainers.image.version" = contract.openclaw.version;
      "org.opencontainers.image.revision" = revision;
      "io.openclaw-nix.builder" = "nix";
      "io.openclaw-nix.nix-openclaw.rev" = contract.openclaw.nix_openclaw_rev;
    };
    # No User: run as any uid (podman --userns=keep-id --user $(id -u):$(id -g), any k8s uid).
  };
in
pkgs.dockerTools.streamLayeredImage {
  name = image.name;
  tag = image.tag;
  inherit contents config;
  # Mount points and scratch dirs writable by any uid; the contract's SSL_CERT_FILE path.
  extraCommands = ''
    mkdir -p ${builtins.concatStringsSep " " (map (v: "." + v.path) (builtins.attrValues contract.volumes))} tmp var/tmp
    chmod 1777 ${builtins.concatStringsSep " " (map (v: "." + v.path) (builtins.attrValues contract.volumes))} tmp var/tmp
    mkdir -p .$(dirname ${contract.env.SSL_CERT_FILE})
    ln -sf ${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt .${contract.env.SSL_CERT_FILE}
  '';
  passthru = {
    imageConfig = config;
    contentNames = map (drv: drv.name) contents;
    toolchain = builtins.listToAttrs (
      map (tool: {
        name = tool.name;
        value = toolPackages.${tool.name}.name;
      }) contract.toolchain
    );
    pluginRoots = builtins.listToAttrs (
      map (id: {
        name = "${image.plugins_dir}/${id}";
        value = plugins.${id}.name;
      }) contract.openclaw.plugins
    );
    inherit revision;
  };
}
