#!/usr/bin/env python3
# A user's wait while the server works: registers on PORT, waits (at most 120 s) until a channel
# has MEMBERS users if MEMBERS is given (LIST every half second), says "pinging" on stderr, then
# sends a PING every 2 ms and waits for its PONG, for SECONDS; prints the round trips' p50 / p99
# / p99.9 / max and when the worst came (and the channel's users then, with MEMBERS).
# usage: ping_rtt.py PORT SECONDS [MEMBERS]
# Loopback only; every loop bounded (and a 5 s timeout on every read).
import re, socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
members = int(sys.argv[3]) if len(sys.argv) > 3 else 0
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(5)
s.sendall(b"NICK sonda\r\nUSER sonda 0 * :sonda\r\n")
buf = b""
while b" 001 " not in buf:
    buf += s.recv(65536)


def biggest():
    """The most users in one channel (LIST)."""
    s.sendall(b"LIST\r\n")
    got = b""
    while b" 323 " not in got:
        got += s.recv(65536)
    return max((int(n) for n in re.findall(rb" 322 \S+ \S+ (\d+)", got)), default=0)


until = time.time() + 120
while members and time.time() < until and biggest() < members:
    time.sleep(0.5)
print("pinging", file=sys.stderr, flush=True)
rtts, end, i = [], time.time() + secs, 0
while time.time() < end:
    i += 1
    t0 = time.perf_counter()
    s.sendall(b"PING :%d\r\n" % i)
    buf = b""
    while b" :%d\r\n" % i not in buf:
        buf += s.recv(65536)
    rtts.append(((time.perf_counter() - t0) * 1000, time.time()))
    time.sleep(0.002)
v = sorted(r for r, _ in rtts)
worst = max(rtts)
print("pings %d p50 %.2f p99 %.2f p99.9 %.2f max %.1f ms (at %s UTC)" % (
    len(v), v[len(v) // 2], v[int(len(v) * .99)], v[int(len(v) * .999)], worst[0],
    time.strftime("%H:%M:%S", time.gmtime(worst[1]))))
if members:
    print("the channel's users at the end: %d" % biggest())
