#!/usr/bin/env bash
# The whole test suite against real parts: starts (or reuses) the isolated Docker
# daemon, installing Debian's docker.io and busybox-static when missing, and the
# loopback registries (Debian's docker-registry), then runs cargo test. Extra
# arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHETOP_TEST_DOCKER_HOST=$(scripts/test-daemon.sh)
export CACHETOP_TEST_DOCKER_HOST
echo "test daemon: $CACHETOP_TEST_DOCKER_HOST" >&2

registries=$(scripts/test-registry.sh)
eval "$registries"
export CACHETOP_TEST_REGISTRY CACHETOP_TEST_REGISTRY_NODELETE CACHETOP_TEST_REGISTRY_BASIC
echo "test registries: $CACHETOP_TEST_REGISTRY (delete), $CACHETOP_TEST_REGISTRY_NODELETE (no delete), $CACHETOP_TEST_REGISTRY_BASIC (htpasswd)" >&2

cargo test --locked "$@"
