#!/usr/bin/env bash
# Starts (or reuses) an isolated Docker daemon for cachetop's tests and prints its
# address. It never uses, changes or prunes the machine's default daemon.
#
#   scripts/test-daemon.sh          start or reuse; prints unix://<dir>/docker.sock
#   scripts/test-daemon.sh stop     stop the isolated daemon
#
# With CACHETOP_TEST_DAEMON_TLS=1 the daemon also listens on tcp://127.0.0.1:PORT in
# TLS with client certificates required (dockerd --tlsverify), and that address is
# printed instead. The certificates are made with openssl (scripts/lib-tls.sh) in
# <dir>/tls: ca.pem, server.pem/server.key (for IP 127.0.0.1), client.pem/client.key,
# and other-ca.pem, a CA that signed none of them.
#
# State lives in $CACHETOP_TEST_DAEMON_DIR (default /tmp/cachetop-testd): its own
# data root, exec root, pid file, socket and log. Builds against it need
# --network=none (no bridge), and Debian's /usr/bin/docker, whose 20.10 CLI still
# builds with BuildKit (DOCKER_BUILDKIT=1) without the buildx plugin.
set -euo pipefail

dir=${CACHETOP_TEST_DAEMON_DIR:-/tmp/cachetop-testd}
# Empty: dockerd's default (overlay2). The content-scan tests start a second daemon
# with CACHETOP_TEST_STORAGE_DRIVER=vfs.
storage_driver=${CACHETOP_TEST_STORAGE_DRIVER:-}
tls_mode=${CACHETOP_TEST_DAEMON_TLS:-}
sock="$dir/docker.sock"
host="unix://$sock"
image=cachetop-busybox:latest
docker_cli=/usr/bin/docker

# shellcheck source=scripts/lib-tls.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-tls.sh"

log() { echo "test-daemon: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo -n "$@"
  else log "needs root for: $*"; exit 1
  fi
}

ping_ok() {
  [ -S "$sock" ] && curl -fsS --max-time 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1
}

if [ "${1:-}" = stop ]; then
  if [ -f "$dir/pid" ]; then
    as_root kill "$(cat "$dir/pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do ping_ok || break; sleep 0.2; done
  fi
  log "stopped"
  exit 0
fi

# Debian's engine and a static busybox for the base image (no image can be pulled here).
missing=()
[ -x /usr/sbin/dockerd ] && [ -x "$docker_cli" ] || missing+=(docker.io)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || missing+=(busybox-static)
command -v curl >/dev/null || missing+=(curl)
# The metrics tests read cachetop's output back with a real Prometheus text parser,
# Debian's, for Debian's python (called by path: a python3 earlier on PATH may lack it).
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || missing+=(python3-prometheus-client)
# The shell completions are loaded by the shells themselves, the man page rendered by man.
command -v zsh >/dev/null || missing+=(zsh)
command -v fish >/dev/null || missing+=(fish)
command -v man >/dev/null || missing+=(man-db)
command -v groff >/dev/null || missing+=(groff-base)
[ -z "$tls_mode" ] || command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 \
    || { as_root apt-get update -q >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; }
fi

tls_args=""
if [ -n "$tls_mode" ]; then
  tls="$dir/tls"
  as_root mkdir -p "$dir"
  if [ ! -s "$tls/client.key" ] || [ ! -s "$dir/tls-port" ]; then
    log "making test certificates in $tls"
    as_root rm -rf "$tls" && as_root mkdir -p "$tls"
    make_test_certs "$tls" "cachetop docker test"
    chmod 0644 "$tls"/*
    # A port the kernel picks, kept for the daemon's life.
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$dir/tls-port"
    # A running daemon has no listener on the new port: start it again.
    if [ -f "$dir/pid" ]; then as_root kill "$(cat "$dir/pid")" 2>/dev/null || true; sleep 2; fi
  fi
  tls_port=$(cat "$dir/tls-port")
  tls_args="--tlsverify --tlscacert=$tls/ca.pem --tlscert=$tls/server.pem --tlskey=$tls/server.key --host=tcp://127.0.0.1:$tls_port"
fi

if ping_ok; then
  log "reusing the daemon at $host"
else
  as_root mkdir -p "$dir"
  if [ -f "$dir/pid" ] && as_root kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "a daemon from $dir/pid is running but does not answer; stopping it"
    as_root kill "$(cat "$dir/pid")" || true
    sleep 2
  fi
  as_root rm -f "$sock" "$dir/pid"
  log "starting dockerd under $dir"
  # The daemon outlives this script: it must not hold the caller's descriptors (a
  # lock a CI wrapper holds on fd 3-9 would otherwise stay taken for good).
  as_root sh -c "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; nohup /usr/sbin/dockerd \
      --data-root '$dir/data' --exec-root '$dir/exec' --pidfile '$dir/pid' \
      --host '$host' $tls_args --bridge=none --iptables=false --ip-masq=false ${storage_driver:+--storage-driver=$storage_driver} \
      >'$dir/dockerd.log' 2>&1 &"
  for _ in $(seq 1 150); do ping_ok && break; sleep 0.2; done
  if ! ping_ok; then
    log "dockerd did not come up; last lines of $dir/dockerd.log:"
    tail -n 20 "$dir/dockerd.log" >&2 || true
    exit 1
  fi
  # Let the test user (and CI) talk to it without sudo.
  as_root chmod 0666 "$sock" 2>/dev/null || true
fi

export DOCKER_HOST="$host" DOCKER_CONFIG="$dir/cli-config"
mkdir -p "$DOCKER_CONFIG" 2>/dev/null || as_root mkdir -p "$DOCKER_CONFIG"
if ! "$docker_cli" image inspect "$image" >/dev/null 2>&1; then
  log "importing $image from /bin/busybox"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  tar -C "$root" -cf "$root.tar" .
  "$docker_cli" import "$root.tar" "$image" >/dev/null
  rm -rf "$root" "$root.tar"
fi

if [ -n "$tls_mode" ]; then
  echo "tcp://127.0.0.1:$tls_port"
else
  echo "$host"
fi
