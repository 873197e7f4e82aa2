#!/usr/bin/env bash
# idle.sh -- memory per idle connection, netcore beside Redis, nginx and a
# libuv echo server: a fresh server process for every measurement
# (bench/idle.py: N connections that never send; growth of the server's
# resident memory, its children included, over N), in alternating rounds,
# then the medians.
#   bench/idle.sh [N] [ROUNDS]        (defaults 10000 3)
#   bench/idle.sh --tls [N] [ROUNDS]  netcore and nginx, each plain and over TLS
#                                     (handshake done, then silent; bench/tls-setup.sh's
#                                     P-256 certificate, bench/conf/nginx-tls.conf)
# Beyond what one process may hold open (RLIMIT_NOFILE, 20,000 on the test
# machines), netcore runs with enough workers to share N (global
# max_connections is split between them) and the others are left out: Redis
# is one process, bench/conf/nginx-1w.conf caps a worker at 20,000.
set -euo pipefail
cd "$(dirname "$0")/.."
tls=0; [ "${1:-}" = --tls ] && { tls=1; shift; }
n=${1:-10000}; rounds=${2:-3}
ref=build/bench
ninja bench > /dev/null
out=/tmp/netcore-bench-idle; mkdir -p "$out" /tmp/netcore-anchors/{www,run,logs,tmp}
user=""; [ "$(id -u)" = 0 ] && user='"user": "root",'
limit=$(ulimit -Hn); workers=1; others=1
if [ "$n" -gt $((limit - 1000)) ]; then
    [ $tls = 1 ] && { echo "idle.sh: --tls measures at most $((limit - 1000)) connections" >&2; exit 2; }
    workers=$(( (n + limit - 2001) / (limit - 2000) + 1 )); others=0
fi
echoconf() { # [TLS-OBJECT]: an echo listener on 127.0.0.1:17300 for N
    cat <<JSON
{ $user "log": { "level": "warn" }, "workers": $workers, "max_connections": $((n + 1000)),
  "listeners": [ { "name": "echo", "module": "echo", "listen": "127.0.0.1:17300",
                   ${1:+\"tls\": $1,} "max_connections": $((n + 1000)) } ] }
JSON
}
echoconf > "$out/echo.json"
if [ $tls = 1 ]; then
    bench/tls-setup.sh
    echoconf '{ "cert": "/tmp/netcore-anchors/tls/ec-cert.pem", "key": "/tmp/netcore-anchors/tls/ec-key.pem" }' \
        > "$out/echo-tls.json"
fi

measure() { # NAME PORT [tls] COMMAND...
    local name=$1 port=$2 mode=""; shift 2
    [ "$1" = tls ] && { mode=tls; shift; }
    "$@" > "$out/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do
        ss -ltnH "sport = :$port" | grep -q . && break
        sleep 0.1
    done
    local line
    line=$(python3 bench/idle.py "$pid" "$port" "$n" $mode) || { kill "$pid"; wait "$pid" || true; exit 1; }
    kill "$pid"; wait "$pid" || true
    echo "$name: $line"
}

results=()
for r in $(seq "$rounds"); do
    if [ $tls = 1 ]; then
        results+=("$(measure netcore 17300 build/netcore -c "$out/echo.json")")
        results+=("$(measure netcore-tls 17300 tls build/netcore -c "$out/echo-tls.json")")
        results+=("$(measure nginx 18081 nginx -p /tmp/netcore-anchors/ -c "$PWD/bench/conf/nginx-1w.conf")")
        results+=("$(measure nginx-tls 18451 tls nginx -p /tmp/netcore-anchors/ -c "$PWD/bench/conf/nginx-tls.conf")")
        printf '%s\n' "${results[@]: -4}"
        continue
    fi
    results+=("$(measure netcore 17300 build/netcore -c "$out/echo.json")")
    if [ $others = 0 ]; then echo "${results[-1]}"; continue; fi
    results+=("$(measure redis 16379 redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no \
                 --dir /tmp --maxclients $((n + 1000)) --protected-mode no)")
    results+=("$(measure nginx 18081 nginx -p /tmp/netcore-anchors/ -c "$PWD/bench/conf/nginx-1w.conf")")
    results+=("$(measure uv_echo 17002 $ref/uv_echo -p 17002)")
    printf '%s\n' "${results[@]: -4}"
done
printf '%s\n' "${results[@]}" | python3 -c '
import re, statistics, sys
per = {}
for line in sys.stdin:
    name = line.split(":")[0]
    per.setdefault(name, []).append(int(re.search(r"(-?\d+) bytes per connection", line).group(1)))
nc = statistics.median(per["netcore"])
for name, v in per.items():
    m = statistics.median(v)
    print(f"{name:10} median {m:6.0f} B per idle connection  (runs: {v})  netcore/{name}: {nc / m:.2f}")
'
