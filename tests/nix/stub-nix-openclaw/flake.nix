# A stand-in for openclaw/nix-openclaw with the attribute names of v2026.6.11 (x86_64-linux):
# real, never-built derivations, so flake.nix can be evaluated offline.
{
  outputs =
    { self }:
    let
      system = "x86_64-linux";
      pkg =
        name:
        derivation {
          inherit name system;
          builder = "/bin/sh";
          args = [
            "-c"
            "echo stub > $out"
          ];
        };
    in
    {
      packages.${system} = {
        openclaw-gateway = pkg "openclaw-gateway-2026.6.11";
        openclaw = pkg "openclaw-2026.6.11";
        openclaw-runtime-plugin-matrix = pkg "openclaw-runtime-plugin-matrix-2026.6.11";
        openclaw-runtime-plugin-whatsapp = pkg "openclaw-runtime-plugin-whatsapp-2026.6.11";
      };
    };
}
