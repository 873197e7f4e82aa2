#!/usr/bin/env bash
# soak.sh -- every module under mixed load for SECONDS (default 600): echo,
# http, broadcast, chat, udp and file downloads at once, with netcore-bench;
# samples the workers' RSS, their open descriptors and the error counters
# every 5 s; fails when a load reports any error, when a datagram sent is
# not in the records file, or when RSS or descriptors in the last third of
# the run exceed the first third's by more than 20%.
#   bench/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
out=/tmp/netcore-soak; rm -rf "$out"; mkdir -p "$out/files"
head -c 1048576 /dev/urandom > "$out/files/1m.bin"
user=""; [ "$(id -u)" = 0 ] && user='"user": "root",'
cat > "$out/soak.json" <<JSON
{ $user "log": { "level": "warn" },
  "listeners": [
    { "name": "echo", "module": "echo", "listen": "127.0.0.1:17501" },
    { "name": "chat", "module": "chat", "listen": "127.0.0.1:17502" },
    { "name": "room", "module": "broadcast-chat", "listen": "127.0.0.1:17503" },
    { "name": "web", "module": "http-static", "listen": "127.0.0.1:17504",
      "options": { "root": "$PWD/conf/www" } },
    { "name": "files", "module": "file-transfer", "listen": "127.0.0.1:17505",
      "options": { "root": "$out/files", "read_only": true } },
    { "name": "udp", "module": "udp-receiver", "listen": "127.0.0.1:17506", "transport": "udp",
      "options": { "output": "$out/udp.log", "rcvbuf": 4194304 } },
    { "name": "status", "module": "status", "listen": "127.0.0.1:17509" } ] }
JSON
build/netcore -c "$out/soak.json" 2> "$out/netcore.log" & master=$!
sleep 1
b="build/netcore-bench"; common=(-d "$secs" -w 0 -r 1 --json -q --timeout 30)
$b echo -c 20 "${common[@]}" 127.0.0.1:17501 > "$out/echo.json" &
$b http --path /index.html -c 20 "${common[@]}" 127.0.0.1:17504 > "$out/http.json" &
$b broadcast --subscribers 50 --window 256 "${common[@]}" 127.0.0.1:17503 > "$out/broadcast.json" &
$b chat -c 10 "${common[@]}" 127.0.0.1:17502 > "$out/chat.json" &
$b udp --rate 20000 "${common[@]}" 127.0.0.1:17506 > "$out/udp.json" &
$b file --name 1m.bin -c 2 "${common[@]}" 127.0.0.1:17505 > "$out/file.json" &
echo "time_s rss_kib fds errors" > "$out/samples.txt"
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt "$secs" ]; do
    sleep 5
    rss=0; fds=0
    for p in $(pgrep -P $master); do
        rss=$(( rss + $(awk '/VmRSS/ {print $2}' /proc/$p/status) ))
        fds=$(( fds + $(ls /proc/$p/fd | wc -l) ))
    done
    errs=$(curl -s http://127.0.0.1:17509/status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(l["errors"] for l in d["listeners"].values()))')
    echo "$(( $(date +%s) - start )) $rss $fds $errs" >> "$out/samples.txt"
done
wait $(jobs -p | grep -v "^$master$") 2>/dev/null || true
kill $master; wait $master || true
python3 - "$out" <<'PY'
import json, sys, glob, statistics
out = sys.argv[1]
ok = True
for f in sorted(glob.glob(out + "/*.json")):
    if f.endswith("soak.json"):
        continue
    t = json.load(open(f))["targets"][0]
    print(f"{f.split('/')[-1][:-5]:10s} rate {t['rate']:>12.0f}/s  errors {t['errors']}")
    ok &= t["errors"] == 0
rows = [list(map(int, l.split())) for l in open(out + "/samples.txt").readlines()[1:]]
third = max(1, len(rows) // 3)
for col, name in ((1, "RSS KiB"), (2, "descriptors")):
    first = statistics.median(r[col] for r in rows[:third])
    last = statistics.median(r[col] for r in rows[-third:])
    grew = last > first * 1.2 + 1024 * (col == 1)
    print(f"{name}: first third {first:.0f}, last third {last:.0f}{'  GROWS' if grew else ''}")
    ok &= not grew
print(f"netcore-side errors at the end: {rows[-1][3]}")
# Every datagram sent must be in the records file: UDP loses silently, so
# this is counted, not taken from the sender's error count.
sent = json.load(open(out + "/udp.json"))["targets"][0]["sent"]
recorded = sum(1 for _ in open(out + "/udp.log", "rb"))
drops = 0
for line in open(out + "/netcore.log"):
    if "the kernel dropped" in line:
        drops = int(line.rsplit(";", 1)[1].split()[0])
print(f"udp: sent {sent}, recorded {recorded}, dropped by the kernel {drops}{'' if sent == recorded else '  LOST'}")
ok &= sent == recorded
print("soak:", "passed" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
