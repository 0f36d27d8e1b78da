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
    # Sources only (not their flakes: nothing of their inputs is needed): kubenix's k8s module and
    # nixpkgs' lib alone, for the kubenix module's check (evaluated without nixpkgs).
    kubenix = {
      url = "github:hall/kubenix";
      flake = false;
    };
    nixpkgs-lib = {
      url = "github:nix-community/nixpkgs.lib";
      flake = false;
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      nix-openclaw,
      kubenix,
      nixpkgs-lib,
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
        probe = ./entry/openclaw_nix_probe.py;
        template = ./template + "/${contract.openclaw.config_template}";
        contractFile = ./image/contract.toml;
        # Every spec in image/patches, in name order, as the parity builder applies them.
        patches = map (name: ./image/patches + "/${name}") (
          builtins.filter (name: builtins.match ".*[.]toml" name != null) (
            builtins.attrNames (builtins.readDir ./image/patches)
          )
        );
        patchApplier = ./image/patches/apply.py;
        # Files of named npm packages nothing reads, pruned from the plugin roots as the parity builder does.
        packageFiles = (builtins.fromTOML (builtins.readFile ./image/parity/sources.toml)).prune.package_files or { };
        compileCacheFlush = ./image/compile-cache-flush.cjs;
        esmResolveFastpath = ./image/esm-resolve-fastpath.cjs;
        revision = self.rev or self.dirtyRev or "dirty";
      };
      # The kubenix module's objects with its defaults and with every option changed (nix/kubenix-eval.nix).
      kubenixObjects =
        modules:
        (import ./nix/kubenix-eval.nix {
          lib = import "${nixpkgs-lib}/lib";
          inherit kubenix modules;
        }).items;
    in
    {
      # Import into a kubenix configuration: imports = [ openclaw-nix.kubenixModules.default ]; see docs/kubenix.md.
      kubenixModules.default = ./nix/kubenix.nix;

      packages.${system} = {
        openclaw-nix-image = image;
        default = image;
      };

      checks.${system} = {
        image-contract =
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

        kubenix-module =
          # Evaluated with the pinned kubenix and nixpkgs.lib; tests/test_kubenix.py compares the objects
          # field by field with `kubectl kustomize deploy/k8s`. Here: they evaluate, and say what the contract says.
          let
            defaults = kubenixObjects [ ];
            changed = kubenixObjects [
              {
                openclaw-nix = {
                  image = "registry.invalid/openclaw-nix@sha256:${builtins.hashString "sha256" ""}";
                  namespace = "elsewhere";
                  createNamespace = false;
                  overlay.settings.channels.whatsapp.enabled = false;
                };
              }
            ];
            kind = objects: k: builtins.head (builtins.filter (o: o.kind == k) objects);
            pod = objects: (kind objects "StatefulSet").spec.template.spec;
            container = objects: builtins.head (pod objects).containers;
          in
          assert map (o: o.kind) defaults == [
            "Namespace"
            "StatefulSet"
            "ConfigMap"
            "Service"
            "NetworkPolicy"
          ];
          assert (pod defaults).securityContext.runAsUser == contract.kubernetes.uid;
          assert (container defaults).securityContext == contract.kubernetes.container_security_context;
          assert
            map (p: p.containerPort) (container defaults).ports == [ (builtins.head contract.image.ports) ];
          assert !(builtins.any (o: o.kind == "Namespace") changed);
          assert builtins.all (o: o.metadata.namespace == "elsewhere") changed;
          assert builtins.attrNames (kind changed "ConfigMap").data == [ "settings.json5" ];
          pkgs.runCommand "openclaw-nix-kubenix-module" {
            objects = builtins.toJSON defaults;
          } "printenv objects > $out";
      };
    };
}
