#!/usr/bin/env bash
# The whole test suite against real parts: starts (or reuses) the isolated Docker
# daemon, installing Debian's docker.io and busybox-static when missing, then runs
# cargo test. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHETOP_TEST_DOCKER_HOST=$(scripts/test-daemon.sh)
export CACHETOP_TEST_DOCKER_HOST
echo "test daemon: $CACHETOP_TEST_DOCKER_HOST" >&2

cargo test --locked "$@"
