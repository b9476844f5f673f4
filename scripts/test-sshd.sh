#!/usr/bin/env bash
# Starts (or reuses) a loopback sshd for cachetop's ssh:// tests and prints where it is
# as shell assignments. Its one authorized key may only run `docker system
# dial-stdio` against the isolated test daemon (scripts/test-daemon.sh), as a remote
# runner's would; nothing else is reachable through it.
#
#   CACHETOP_TEST_SSH_HOST=ssh://cachetop-test       an alias in the ssh config below
#   CACHETOP_TEST_SSH_WRONG_KEY=ssh://cachetop-test-wrongkey   same sshd, a key it refuses
#   CACHETOP_TEST_SSH_UNKNOWN_HOST=ssh://cachetop-test-unknownhost  same sshd, its host
#        key in no known_hosts (ssh refuses it in BatchMode)
#   CACHETOP_TEST_SSH_URL=ssh://USER@127.0.0.1:PORT  the same sshd by address
#   CACHETOP_TEST_SSH_BIN=<dir>/bin   holds an `ssh` that runs /usr/bin/ssh -F <dir>/ssh_config:
#        tests put it first on PATH, so cachetop runs plain `ssh` as a user would
#        while ssh reads the test's config (ssh takes ~ from the password database,
#        not from $HOME, so a test HOME would not do)
#
#   scripts/test-sshd.sh          start or reuse
#   scripts/test-sshd.sh stop     stop the sshd
#
# State lives in $CACHETOP_TEST_SSHD_DIR (default $CACHETOP_TEST_DAEMON_DIR-sshd): host
# key, client keys, authorized_keys, known_hosts, ssh_config, sshd_config, log. It
# installs Debian's openssh-server and openssh-client when missing (without starting
# the machine's own sshd).
set -euo pipefail
cd "$(dirname "$0")/.."

base=${CACHETOP_TEST_DAEMON_DIR:-/tmp/cachetop-testd}
dir=${CACHETOP_TEST_SSHD_DIR:-$base-sshd}
user=$(id -un)

log() { echo "test-sshd: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo -n "$@"
  else log "needs root for: $*"; exit 1
  fi
}

alive() { [ -f "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  if alive; then kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true; fi
  rm -f "$dir/sshd.pid"
  log "stopped"
  exit 0
fi

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -x /usr/bin/ssh ] && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  # RUNLEVEL=1: the package's scripts must not start the machine's own sshd.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q "${missing[@]}" >&2 \
    || { as_root apt-get update -q >&2 \
      && as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q "${missing[@]}" >&2; }
fi

daemon=$(scripts/test-daemon.sh)
sock=${daemon#unix://}

mkdir -p "$dir/bin"
chmod 0700 "$dir"
for key in host_key client_key wrong_key; do
  [ -s "$dir/$key" ] || ssh-keygen -q -t ed25519 -N '' -C "cachetop test $key" -f "$dir/$key" >/dev/null
done
[ -s "$dir/port" ] || /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$dir/port"
port=$(cat "$dir/port")

# The key may only dial the isolated daemon: what a remote runner's key would do.
printf 'command="/usr/bin/docker -H unix://%s system dial-stdio",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding %s\n' \
  "$sock" "$(cat "$dir/client_key.pub")" >"$dir/authorized_keys"
chmod 0600 "$dir/authorized_keys"
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1-2 "$dir/host_key.pub")" >"$dir/known_hosts"
: >"$dir/empty_known_hosts"

cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
LogLevel VERBOSE
EOF

# Specific hosts first: ssh keeps the first value it reads for each option (but adds
# up IdentityFiles, so the wrong key's alias never gets the right one).
cat >"$dir/ssh_config" <<EOF
Host cachetop-test-wrongkey
  IdentityFile $dir/wrong_key
Host cachetop-test-unknownhost
  UserKnownHostsFile $dir/empty_known_hosts
Host cachetop-test cachetop-test-unknownhost 127.0.0.1
  IdentityFile $dir/client_key
Host cachetop-test cachetop-test-wrongkey cachetop-test-unknownhost
  HostName 127.0.0.1
  Port $port
  User $user
Host *
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
EOF

printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$dir/ssh_config" >"$dir/bin/ssh"
chmod 0755 "$dir/bin/ssh"

if alive; then
  log "reusing the sshd on 127.0.0.1:$port"
else
  # sshd as root wants its privilege separation directory.
  [ "$(id -u)" != 0 ] || mkdir -p /run/sshd
  log "starting sshd on 127.0.0.1:$port"
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
  for _ in $(seq 1 50); do alive && break; sleep 0.1; done
  alive || { log "sshd did not start; last lines of $dir/sshd.log:"; tail -n 20 "$dir/sshd.log" >&2; exit 1; }
fi

echo "CACHETOP_TEST_SSH_HOST=ssh://cachetop-test"
echo "CACHETOP_TEST_SSH_WRONG_KEY=ssh://cachetop-test-wrongkey"
echo "CACHETOP_TEST_SSH_UNKNOWN_HOST=ssh://cachetop-test-unknownhost"
echo "CACHETOP_TEST_SSH_URL=ssh://$user@127.0.0.1:$port"
echo "CACHETOP_TEST_SSH_BIN=$dir/bin"
