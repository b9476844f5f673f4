#!/usr/bin/env bash
# Installs what tests/runner_hooks.rs checks the runner hooks and units with, when
# missing: shellcheck (the hook scripts) and systemd-analyze (the unit files).
set -euo pipefail
missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
fi
