#!/usr/bin/env bash
# tls-setup.sh -- what bench/tls.json, bench/idle.sh --tls and bench/testssl.sh
# serve: bench/setup-www.sh's files and two self-signed test certificates for
# localhost and 127.0.0.1 in /tmp/netcore-anchors/tls/ (ec-*.pem: P-256,
# rsa-*.pem: RSA 2048), each made once and again when within a day of expiry.
set -euo pipefail
"$(dirname "$0")/setup-www.sh"
d=/tmp/netcore-anchors/tls
mkdir -p "$d"
mkpair() { # NAME OPENSSL-REQ-KEY-OPTIONS...
    local name=$1; shift
    if [ -s "$d/$name-key.pem" ] && openssl x509 -in "$d/$name-cert.pem" -noout -checkend 86400 >/dev/null 2>&1; then
        return
    fi
    openssl req -x509 "$@" -nodes -days 365 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$d/$name-key.tmp" -out "$d/$name-cert.tmp" 2>/dev/null
    mv "$d/$name-key.tmp" "$d/$name-key.pem"
    mv "$d/$name-cert.tmp" "$d/$name-cert.pem"
}
mkpair ec -newkey ec -pkeyopt ec_paramgen_curve:P-256
mkpair rsa -newkey rsa:2048
chmod 600 "$d"/*-key.pem
chmod 644 "$d"/*-cert.pem
