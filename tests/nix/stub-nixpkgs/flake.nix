# A tiny stand-in for nixpkgs, for offline evaluation only: every package is a real (never built)
# derivation named after it, and dockerTools.streamLayeredImage hands back what it was given, so
# tests assert on exactly what flake.nix would pass to the real nixpkgs.
{
  outputs =
    { self }:
    let
      system = "x86_64-linux";
      drv =
        name: extra:
        derivation (
          {
            inherit name system;
            builder = "/bin/sh";
            args = [
              "-c"
              "echo stub > $out"
            ];
          }
          // extra
        );
      pkg = name: drv name { };
      python3 = pkg "python3" // {
        withPackages =
          select:
          let
            chosen = select {
              pip = pkg "python3-pip";
              requests = pkg "python3-requests";
            };
          in
          drv "python3-env" { packages = map (p: p.name) chosen; };
      };
    in
    {
      legacyPackages.${system} = {
        inherit python3;
        curl = pkg "curl";
        jq = pkg "jq";
        git = pkg "git";
        uv = pkg "uv";
        ffmpeg-headless = pkg "ffmpeg-headless";
        gh = pkg "gh";
        gemini-cli = pkg "gemini-cli";
        nodejs_22 = pkg "nodejs";
        cacert = pkg "cacert";
        tini = pkg "tini";
        bashInteractive = pkg "bash-interactive";
        coreutils = pkg "coreutils";
        gnugrep = pkg "gnugrep";
        gnused = pkg "gnused";
        findutils = pkg "findutils";
        gnutar = pkg "gnutar";
        gzip = pkg "gzip";
        runCommand =
          name: env: script:
          drv name (env // { buildScript = script; });
        dockerTools = {
          binSh = pkg "bin-sh";
          usrBinEnv = pkg "usr-bin-env";
          fakeNss = pkg "fake-nss";
          streamLayeredImage =
            args:
            drv "stream-${baseNameOf args.name}" { }
            // {
              passthru = args.passthru or { };
              streamArgs = builtins.removeAttrs args [ "passthru" ];
            }
            // (args.passthru or { });
        };
      };
    };
}
