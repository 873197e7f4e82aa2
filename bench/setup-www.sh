#!/usr/bin/env bash
# setup-www.sh -- the files the static-HTTP and file comparisons serve, in
# /tmp/netcore-anchors/www, the root of bench/conf's netcore, nginx,
# lighttpd and h2o configs (with run/, logs/ and tmp/ beside it for their
# pid files, logs and temporary files).  Each file is made once.
#   bench/setup-www.sh           1k.bin, 1m.bin, index.html
#   bench/setup-www.sh 1g        ... and 1g.bin (1 GiB), for bench/file.json
set -euo pipefail
d=/tmp/netcore-anchors
mkdir -p "$d/www" "$d/run" "$d/logs" "$d/tmp"
chmod 755 "$d" "$d/www" # servers that drop to nobody (h2o, nginx's workers) read it
mkfile() { # NAME BYTES
    [ "$(stat -c %s "$d/www/$1" 2>/dev/null || echo 0)" = "$2" ] && return
    head -c "$2" /dev/urandom > "$d/www/$1.tmp"
    mv "$d/www/$1.tmp" "$d/www/$1"
}
mkfile 1k.bin 1024
mkfile 1m.bin 1048576
[ "${1:-}" = 1g ] && mkfile 1g.bin 1073741824
[ -s "$d/www/index.html" ] || cp "$(dirname "$0")/../conf/www/index.html" "$d/www/index.html"
chmod 644 "$d/www"/*
