#!/usr/bin/env bash
# setup-www.sh -- the files the static-HTTP comparisons serve, in the folder
# the reference nginx/lighttpd configs of ../shared/bench use as their root.
set -euo pipefail
d=/tmp/netcore-anchors
mkdir -p "$d/www" "$d/run" "$d/logs" "$d/tmp"
[ -s "$d/www/1k.bin" ] || head -c 1024 /dev/urandom > "$d/www/1k.bin"
[ -s "$d/www/1m.bin" ] || head -c 1048576 /dev/urandom > "$d/www/1m.bin"
[ -s "$d/www/1g.bin" ] || head -c 1073741824 /dev/urandom > "$d/www/1g.bin"
[ -s "$d/www/index.html" ] || cp "$(dirname "$0")/../conf/www/index.html" "$d/www/index.html"
