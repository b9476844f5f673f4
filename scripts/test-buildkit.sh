#!/usr/bin/env bash
# Starts (or reuses) the BuildKit parts of cachetop's tests and prints where they are as
# shell assignments. No BuildKit image can be pulled here, so the BuildKit is the real one
# embedded in a second isolated dockerd, and only `buildctl` is stood in by a small
# static relay (tests/fixtures/buildkit_relay/relay.c) that upgrades that daemon's
# `POST /grpc` and relays the connection:
#
#   CACHETOP_TEST_BUILDKIT_DOCKER_HOST=unix://...   the second daemon (its BuildKit is
#                                                    the one reached below)
#   CACHETOP_TEST_BUILDKIT_BUILDER=buildx_buildkit_cachetop0
#        a builder container on the main test daemon, named as buildx names a
#        docker-container node, with its state volume at /var/lib/buildkit and the
#        relay as /usr/bin/buildctl (`buildctl dial-stdio` reaches the second daemon)
#   CACHETOP_TEST_BUILDKIT_IMAGE=cachetop-buildctl:latest   that container's image
#   CACHETOP_TEST_BUILDKIT_UNIX=unix://.../buildkitd.sock    a loopback relay
#   CACHETOP_TEST_BUILDKIT_TCP=tcp://127.0.0.1:PORT          the same, on tcp
#   CACHETOP_TEST_BUILDKIT_TLS=tcp://127.0.0.1:PORT          socat's TLS in front of it
#        (client certificates required)
#   CACHETOP_TEST_BUILDKIT_TLS_DIR=...   ca.pem, client.pem, client.key (made by
#        openssl here) and other-ca.pem, a CA that signed none of them
#   CACHETOP_TEST_BUILDKIT_RELAY=...     the relay binary, for tests' own containers
#
#   scripts/test-buildkit.sh          start or reuse; prints the lines above
#   scripts/test-buildkit.sh stop     stop the relays, socat and the second daemon
#
# State lives in $CACHETOP_TEST_DAEMON_DIR-buildkit; the second daemon in
# $CACHETOP_TEST_DAEMON_DIR-bk (scripts/test-daemon.sh). It installs gcc, libc6-dev,
# socat and openssl from Debian when missing. The machine's default daemon is never used.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${CACHETOP_TEST_DAEMON_DIR:-/tmp/cachetop-testd}
dir="$base-buildkit"
bk_dir="$base-bk"
docker_cli=/usr/bin/docker
builder=buildx_buildkit_cachetop0
image=cachetop-buildctl:latest
relay_src=tests/fixtures/buildkit_relay/relay.c

# shellcheck source=scripts/lib-tls.sh
. scripts/lib-tls.sh

log() { echo "test-buildkit: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo -n "$@"
  else log "needs root for: $*"; exit 1
  fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {
  if alive "$1"; then kill "$(cat "$1")" 2>/dev/null || true; fi
  rm -f "$1"
}

if [ "${1:-}" = stop ]; then
  stop_pid "$dir/relay-unix.pid"
  stop_pid "$dir/relay-tcp.pid"
  stop_pid "$dir/socat.pid"
  CACHETOP_TEST_DAEMON_DIR="$bk_dir" scripts/test-daemon.sh stop
  log "stopped"
  exit 0
fi

missing=()
command -v gcc >/dev/null || missing+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -n "$(find /usr/lib -name libc.a -print -quit 2>/dev/null)" ] || missing+=(libc6-dev)
command -v socat >/dev/null || missing+=(socat)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 \
    || { as_root apt-get update -q >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; }
fi

