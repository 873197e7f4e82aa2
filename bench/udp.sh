#!/usr/bin/env bash
# udp.sh -- udp-receiver (recording every datagram to a file) beside the
# reference recvmmsg receiver of ../shared/bench (which only counts), with
# netcore-bench's udp sender, in alternating rounds.  Prints one line per
# run and the medians.
#   bench/udp.sh [SIZE] [ROUNDS] [SECONDS]      (defaults 64 3 4)
# RECORDS=DIR puts the records file in DIR (default /tmp/netcore-bench-udp,
# on the root file system) -- /dev/shm shows the cost without a disk file
# system's per-page work.  WRITEBACK=N sets the module's writeback_bytes
# (0 turns write-behind off).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-64}; rounds=${2:-3}; secs=${3:-4}
make -s -C ../shared/bench B=/tmp/netcore-ref
out=/tmp/netcore-bench-udp; mkdir -p "$out"
conf=$out/udp.json
rec=${RECORDS:-$out}/records.log
user=""; [ "$(id -u)" = 0 ] && user='"user": "root",'
cat > "$conf" <<JSON
{ $user "log": { "level": "warn" },
  "listeners": [ { "name": "udp", "module": "udp-receiver", "listen": "127.0.0.1:17101",
                   "transport": "udp",
                   "options": { "output": "$rec", "rcvbuf": 4194304,
                                "writeback_bytes": ${WRITEBACK:-16777216} } } ] }
JSON
# CPU ticks of netcore ($np) and its children: the worker does the receiving
cpu() { local t=0 p; for p in $np $(ps --ppid $np -o pid=); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
nc_rates=(); ref_rates=()
for r in $(seq "$rounds"); do
  # reference: counts for secs+2 seconds, we send for secs
  /tmp/netcore-ref/udp_recv -p 17100 -m mmsg -b 64 -t $((secs + 2)) -r 4194304 > "$out/ref.txt" &
  rp=$!; sleep 0.3
  build/netcore-bench udp -s "$size" -d "$secs" -w 0 -r 1 -q 127.0.0.1:17100 > /dev/null
  wait $rp
  ref=$(grep -o 'recv_per_s=[0-9]*' "$out/ref.txt" | cut -d= -f2)
  refcpu=$(grep -o 'cpu_ns_per_dgram=[0-9]*' "$out/ref.txt" | cut -d= -f2)
  # netcore: records written to a file; rate over the first-to-last record window
  rm -f "$rec"
  build/netcore -c "$conf" 2> "$out/netcore.err" & np=$!; sleep 0.3
  t0=$(cpu)
  build/netcore-bench udp -s "$size" -d "$secs" -w 0 -r 1 -q 127.0.0.1:17101 > /dev/null
  sleep 0.3
  t1=$(cpu)
  kill $np; wait $np
  n=$(wc -l < "$rec")
  first=$(head -1 "$rec" | cut -c10-35); last=$(tail -1 "$rec" | cut -c10-35)
  window=$(python3 -c "import datetime as d; f=lambda s: d.datetime.strptime(s,'%Y-%m-%dT%H:%M:%S.%f'); print((f('$last')-f('$first')).total_seconds())")
  rate=$(python3 -c "print(int($n/$window))")
  cpu_ns=$(python3 -c "print(int(($t1-$t0)*1e9/$(getconf CLK_TCK)/$n))")
  echo "round $r: udp_recv ${ref}/s (${refcpu} ns/dgram)   netcore+records ${rate}/s (${cpu_ns} ns/dgram, $n records)"
  nc_rates+=("$rate"); ref_rates+=("$ref")
  rm -f "$rec"
done
python3 - "${nc_rates[*]}" "${ref_rates[*]}" "$size" <<'PY'
import statistics, sys
nc = [int(x) for x in sys.argv[1].split()]; ref = [int(x) for x in sys.argv[2].split()]
m1, m2 = statistics.median(nc), statistics.median(ref)
print(f"{sys.argv[3]} B: median udp_recv {m2:.0f}/s, netcore recording {m1:.0f}/s, ratio {m1/m2:.2f}")
PY
