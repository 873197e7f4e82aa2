#!/usr/bin/env bash
# udp.sh -- udp-receiver (recording every datagram to a file) beside the
# reference recvmmsg receiver bench/ref/udp_recv.c (which only counts), with
# netcore-bench's udp sender, in alternating rounds: each round runs the
# reference, then netcore once per mode.  Prints one line per round and the
# medians.
#   bench/udp.sh [SIZE] [ROUNDS] [SECONDS]      (defaults 64 3 4)
# MODES="direct buffered" (the default) picks the output modes: direct_io
# true, and the page cache with write-behind.  RECORDS=DIR puts the records
# file in DIR (default /tmp/netcore-bench-udp, on the root file system).
# WRITEBACK=N sets writeback_bytes for the buffered mode (0: off).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-64}; rounds=${2:-3}; secs=${3:-4}
modes=${MODES:-direct buffered}
ninja bench > /dev/null
out=/tmp/netcore-bench-udp; mkdir -p "$out"
rec=${RECORDS:-$out}/records.log
user=""; [ "$(id -u)" = 0 ] && user='"user": "root",'
for m in $modes; do
  direct=false; [ "$m" = direct ] && direct=true
  cat > "$out/$m.json" <<JSON
{ $user "log": { "level": "info" },
  "listeners": [ { "name": "udp", "module": "udp-receiver", "listen": "127.0.0.1:17101",
                   "transport": "udp",
                   "options": { "output": "$rec", "rcvbuf": 4194304, "direct_io": $direct,
                                "writeback_bytes": ${WRITEBACK:-16777216} } } ] }
JSON
done
# CPU ticks of netcore ($np) and its children (the worker and its threads)
cpu() { local t=0 p; for p in $np $(ps --ppid $np -o pid=); do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
declare -A rates cpus
for r in $(seq "$rounds"); do
  # reference: counts for secs+2 seconds, we send for secs
  build/bench/udp_recv -p 17100 -m mmsg -b 64 -t $((secs + 2)) -r 4194304 > "$out/ref.txt" &
  rp=$!; sleep 0.3
  build/netcore-bench udp -s "$size" -d "$secs" -w 0 -r 1 -q 127.0.0.1:17100 > /dev/null
  wait $rp
  ref=$(grep -o 'recv_per_s=[0-9]*' "$out/ref.txt" | cut -d= -f2)
  refcpu=$(grep -o 'cpu_ns_per_dgram=[0-9]*' "$out/ref.txt" | cut -d= -f2)
  rates[ref]+="$ref "; cpus[ref]+="$refcpu "
  line="round $r: udp_recv ${ref}/s (${refcpu} ns)"
  for m in $modes; do
    # netcore: records written to a file; rate over the first-to-last record window
    rm -f "$rec"
    build/netcore -c "$out/$m.json" 2> "$out/netcore.err" & np=$!; sleep 0.3
    t0=$(cpu)
    build/netcore-bench udp -s "$size" -d "$secs" -w 0 -r 1 -q 127.0.0.1:17101 > /dev/null
    sleep 0.3
    t1=$(cpu)
    kill $np; wait $np
    n=$(wc -l < "$rec")
    lost=$(grep -o '[0-9]* records lost' "$out/netcore.err" | cut -d' ' -f1)
    first=$(head -1 "$rec" | cut -c10-35); last=$(tail -1 "$rec" | cut -c10-35)
    rate=$(python3 -c "import datetime as d; f=lambda s: d.datetime.strptime(s,'%Y-%m-%dT%H:%M:%S.%f'); print(int($n/(f('$last')-f('$first')).total_seconds()))")
    cpu_ns=$(python3 -c "print(int(($t1-$t0)*1e9/$(getconf CLK_TCK)/$n))")
    rates[$m]+="$rate "; cpus[$m]+="$cpu_ns "
    line+="   $m ${rate}/s (${cpu_ns} ns, $n records, $lost lost)"
    rm -f "$rec"
  done
  echo "$line"
done
args=(); for m in ref $modes; do args+=("$m" "${rates[$m]}" "${cpus[$m]}"); done
python3 - "$size" "${args[@]}" <<'PY'
import statistics, sys
size, rest = sys.argv[1], sys.argv[2:]
med = {}
for i in range(0, len(rest), 3):
    med[rest[i]] = (statistics.median(map(int, rest[i + 1].split())), statistics.median(map(int, rest[i + 2].split())))
ref = med['ref'][0]
print(f"{size} B: median udp_recv {ref:.0f}/s ({med['ref'][1]:.0f} ns/dgram)")
for m, (rate, cpu) in med.items():
    if m != 'ref':
        print(f"  netcore {m}: {rate:.0f}/s, ratio {rate / ref:.2f}, {cpu:.0f} ns of CPU per record")
PY
