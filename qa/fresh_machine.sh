#!/usr/bin/env bash
# Fresh-machine proof: remove everything setup/bootstrap.sh created, then run each of the README's two
# set-up commands exactly as written on its own wiped machine (the test command first: that is what
# CI does, on a clean checkout with nothing built), RUNS times in a row (default 3), timing each.
# A green run on a warm machine can hide a missing install step or a race; this cannot (short of
# reinstalling Debian: the Debian packages bootstrap installs are kept, as a fresh machine's
# registries would give them back).
#
#   bash qa/fresh_machine.sh [RUNS]        as root, from the repository; results in evidence/fresh-machine/
#
# Removed before each command: the QA user (its home, podman storage, subordinate ids, runtime dir), the
# podman and nix config bootstrap wrote, the download/tool cache, and every untracked or ignored file
# of the checkout (.venv, build/, doit's state, caches) except evidence/. A main-then-test order hid
# a `doit list` that wrote doit's state file on a clean checkout: CI found it, this order would have.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
QA_USER=${OPENCLAW_NIX_QA_USER:-openclaw-qa}
CACHE=${OPENCLAW_NIX_CACHE:-/var/cache/openclaw-nix}
OUT=evidence/fresh-machine
[ "$(id -u)" = 0 ] || { echo "fresh_machine: run as root (it removes the QA user and system config)" >&2; exit 1; }
mkdir -p "$OUT"
say() { printf '\033[1m[fresh-machine]\033[0m %s\n' "$*"; }

wipe() {
  if id "$QA_USER" >/dev/null 2>&1; then
    local uid; uid=$(id -u "$QA_USER")
    pkill -KILL -u "$uid" 2>/dev/null || true
    # podman's overlay storage holds files owned by subordinate ids: remove it inside the user namespace
    setup/as-qa-user podman system reset -f >/dev/null 2>&1 || true
    userdel -r "$QA_USER" 2>/dev/null || true
    rm -rf "/run/user/$uid" "/home/$QA_USER"
  fi
  sed -i "/^$QA_USER:/d" /etc/subuid /etc/subgid
  rm -f /etc/containers/containers.conf
  sed -i '/^experimental-features/d; /^substituters =/d' /etc/nix/nix.conf 2>/dev/null || true
  rm -rf "$CACHE"
  git clean -fdxq -e evidence/
}

# The README's commands, read from the README itself so this script cannot drift from it.
main_cmd=$(grep -m1 -A0 '^bash setup/bootstrap.sh && .venv/bin/doit$' README.md)
test_cmd=$(grep -m1 -A0 '^bash setup/bootstrap.sh --tests && .venv/bin/nox$' README.md)
[ -n "$main_cmd" ] && [ -n "$test_cmd" ] || { echo "fresh_machine: README's set-up commands not found" >&2; exit 1; }

results=()
overall=0
write_results() {
  {
    printf '{\n  "host": "%s",\n  "date": "%s",\n  "revision": "%s",\n  "qa_user": "%s",\n  "cache": "%s",\n  "runs_planned": %s,\n  "steps": [\n' \
      "$(uname -srm)" "$(date -u +%FT%TZ)" "$(git rev-parse HEAD)" "$QA_USER" "$CACHE" "$RUNS"
    local sep=""
    for r in "${results[@]}"; do printf '%s    %s' "$sep" "$r"; sep=$',\n'; done
    printf '\n  ],\n  "all_green": %s\n}\n' "$([ $overall = 0 ] && echo true || echo false)"
  } >"$OUT/fresh-machine.json"
}
for run in $(seq 1 "$RUNS"); do
  for step in test main; do
    say "run $run/$RUNS: $step: wiping what bootstrap created and the checkout's untracked files"
    wipe
    cmd=$main_cmd; [ "$step" = test ] && cmd=$test_cmd
    log="$OUT/run$run-$step.log"
    say "run $run/$RUNS: $step: $cmd"
    start=$(date +%s)
    bash -c "$cmd" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    tail_line=$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -n 3 | tr '\n' ' ' | tr -d '"\\')
    say "run $run/$RUNS: $step: exit $rc in ${secs}s ${tail_line}"
    # per-step times: bootstrap's own and every doit run's [timing] line (one per doit invocation)
    step_times=$(grep -E '\[bootstrap\].* done in|^\[timing\]' "$log" | sed 's/\x1b\[[0-9;]*m//g' | tr '\n' ';' | tr -d '"\\')
    results+=("{\"run\": $run, \"step\": \"$step\", \"command\": \"$cmd\", \"exit\": $rc, \"seconds\": $secs, \"pytest\": \"$tail_line\", \"step_times\": \"$step_times\"}")
    [ "$rc" = 0 ] || overall=1
    write_results
    # keep the log small: the summary lines and the last 200 lines
    tail -n 200 "$log" >"$log.tmp" && mv "$log.tmp" "$log"
  done
done
write_results
say "results: $OUT/fresh-machine.json (all green: $([ $overall = 0 ] && echo yes || echo no))"
exit $overall
