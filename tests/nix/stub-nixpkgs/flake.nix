# A tiny stand-in for nixpkgs, for offline evaluation only (no nixpkgs can be fetched here).
#
# - Every package is a real, never-built derivation named after it, carrying `rootEntries`: the
#   top-level entries its store path has ("dir" or "file"), i.e. what it would spread over the image
#   root if it were put into `contents`. Modelled on the real packages' layouts (bin/, lib/, share/…).
# - The nixpkgs functions flake.nix/nix/image.nix call take exactly the formal arguments of the real
#   ones (see `streamLayeredImage` below for the source read), so a misspelled or unsupported argument
#   fails evaluation here as it would in a real build.
# - dockerTools.streamLayeredImage hands back what it was given (streamArgs, passthru) and models how
#   nixpkgs builds the image root: the customisation layer is `symlinkJoin { paths = contents; }`
#   (lndir -silent: directories of all contents merge, a non-directory entry that is already there is
#   skipped silently), then `extraCommands` runs in it, and the store paths come as layers under /nix.
#   `imageRoot.entries` is the merged top-level listing before extraCommands (image/nix/check.py runs
#   extraCommands on it), `imageRoot.collisions` names each non-directory entry two contents provide.
{
  outputs =
    { self }:
    let
      system = "x86_64-linux";
      dirs = names: builtins.listToAttrs (map (name: { inherit name; value = "dir"; }) names);
      drv =
        name: rootEntries: extra:
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
        )
        // {
          inherit rootEntries;
        };
      pkg = name: entries: drv name (dirs entries) { };

      python3 = pkg "python3" [ "bin" "include" "lib" "share" ] // {
        # nixpkgs: `withPackages = f: …` (one positional argument, a function of the package set).
        withPackages =
          select:
          let
            chosen = select {
              pip = pkg "python3-pip" [ "bin" "lib" ];
              requests = pkg "python3-requests" [ "lib" ];
            };
          in
          drv "python3-env" (dirs [ "bin" "include" "lib" "share" ]) { packages = map (p: p.name) chosen; };
      };

      # nixpkgs (pkgs/build-support/trivial-builders): `runCommand = name: env: buildCommand: …`;
      # `passthru` in env ends up on the result, not in the derivation's environment.
      runCommand =
        name: env: buildCommand:
        let
          passthru = env.passthru or { };
        in
        drv name (passthru.rootEntries or { }) (builtins.removeAttrs env [ "passthru" ] // { inherit buildCommand; })
        // passthru;

      # Formal arguments of dockerTools.streamLayeredImage, copied from nixpkgs'
      # pkgs/build-support/docker/default.nix. NixOS/nixpkgs at the pinned rev
      # 5912c1772a44e31bf1c63c0390b90501e5026886 (2026-01-07) is not readable here (only single
      # files of other revisions are); read instead: vytskalt/nixpkgs@88446f3acfee0cfb9580e9676023480cf96d2f56
      # and spotdemo4/nixpkgs@511b16e70b5d5e47b2c465a6e321f907b859f117 (nixfmt-formatted nixpkgs of
      # late 2025: Nix 2.32 references, dockerAutoLayer). Both have exactly these 22; each has one more
      # the other lacks (`extraExcludePaths`, `variant`), left out as unconfirmed at the pin. An older
      # one (faukah/nixpkgs@3b20077cd82fd1f099e92e2792d73e3176d4869d) lacks `meta`, a mid-2024 one
      # (infinixbot/nixpkgs@005c0eef7c353c1e4add522d1953faef2fbd17e8) also `mtime`, `includeNixDB`,
      # `layeringPipeline`, `debug`. nix/image.nix passes only arguments every version read has
      # (image/nix/check.py STABLE_STREAM_ARGS checks that).
      streamLayeredImage =
        {
          name,
          tag ? null,
          fromImage ? null,
          contents ? [ ],
          config ? { },
          architecture ? "amd64",
          created ? "1970-01-01T00:00:01Z",
          mtime ? "1970-01-01T00:00:01Z",
          uid ? 0,
          gid ? 0,
          uname ? "root",
          gname ? "root",
          maxLayers ? 100,
          extraCommands ? "",
          fakeRootCommands ? "",
          enableFakechroot ? false,
          includeStorePaths ? true,
          includeNixDB ? false,
          passthru ? { },
          meta ? { },
          layeringPipeline ? null,
          debug ? false,
        }@args:
        let
          contentsList = if builtins.isList contents then contents else [ contents ];
          entriesOf =
            c:
            c.rootEntries
              or (throw "stub streamLayeredImage: cannot model contents entry ${c.name or "?"} (no rootEntries)");
          provided = builtins.concatMap (
            c:
            map (entry: {
              inherit entry;
              type = (entriesOf c).${entry};
              from = c.name;
            }) (builtins.attrNames (entriesOf c))
          ) contentsList;
          names = builtins.attrNames (builtins.listToAttrs (map (p: { name = p.entry; value = null; }) provided));
          byName = entry: builtins.filter (p: p.entry == entry) provided;
          collides = entry: builtins.length (byName entry) > 1 && builtins.any (p: p.type != "dir") (byName entry);
          store = if includeStorePaths then { nix = "dir"; } else { };
          imageRoot = {
            entries = store // builtins.listToAttrs (map (entry: { name = entry; value = (builtins.head (byName entry)).type; }) names);
            collisions = map (entry: "/${entry}: ${builtins.concatStringsSep ", " (map (p: p.from) (byName entry))}") (
              builtins.filter collides names
            );
          };
        in
        drv "stream-${baseNameOf name}" { } { }
        // passthru
        // {
          inherit passthru imageRoot;
          streamArgs = builtins.removeAttrs args [ "passthru" ];
        };
    in
    {
      legacyPackages.${system} = {
        inherit python3 runCommand;
        curl = pkg "curl" [ "bin" ];
        jq = pkg "jq" [ "bin" ];
        git = pkg "git" [ "bin" "libexec" "share" ];
        uv = pkg "uv" [ "bin" "share" ];
        ffmpeg-headless = pkg "ffmpeg-headless" [ "bin" ];
        gh = pkg "gh" [ "bin" "share" ];
        gemini-cli = pkg "gemini-cli" [ "bin" "share" ];
        nodejs_22 = pkg "nodejs" [ "bin" "include" "lib" "share" ];
        cacert = pkg "cacert" [ "etc" "nix-support" ];
        nss_wrapper = pkg "nss_wrapper-1.1.16" [ "bin" "lib" "share" ];
        tini = pkg "tini" [ "bin" ];
        bashInteractive = pkg "bash-interactive" [ "bin" "lib" "share" ];
        coreutils = pkg "coreutils" [ "bin" "libexec" ];
        gnugrep = pkg "gnugrep" [ "bin" ];
        gnused = pkg "gnused" [ "bin" ];
        findutils = pkg "findutils" [ "bin" "libexec" ];
        gnutar = pkg "gnutar" [ "bin" "libexec" ];
        gzip = pkg "gzip" [ "bin" ];
        dockerTools = {
          inherit streamLayeredImage;
          binSh = pkg "bin-sh" [ "bin" ];
          usrBinEnv = pkg "usr-bin-env" [ "usr" ];
          fakeNss = pkg "fake-nss" [ "etc" "var" ];
        };
      };
    };
}
