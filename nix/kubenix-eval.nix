# Evaluates the kubenix module (nix/kubenix.nix) as kubenix.evalModules would, but with nixpkgs' `lib`
# alone: the kubernetes objects need nothing from `pkgs`, so a `pkgs` that throws on use stands in.
# Used by the flake's check and by tests/test_kubenix.py (nix-instantiate, no flakes needed).
{
  lib, # nixpkgs' lib (e.g. import "${nixpkgs.lib}/lib")
  kubenix, # kubenix's source tree (GitHub hall/kubenix)
  modules ? [ ], # further modules: option settings of the configuration under test
}:
(lib.evalModules {
  modules = [
    ./kubenix.nix
    { _module.args.pkgs = throw "openclaw-nix's kubenix module must not need pkgs"; }
  ] ++ modules;
  specialArgs.kubenix.modules = import (toString kubenix + "/modules");
}).config.kubernetes.generated
