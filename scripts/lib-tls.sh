# shellcheck shell=bash
# Sourced by scripts/test-daemon.sh and scripts/test-buildkit.sh, which both need a
# small certificate set made with openssl.
#
#   make_test_certs DIR NAME
#
# writes into DIR (which must exist) ca.pem/ca.key (a CA, "/CN=NAME CA"),
# server.pem/server.key (for IP 127.0.0.1 and localhost, "/CN=NAME server"),
# client.pem/client.key ("/CN=NAME client"), and other-ca.pem/other-ca.key
# ("/CN=cachetop other CA", a CA that signed none of them).
make_test_certs() (
  cd "$1" || exit
  name=$2
  ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  ec ca.key
  openssl req -x509 -new -key ca.key -out ca.pem -days 3650 -subj "/CN=$name CA" 2>/dev/null
  ec other-ca.key
  openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 3650 -subj "/CN=cachetop other CA" 2>/dev/null
  for who in server client; do
    ec "$who.key"
    openssl req -new -key "$who.key" -out "$who.csr" -subj "/CN=$name $who" 2>/dev/null
  done
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
  for who in server client; do
    openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
      -out "$who.pem" -days 3650 -extfile "$who.ext" 2>/dev/null
  done
  rm -f ./*.csr ./*.ext ca.srl
)
