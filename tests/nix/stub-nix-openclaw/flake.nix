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
      pkg =
        name: rootEntries:
        derivation {
          inherit name system;
          builder = "/bin/sh";
          args = [
            "-c"
            "echo stub > $out"
          ];
        }
        // {
          inherit rootEntries;
        };
      plugin =
        id:
        pkg "openclaw-runtime-plugin-${id}-2026.6.11" {
          "package.json" = "file";
          "openclaw.plugin.json" = "file";
          dist = "dir";
          node_modules = "dir";
        }
        // {
          # nix-openclaw's passthru (nix/lib/openclaw-runtime-plugin.nix): the lock's npm integrity
          openclawRuntimePlugin = {
            inherit id;
            npmIntegrity = "sha512-stub-${id}";
          };
        };
    in
    {
      packages.${system} = {
        openclaw-gateway = pkg "openclaw-gateway-2026.6.11" {
          bin = "dir";
          lib = "dir";
        };
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
