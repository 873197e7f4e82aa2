#!/usr/bin/env bash
# testssl.sh -- rates netcore's TLS defaults with testssl.sh (Debian's
# testssl): an https listener (http-static, no cipher or version options)
# on 127.0.0.1 with bench/tls-setup.sh's P-256 and then its RSA-2048 test
# certificate, a full testssl run against each (bounded by a timeout), and
# every finding rated LOW or above listed; exits 1 if one is HIGH or CRITICAL
# (other than the self-signed certificate's own: no chain of trust, no CRL/OCSP).
#   bench/testssl.sh [OUTDIR]   (default /tmp/netcore-testssl: netcore's
#                                config and log, testssl's text and JSON)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/netcore-testssl}
command -v testssl >/dev/null || { echo "testssl.sh: needs testssl (scripts/install-deps --bench)" >&2; exit 2; }
bench/tls-setup.sh
mkdir -p "$out"
user=""; [ "$(id -u)" = 0 ] && user='"user": "root",'
tlsd=/tmp/netcore-anchors/tls
cat > "$out/netcore.json" <<JSON
{ $user "log": { "level": "info" },
  "listeners": [
    { "name": "ec", "module": "http-static", "listen": "127.0.0.1:18460",
      "tls": { "cert": "$tlsd/ec-cert.pem", "key": "$tlsd/ec-key.pem" },
      "options": { "root": "/tmp/netcore-anchors/www", "access_log": "off" } },
    { "name": "rsa", "module": "http-static", "listen": "127.0.0.1:18461",
      "tls": { "cert": "$tlsd/rsa-cert.pem", "key": "$tlsd/rsa-key.pem" },
      "options": { "root": "/tmp/netcore-anchors/www", "access_log": "off" } } ] }
JSON
build/netcore -c "$out/netcore.json" > "$out/netcore.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    grep -q "ready:" "$out/netcore.log" && break
    sleep 0.1
done
grep -q "ready:" "$out/netcore.log" || { cat "$out/netcore.log" >&2; exit 1; }
grep "kernel TLS" "$out/netcore.log" || true
status=0
for k in ec:18460 rsa:18461; do
    name=${k%%:*} port=${k##*:}
    rm -f "$out/$name.json"
    echo "== $name certificate: testssl --quiet --color 0 https://127.0.0.1:$port (text in $out/$name.txt)"
    timeout 900 testssl --quiet --color 0 --warnings batch --nodns none --connect-timeout 5 --openssl-timeout 10 \
        --jsonfile "$out/$name.json" "https://127.0.0.1:$port" > "$out/$name.txt" 2>&1 || true
    python3 - "$out/$name.json" <<'PY' || status=1
import json, sys
rank = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
try:
    found = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit(f"no testssl JSON ({e}): the run did not finish")
# What a self-signed test certificate is bound to get: not the server's doing.
cert_only = {"cert_chain_of_trust", "cert_revocation"}
bad = 0
for f in sorted(found, key=lambda f: -rank.get(f.get("severity"), 0)):
    sev = f.get("severity")
    if sev in rank:
        why = "  (the self-signed test certificate)" if f["id"] in cert_only else ""
        print(f"  {sev:8} {f['id']}: {f.get('finding', '')}{why}")
        bad |= rank[sev] >= 3 and f["id"] not in cert_only
if not any(f.get("id") == "scanTime" for f in found):
    sys.exit("testssl did not finish (no scanTime): see the text output")
print("  nothing rated HIGH or CRITICAL but the test certificate's" if not bad else "  HIGH or CRITICAL findings: see above")
sys.exit(1 if bad else 0)
PY
done
exit $status
