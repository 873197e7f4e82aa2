#!/usr/bin/env bash
# h2o.sh -- starts h2o with bench/conf/h2o.conf, the way bench/http.json
# needs it: in the foreground, replaced by h2o (exec) so that the pid
# netcore-bench stops is h2o's.  h2o refuses to run as root without a
# `user` line, and a non-root user cannot switch to one, so the config it
# gets is bench/conf/h2o.conf plus "user: root" when we are root (h2o
# opens its pid file after switching users).
#   bench/h2o.sh            (from anywhere; after bench/setup-www.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=/tmp/netcore-anchors/run
mkdir -p "$run" /tmp/netcore-anchors/logs
command -v h2o >/dev/null || { echo "h2o.sh: h2o is not installed (scripts/install-deps --bench, package h2o)" >&2; exit 127; }
conf=$run/h2o.conf
{ [ "$(id -u)" = 0 ] && echo "user: root"; cat "$here/conf/h2o.conf"; } > "$conf"
exec h2o -c "$conf"
