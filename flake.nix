{
  description = "openclaw-nix: a reproducible OCI image of the OpenClaw gateway (linux/amd64)";

  inputs = {
    nix-openclaw.url = "github:openclaw/nix-openclaw/v2026.6.11";
    # The nixpkgs nix-openclaw was built and tested with.
    nixpkgs.follows = "nix-openclaw/nixpkgs";
  };

  outputs =
    {
      self,
      nixpkgs,
      nix-openclaw,
    }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      openclaw = nix-openclaw.packages.${system};
      contract = builtins.fromTOML (builtins.readFile ./image/contract.toml);
      image = import ./nix/image.nix {
        inherit pkgs contract;
        gateway = openclaw.openclaw-gateway;
        plugins = builtins.listToAttrs (
          map (id: {
            name = id;
            value = openclaw."openclaw-runtime-plugin-${id}";
          }) contract.openclaw.plugins
        );
        entry = ./entry/openclaw_nix_entry.py;
        template = ./template + "/${contract.openclaw.config_template}";
        contractFile = ./image/contract.toml;
        revision = self.rev or self.dirtyRev or "dirty";
      };
    in
    {
      packages.${system} = {
        openclaw-nix-image = image;
        default = image;
      };

      checks.${system}.image-contract =
        # No User, ports and Env straight from the contract: evaluated by `nix flake check --no-build`.
        assert !(image.passthru.imageConfig ? User);
        assert
          image.passthru.imageConfig.ExposedPorts == {
            "${toString (builtins.head contract.image.ports)}/tcp" = { };
          };
        assert builtins.length image.passthru.imageConfig.Env == builtins.length (builtins.attrNames contract.env);
        pkgs.runCommand "openclaw-nix-image-contract" { } "touch $out";
    };
}
