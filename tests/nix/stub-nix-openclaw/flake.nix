# A stand-in for openclaw/nix-openclaw with the attribute names of v2026.6.11 (x86_64-linux):
# real, never-built derivations, so flake.nix can be evaluated offline. Each carries `rootEntries`,
# the top-level entries of the real store path (see tests/nix/stub-nixpkgs): the gateway is a
# bin/ + lib/ tree, a runtime plugin is a plugin root (package.json, openclaw.plugin.json, dist/,
# node_modules/) — what either would spread over the image root if it were put into `contents`.
{
  outputs =
    { self }:
    let
      system = "x86_64-linux";
      # Like stdenv.mkDerivation as far as nix/image.nix uses it: `env` entries become derivation
      # attributes, `passthru` lands on the result, and `overrideAttrs (old: { ... })` rebuilds the
      # derivation from the merged attributes (so an override shows in drvAttrs and the .drv file).
      mkDerivation =
        name: rootEntries: attrs:
        derivation (
          {
            inherit name system;
            builder = "/bin/sh";
            args = [
              "-c"
              "echo stub > $out"
            ];
          }
          // builtins.removeAttrs attrs [
            "env"
            "passthru"
          ]
          // (attrs.env or { })
        )
        // (attrs.passthru or { })
        // {
          inherit rootEntries;
          overrideAttrs = f: mkDerivation name rootEntries (attrs // f attrs);
        };
      pkg = name: rootEntries: mkDerivation name rootEntries { };
      # nix-openclaw v2026.6.11 (nix/packages/openclaw-gateway-npm.nix): its own installPhase script,
      # which makes $out/lib/openclaw (the npm package) and the bin/openclaw wrapper.
      gateway = mkDerivation "openclaw-gateway-2026.6.11" {
        bin = "dir";
        lib = "dir";
      } { installPhase = "${builtins.toFile "openclaw-gateway-npm-install.sh" "exit 0"}"; };
      # nix/lib/openclaw-runtime-plugin.nix: a plugin with an `openclaw` peer links it to the gateway
      # it is built with (env OPENCLAW_GATEWAY_PACKAGE).
      plugin =
        id:
        mkDerivation "openclaw-runtime-plugin-${id}-2026.6.11"
          {
            "package.json" = "file";
            "openclaw.plugin.json" = "file";
            dist = "dir";
            node_modules = "dir";
          }
          {
            env = {
              OPENCLAW_RUNTIME_PLUGIN_LINK_PEER_OPENCLAW = "1";
              OPENCLAW_GATEWAY_PACKAGE = "${gateway}";
            };
            # nix-openclaw's passthru (nix/lib/openclaw-runtime-plugin.nix): the lock's npm integrity
            passthru.openclawRuntimePlugin = {
              inherit id;
              npmIntegrity = "sha512-stub-${id}";
            };
          };
    in
    {
      packages.${system} = {
        openclaw-gateway = gateway;
        openclaw = pkg "openclaw-2026.6.11" {
          bin = "dir";
          lib = "dir";
          share = "dir";
        };
        openclaw-runtime-plugin-matrix = plugin "matrix";
        openclaw-runtime-plugin-whatsapp = plugin "whatsapp";
      };
    };
}
