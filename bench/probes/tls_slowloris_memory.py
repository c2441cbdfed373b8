#!/usr/bin/env python3
# Memory after a TLS slowloris: N connections each send a TLS record header announcing a 16 KiB
# ClientHello and 211 bytes of it; all close after 5 s; RSS 6 s later against the start.
# usage: tls_slowloris_memory.py SERVER_BINARY N
# Loopback only; every loop is bounded; the server is stopped at the end.
import socket, subprocess, sys, time, os, tempfile
socket.setdefaulttimeout(20)  # no read waits for ever
BIN=sys.argv[1]; N=int(sys.argv[2])
d=tempfile.mkdtemp(); port=17000+os.getpid()%2000
open(d+'/c.toml','w').write(f'''data_dir = "{d}"
[[listeners]]
address = "127.0.0.1:{port}"
tls = true
[limits]
max_clients = 20000
[tls]
handshake_timeout_secs = 3
''')
p=subprocess.Popen([BIN,'--config',d+'/c.toml'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
def rss():
    for l in open(f'/proc/{p.pid}/status'):
        if l.startswith('VmRSS'): return int(l.split()[1])
for _ in range(100):
    try: socket.create_connection(('127.0.0.1',port)).close(); break
    except OSError: time.sleep(0.05)
time.sleep(0.5); base=rss()
# A TLS record header claiming 16 KiB of handshake, then a little of it.
hello=bytes([0x16,0x03,0x01,0x40,0x00,0x01,0x00,0x3f,0xfc,0x03,0x03])+os.urandom(200)
cs=[]
for i in range(N):
    s=socket.socket(); s.connect(('127.0.0.1',port)); s.sendall(hello); cs.append(s)
peak=0; t=time.time()
while time.time()-t<5: peak=max(peak,rss()); time.sleep(0.2)
for s in cs: s.close()
time.sleep(6); after=rss()
print(f'base {base} KiB peak {peak} KiB after {after} KiB ratio {after/base:.2f}')
p.terminate(); p.wait()
