#!/usr/bin/env bash
# The whole test suite against real parts: starts (or reuses) the isolated Docker
# daemon, installing Debian's docker.io and busybox-static when missing, the
# loopback registries (Debian's docker-registry), the BuildKit parts (a second
# isolated daemon reached through a buildctl relay: a builder container, unix, tcp
# and TLS), and the remote daemons (an sshd in front of the test daemon, a third
# daemon in TLS), then runs cargo test. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHETOP_TEST_DOCKER_HOST=$(scripts/test-daemon.sh)
export CACHETOP_TEST_DOCKER_HOST
echo "test daemon: $CACHETOP_TEST_DOCKER_HOST" >&2

registries=$(scripts/test-registry.sh)
eval "$registries"
export CACHETOP_TEST_REGISTRY CACHETOP_TEST_REGISTRY_NODELETE CACHETOP_TEST_REGISTRY_BASIC
echo "test registries: $CACHETOP_TEST_REGISTRY (delete), $CACHETOP_TEST_REGISTRY_NODELETE (no delete), $CACHETOP_TEST_REGISTRY_BASIC (htpasswd)" >&2

buildkit=$(scripts/test-buildkit.sh)
eval "$buildkit"
export CACHETOP_TEST_BUILDKIT_DOCKER_HOST CACHETOP_TEST_BUILDKIT_BUILDER CACHETOP_TEST_BUILDKIT_IMAGE \
  CACHETOP_TEST_BUILDKIT_UNIX CACHETOP_TEST_BUILDKIT_TCP CACHETOP_TEST_BUILDKIT_TLS \
  CACHETOP_TEST_BUILDKIT_TLS_DIR CACHETOP_TEST_BUILDKIT_RELAY
echo "test BuildKit: $CACHETOP_TEST_BUILDKIT_DOCKER_HOST via $CACHETOP_TEST_BUILDKIT_BUILDER, $CACHETOP_TEST_BUILDKIT_UNIX, $CACHETOP_TEST_BUILDKIT_TCP, $CACHETOP_TEST_BUILDKIT_TLS (TLS)" >&2

# Remote daemons: a loopback sshd whose key dials the test daemon, and a second
# isolated daemon in TLS (client certificates required).
ssh_parts=$(scripts/test-sshd.sh)
eval "$ssh_parts"
export CACHETOP_TEST_SSH_HOST CACHETOP_TEST_SSH_WRONG_KEY CACHETOP_TEST_SSH_UNKNOWN_HOST \
  CACHETOP_TEST_SSH_URL CACHETOP_TEST_SSH_BIN
CACHETOP_TEST_TLS_DOCKER_HOST=$(CACHETOP_TEST_DAEMON_DIR="${CACHETOP_TEST_DAEMON_DIR:-/tmp/cachetop-testd}-tls" \
  CACHETOP_TEST_DAEMON_TLS=1 scripts/test-daemon.sh)
export CACHETOP_TEST_TLS_DOCKER_HOST
echo "test remote daemons: $CACHETOP_TEST_SSH_HOST ($CACHETOP_TEST_SSH_URL), $CACHETOP_TEST_TLS_DOCKER_HOST (TLS)" >&2

# A whole run starts from an empty build cache on the isolated daemons: records left
# by earlier runs pile up over days (thousands) and only slow every listing and scan.
if [ $# -eq 0 ]; then
  for host in "$CACHETOP_TEST_DOCKER_HOST" "$CACHETOP_TEST_BUILDKIT_DOCKER_HOST"; do
    if DOCKER_HOST=$host timeout 300 docker builder prune -af >/dev/null; then
      echo "test daemon $host: build cache of earlier runs cleared" >&2
    else
      echo "test daemon $host: could not clear the build cache of earlier runs; going on" >&2
    fi
  done
fi

# The test daemon runs a buildx-named builder container: no test finds builders unless
# it asks (tests of builders name theirs or turn discovery back on).
export CACHETOP_NO_BUILDERS=1 BUILDX_CONFIG=/nonexistent-cachetop-buildx
# Prunes of this run lock among themselves, never against the machine's own
# (/run/cachetop) or another checkout's test run.
CACHETOP_LOCK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cachetop-test-locks.XXXXXX")
export CACHETOP_LOCK_DIR
unset BUILDKIT_HOST

# The integration tests are modules of one binary (tests/integration.rs): `--test NAME`
# for a module becomes the filter `NAME::` of that binary, so `--test docker_prune` and
# `--test gha` keep working. Filters and libtest flags after `--` pass through.
cargo_args=() filters=() rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --test) shift; name=${1:?--test needs a name} ;;
    --test=*) name=${1#--test=} ;;
    --) shift; rest=("$@"); break ;;
    *) cargo_args+=("$1"); shift; continue ;;
  esac
  shift
  if [ "$name" = integration ]; then filters+=(""); else filters+=("$name::"); fi
done
if [ ${#filters[@]} -gt 0 ]; then
  cargo_args+=(--test integration)
  for f in "${filters[@]}"; do [ -n "$f" ] && rest=("$f" "${rest[@]}"); done
fi
if [ ${#rest[@]} -gt 0 ]; then
  cargo test --locked "${cargo_args[@]}" -- "${rest[@]}"
else
  cargo test --locked "${cargo_args[@]}"
fi
# The whole suite also runs every fuzz seed through its target (src/fuzzing.rs, built
# only with the `fuzzing` feature), so the entry points cargo fuzz uses keep building
# and keep their checks.
if [ ${#cargo_args[@]} -eq 0 ] && [ ${#filters[@]} -eq 0 ] && [ ${#rest[@]} -eq 0 ]; then
  cargo test --locked --features fuzzing --lib fuzzing
fi