main_host=$(scripts/test-daemon.sh)
bk_host=$(CACHETOP_TEST_DAEMON_DIR="$bk_dir" scripts/test-daemon.sh)
bk_sock=${bk_host#unix://}
mkdir -p "$dir"

# The relay, rebuilt when its source changes.
relay="$dir/relay"
src_sum=$(sha256sum "$relay_src" | cut -c1-16)
if [ ! -x "$relay" ] || [ "$(cat "$dir/relay.sum" 2>/dev/null)" != "$src_sum" ]; then
  log "building the buildctl relay"
  gcc -static -O2 -Wall -Wextra -o "$relay.new" "$relay_src" >&2
  mv "$relay.new" "$relay"
  echo "$src_sum" >"$dir/relay.sum"
  # Relays of the old build are stale.
  stop_pid "$dir/relay-unix.pid"
  stop_pid "$dir/relay-tcp.pid"
fi

# Loopback relays to the second daemon's BuildKit (unix, then plain tcp).
if ! alive "$dir/relay-unix.pid" || [ ! -S "$dir/buildkitd.sock" ]; then
  stop_pid "$dir/relay-unix.pid"
  # Relays outlive this script: none of the caller's descriptors (fd 3-9) go with them.
  nohup "$relay" listen "unix:$dir/buildkitd.sock" "$bk_sock" >/dev/null 2>"$dir/relay-unix.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$dir/relay-unix.pid"
  for _ in $(seq 1 50); do [ -S "$dir/buildkitd.sock" ] && break; sleep 0.1; done
fi
if ! alive "$dir/relay-tcp.pid" || [ ! -s "$dir/relay-tcp.port" ]; then
  stop_pid "$dir/relay-tcp.pid"
  rm -f "$dir/relay-tcp.port"
  nohup "$relay" listen tcp:0 "$bk_sock" >"$dir/relay-tcp.port" 2>"$dir/relay-tcp.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$dir/relay-tcp.pid"
  for _ in $(seq 1 50); do [ -s "$dir/relay-tcp.port" ] && break; sleep 0.1; done
fi

# Certificates: a CA, a server certificate for 127.0.0.1, a client certificate, and a
# second CA that signed none of them.
tls="$dir/tls"
if [ ! -s "$tls/client.key" ]; then
  log "making test certificates"
  rm -rf "$tls" && mkdir -p "$tls"
  make_test_certs "$tls" "cachetop test"
  stop_pid "$dir/socat.pid"
fi

# TLS in front of the unix relay, with client certificates required.
if ! alive "$dir/socat.pid"; then
  for _ in $(seq 1 10); do
    port=$("$relay" free-port)
    nohup socat "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$tls/server.pem,key=$tls/server.key,cafile=$tls/ca.pem,verify=1" \
      "UNIX-CONNECT:$dir/buildkitd.sock" >/dev/null 2>"$dir/socat.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    echo $! >"$dir/socat.pid"
    sleep 0.3
    if alive "$dir/socat.pid"; then echo "$port" >"$dir/socat.port"; break; fi
  done
  alive "$dir/socat.pid" || { log "socat did not start: $(tail -n 3 "$dir/socat.log")"; exit 1; }
fi

# The builder container on the main test daemon.
export DOCKER_HOST="$main_host" DOCKER_CONFIG="$base/cli-config"
if [ "$("$docker_cli" image inspect -f '{{index .Config.Labels "cachetop.relay"}}' "$image" 2>/dev/null)" != "$src_sum" ]; then
  log "importing $image (busybox and the relay as /usr/bin/buildctl)"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/usr/bin" "$root/tmp" "$root/etc" "$root/var/lib/buildkit"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  cp "$relay" "$root/usr/bin/buildctl"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  tar -C "$root" -cf "$root.tar" .
  "$docker_cli" import --change "LABEL cachetop.relay=$src_sum" "$root.tar" "$image" >/dev/null
  rm -rf "$root" "$root.tar"
fi
# Recreated when the image or the second daemon changed (a bind-mounted socket
# keeps pointing at the daemon it was mounted from).
want="$src_sum-$(cat "$bk_dir/pid")"
have=$("$docker_cli" inspect -f '{{.State.Running}} {{index .Config.Labels "cachetop.want"}}' "$builder" 2>/dev/null || true)
if [ "$have" != "true $want" ]; then
  log "starting the builder container $builder"
  "$docker_cli" rm -f "$builder" >/dev/null 2>&1 || true
  "$docker_cli" run -d --name "$builder" --network=none --label "cachetop.want=$want" \
    -v "${builder}_state:/var/lib/buildkit" \
    -v "$bk_sock:/run/buildkit-relay/docker.sock" \
    "$image" sleep 2147483647 >/dev/null
fi

echo "CACHETOP_TEST_BUILDKIT_DOCKER_HOST=$bk_host"
echo "CACHETOP_TEST_BUILDKIT_BUILDER=$builder"
echo "CACHETOP_TEST_BUILDKIT_IMAGE=$image"
echo "CACHETOP_TEST_BUILDKIT_UNIX=unix://$dir/buildkitd.sock"
echo "CACHETOP_TEST_BUILDKIT_TCP=tcp://127.0.0.1:$(cat "$dir/relay-tcp.port")"
echo "CACHETOP_TEST_BUILDKIT_TLS=tcp://127.0.0.1:$(cat "$dir/socat.port")"
echo "CACHETOP_TEST_BUILDKIT_TLS_DIR=$tls"
echo "CACHETOP_TEST_BUILDKIT_RELAY=$relay"
