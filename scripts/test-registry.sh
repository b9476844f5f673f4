#!/usr/bin/env bash
# Starts (or reuses) Debian's docker-registry (distribution) on loopback for cachetop's
# tests, and prints where they listen as shell assignments:
#
#   CACHETOP_TEST_REGISTRY=127.0.0.1:PORT           deleting enabled
#   CACHETOP_TEST_REGISTRY_NODELETE=127.0.0.1:PORT  deleting disabled (answers 405)
#   CACHETOP_TEST_REGISTRY_BASIC=127.0.0.1:PORT     htpasswd auth, deleting enabled
#
#   scripts/test-registry.sh          start or reuse; prints the lines above
#   scripts/test-registry.sh stop     stop them
#
# State lives in $CACHETOP_TEST_REGISTRY_DIR (default /tmp/cachetop-testreg): one
# directory per instance with its config, storage, pid, address and log. Each listens
# on a port the kernel picks, so several checkouts can run side by side. It installs
# docker-registry (and apache2-utils for htpasswd, openssl for the token-auth test)
# from Debian when missing.
set -euo pipefail

dir=${CACHETOP_TEST_REGISTRY_DIR:-/tmp/cachetop-testreg}
# The htpasswd instance's test-only account (tests/common/registry.rs knows it too).
basic_user=cachetop
basic_password=cachetop-basic-test-password

log() { echo "test-registry: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo -n "$@"
  else log "needs root for: $*"; exit 1
  fi
}

instances=(delete nodelete basic)

alive() { # name
  local d="$dir/$1"
  [ -f "$d/pid" ] && [ -f "$d/addr" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null || return 1
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$(cat "$d/addr")/v2/" || true)
  [ "$code" = 200 ] || [ "$code" = 401 ]
}

if [ "${1:-}" = stop ]; then
  for name in "${instances[@]}"; do
    if [ -f "$dir/$name/pid" ]; then
      kill "$(cat "$dir/$name/pid")" 2>/dev/null || true
      rm -f "$dir/$name/pid" "$dir/$name/addr"
    fi
  done
  log "stopped"
  exit 0
fi

missing=()
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
command -v curl >/dev/null || missing+=(curl)
# The token-auth registry of tests/registry_auth.rs signs its tokens with openssl.
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 \
    || { as_root apt-get update -q >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; }
fi

start() { # name delete-enabled(true|false) auth-yaml
  local name=$1 delete=$2 auth=$3 d="$dir/$1"
  if alive "$name"; then
    log "reusing $name at $(cat "$d/addr")"
    return
  fi
  if [ -f "$d/pid" ]; then kill "$(cat "$d/pid")" 2>/dev/null || true; fi
  mkdir -p "$d/data"
  rm -f "$d/pid" "$d/addr"
  cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: $delete
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:0
  secret: cachetop-test-$name
$auth
EOF
  # It outlives this script: none of the caller's descriptors (fd 3-9) go with it.
  nohup docker-registry serve "$d/config.yml" >"$d/log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$d/pid"
  local addr=""
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*msg="listening on \([0-9.]*:[0-9]*\)".*/\1/p' "$d/log" | tail -n 1)
    [ -n "$addr" ] && break
    kill -0 "$(cat "$d/pid")" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    log "docker-registry ($name) did not come up; last lines of $d/log:"
    tail -n 20 "$d/log" >&2 || true
    exit 1
  fi
  echo "$addr" >"$d/addr"
  log "started $name at $addr"
}

mkdir -p "$dir/basic"
[ -s "$dir/basic/htpasswd" ] || htpasswd -Bbn "$basic_user" "$basic_password" >"$dir/basic/htpasswd" 2>/dev/null

start delete true ""
start nodelete false ""
start basic true "auth:
  htpasswd:
    realm: cachetop-test
    path: $dir/basic/htpasswd"

echo "CACHETOP_TEST_REGISTRY=$(cat "$dir/delete/addr")"
echo "CACHETOP_TEST_REGISTRY_NODELETE=$(cat "$dir/nodelete/addr")"
echo "CACHETOP_TEST_REGISTRY_BASIC=$(cat "$dir/basic/addr")"
