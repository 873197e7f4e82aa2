#!/usr/bin/env python3
"""idle.py -- server memory per idle connection: opens N connections that
never send anything (from several 127.0.0.x source addresses, so 100,000 do
not run out of ports), and reports the growth of the server's resident
memory (the process and its children) divided by N.
   bench/idle.py PID PORT N"""
import os
import socket
import sys
import time


def rss_kib(pid):
    total = 0
    pids = [pid] + [int(p) for p in os.listdir("/proc") if p.isdigit() and ppid(int(p)) == pid]
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def ppid(p):
    try:
        return int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def main():
    pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    time.sleep(0.5)
    before = rss_kib(pid)
    socks = []
    # A fresh range of source addresses each run (127.B.C.1, 5000 per
    # address): TIME_WAITs of earlier runs cannot exhaust the ports.
    import random
    base = random.randint(10, 250)
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, unique per
        # destination, so earlier runs' TIME_WAITs do not get in the way.
        s.setsockopt(socket.IPPROTO_IP, 24, 1)
        s.bind((f"127.{base}.{i // 5000}.1", 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    time.sleep(2)
    after = rss_kib(pid)
    per = (after - before) * 1024 / n
    print(f"{n} idle connections: server RSS {before} KiB -> {after} KiB, {per:.0f} bytes per connection")
    for s in socks:
        s.close()


main()
