{
  description = "openclaw-nix: a reproducible OCI image of the OpenClaw gateway (linux/amd64)";

  # nix-openclaw's binary cache, as its own flake.nix declares it (rev 910c1ce): a consuming flake
  # does not inherit nixConfig, and without it OpenClaw and every plugin are compiled from source.
  # Nix applies it only with `accept-flake-config = true` or when these are already trusted
  # (trusted-substituters / a trusted user): see README, "Build with Nix".
  nixConfig = {
    extra-substituters = [ "https://cache.garnix.io" ];
    extra-trusted-public-keys = [
      "cache.garnix.io:CTFPyKSLcx5RMJKfLo5EEPUObbA78b0YQ2DTCJXqr9g="
    ];
  };

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
        # Every spec in image/patches, in name order, as the parity builder applies them.
        patches = map (name: ./image/patches + "/${name}") (
          builtins.filter (name: builtins.match ".*[.]toml" name != null) (
            builtins.attrNames (builtins.readDir ./image/patches)
          )
        );
        patchApplier = ./image/patches/apply.py;
        revision = self.rev or self.dirtyRev or "dirty";
      };
    in
    {
      packages.${system} = {
        openclaw-nix-image = image;
        default = image;
      };

      checks.${system}.image-contract =
        # The config straight from the contract: evaluated by `nix flake check` (also --no-build).
        let
          config = image.passthru.imageConfig;
          hc = contract.image.healthcheck;
        in
        assert !(config ? User);
        assert
          config.ExposedPorts == {
            "${toString (builtins.head contract.image.ports)}/tcp" = { };
          };
        assert builtins.length config.Env == builtins.length (builtins.attrNames contract.env);
        assert
          config.Healthcheck == {
            Test = hc.test;
            Interval = hc.interval * 1000000000;
            Timeout = hc.timeout * 1000000000;
            StartPeriod = hc.start_period * 1000000000;
            Retries = hc.retries;
          };
        assert image.passthru.rootLinks ? ${contract.passwd.nss_wrapper};
        pkgs.runCommand "openclaw-nix-image-contract" { } "touch $out";
    };
}
