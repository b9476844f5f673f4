#!/usr/bin/env bash
# GitHub Actions self-hosted runner: job-started hook that keeps a free-space floor
# before each job, deleting the least recently used build caches first and never one
# in use. Install: put this file on the runner machine, make it executable, and add to
# the runner's .env file (next to its config):
#
#   ACTIONS_RUNNER_HOOK_JOB_STARTED=/opt/cachetop/github-runner-job-started.sh
#
# Settings (environment, e.g. in the same .env file):
#   CACHETOP_BIN          cachetop binary (default: cachetop on PATH)
#   CACHETOP_KEEP_FREE    free-space floor, SIZE or PCT% of each filesystem (default: 15%)
#   CACHETOP_MAX_USED     also keep the caches within SIZE in total (default: unset)
#   CACHETOP_GLOBAL_ARGS  options before `prune`, e.g. "--dir /srv/cargo-home" (default: none)
#   CACHETOP_PRUNE_ARGS   extra selectors, e.g. "--source docker" (default: none)
#   CACHETOP_WAIT         how long to wait for another cachetop prune (default: 5m)
#   CACHETOP_STRICT       1: fail the job when the prune fails (default: 0, warn only)
#   DOCKER_HOST           the daemon, as for docker (default: the local socket)
#
# Output: the cachetop.prune.v1 JSON document on stdout (the job's "Set up runner"
# log shows it), messages on stderr.
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
  echo "cachetop hook: prune exited with $status" >&2
  if [ "$strict" = 1 ]; then
    exit "$status"
  fi
fi
exit 0
