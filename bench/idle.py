#!/usr/bin/env python3
"""idle.py -- server memory per idle connection: opens N connections that
never send anything (from several 127.x.y.1 source addresses, so 100,000 do
not run out of ports), and reports the growth of the server's resident
memory (the process and its children) divided by N.  Beyond what one
process may hold open (RLIMIT_NOFILE), the connections are spread over
several client processes.  With "tls" each connection first completes a
TLS handshake (the certificate is not checked: the cost measured is the
server's) and then stays silent.
   bench/idle.py PID PORT N [tls]"""
import os
import random
import resource
import socket
import ssl
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


def still_open(s):
    """True when the server holds the connection: nothing to read, no EOF."""
    if isinstance(s, ssl.SSLSocket):
        # A peek would see TLS 1.3's session tickets: read through TLS,
        # which takes them in and finds no application data.
        s.setblocking(False)
        try:
            s.recv(1)
            return False  # EOF, or the server said something
        except ssl.SSLWantReadError:
            return True
        except OSError:
            return False
    try:
        s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
        return False  # EOF, or the server said something (Redis's refusal)
    except BlockingIOError:
        return True
    except OSError:
        return False


def client(port, first, count, base, report, go, tls):
    """Child: open connections first..first+count (with tls, each handshaken),
    report how many the server still holds after 2 s, wait for the word to
    close them."""
    socks = []
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for i in range(first, first + count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, unique per
        # destination, so earlier runs' TIME_WAITs do not get in the way.
        s.setsockopt(socket.IPPROTO_IP, 24, 1)
        s.bind((f"127.{base}.{i // 5000}.1", 0))
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", port))
            if ctx:
                s = ctx.wrap_socket(s)  # the whole handshake, blocking
        except OSError:
            s.close()
            continue
        s.settimeout(None)  # blocking again: MSG_DONTWAIT then answers at once
        socks.append(s)
    os.write(report, b"opened\n")
    os.read(go, 1)  # the parent says when to check (after everyone opened)
    held = sum(still_open(s) for s in socks)
    os.write(report, f"{held}\n".encode())
    os.read(go, 1)
    for s in socks:
        s.close()


def main():
    pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    tls = sys.argv[4:] == ["tls"]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Handshakes cost the client too: several processes share them.
    per_proc = max(1, min(n, hard - 100, 2500 if tls else n))
    time.sleep(0.5)
    before = rss_kib(pid)
    # A fresh range of source addresses each run (127.B.C.1, 5000 per
    # address): TIME_WAITs of earlier runs cannot exhaust the ports.
    base = random.randint(10, 250)
    kids = []
    for first in range(0, n, per_proc):
        report_r, report_w = os.pipe()
        go_r, go_w = os.pipe()
        kid = os.fork()
        if kid == 0:
            os.close(report_r)
            os.close(go_w)
            client(port, first, min(per_proc, n - first), base, report_w, go_r, tls)
            os._exit(0)
        os.close(report_w)
        os.close(go_r)
        kids.append((kid, os.fdopen(report_r), go_w))
    t0 = time.monotonic()
    for _, rep, _ in kids:
        rep.readline()
    opened = time.monotonic() - t0
    time.sleep(2)
    after = rss_kib(pid)
    # Only connections the server really holds count: a server that refused
    # or closed some (a connection limit; Redis's protected mode, which
    # turns away 127.x.y.z sources other than 127.0.0.1 with an error) would
    # otherwise look cheap.
    held = 0
    for _, rep, go in kids:
        os.write(go, b"c")
        held += int(rep.readline())
    per = (after - before) * 1024 / n
    print(f"{n} idle {'TLS ' if tls else ''}connections ({held} held open by the server, {len(kids)} client processes): "
          f"server RSS {before} KiB -> {after} KiB, {per:.0f} bytes per connection (opened in {opened:.1f} s)")
    for kid, _, go in kids:
        os.write(go, b"x")
        os.waitpid(kid, 0)
    if held != n:
        print(f"idle.py: the server closed or refused {n - held} of {n} connections: the figure is not valid",
              file=sys.stderr)
        sys.exit(1)


main()
