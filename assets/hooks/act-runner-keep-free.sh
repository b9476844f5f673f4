#!/usr/bin/env bash
# Forgejo / Gitea act_runner: keeps a free-space floor on the runner's machine, deleting
# the least recently used build caches first and never one in use. act_runner has no
# job-started hook, so run this on the host:
#
#   - before the runner starts and between jobs, from act_runner's systemd unit:
#       ExecStartPre=-/opt/cachetop/act-runner-keep-free.sh
#   - every few minutes, from a timer or cron:
#       */5 * * * * root /opt/cachetop/act-runner-keep-free.sh >>/var/log/cachetop.json
#   - or as the first step of jobs on a host-executed label (runs-on: a `:host` label):
#       - run: /opt/cachetop/act-runner-keep-free.sh
#
# Settings (environment):
#   CACHETOP_BIN          cachetop binary (default: cachetop on PATH)
#   CACHETOP_KEEP_FREE    free-space floor, SIZE or PCT% of each filesystem (default: 15%)
#   CACHETOP_MAX_USED     also keep the caches within SIZE in total (default: unset)
#   CACHETOP_GLOBAL_ARGS  options before `prune`, e.g. "--dir /data/cache" (default: none)
#   CACHETOP_PRUNE_ARGS   extra selectors, e.g. "--source docker" (default: none)
#   CACHETOP_WAIT         how long to wait for another cachetop prune (default: 5m)
#   CACHETOP_STRICT       1: exit non-zero when the prune fails (default: 0, warn only)
#   DOCKER_HOST           the daemon act_runner's jobs use (default: the local socket)
#
# Output: the cachetop.prune.v1 JSON document on stdout, messages on stderr.
set -uo pipefail

bin=${CACHETOP_BIN:-cachetop}
keep_free=${CACHETOP_KEEP_FREE:-15%}
max_used=${CACHETOP_MAX_USED:-}
wait_for=${CACHETOP_WAIT:-5m}
strict=${CACHETOP_STRICT:-0}
read -r -a global_args <<<"${CACHETOP_GLOBAL_ARGS:-}"
read -r -a prune_args <<<"${CACHETOP_PRUNE_ARGS:-}"

budget=(--keep-free "$keep_free")
if [ -n "$max_used" ]; then
  budget+=(--max-used "$max_used")
fi

"$bin" "${global_args[@]}" prune "${prune_args[@]}" "${budget[@]}" \
  --wait "$wait_for" --yes --json
status=$?
if [ "$status" -ne 0 ]; then
  echo "cachetop act_runner hook: prune exited with $status" >&2
  if [ "$strict" = 1 ]; then
    exit "$status"
  fi
fi
exit 0
