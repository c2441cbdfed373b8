#!/usr/bin/env python3
# Memory of clients that ask for big replies and never read, and what is left after they go.
# usage: big_replies_memory.py SERVER_BINARY [NON_READERS=300] [CHANNELS=5000]
# Starts the binary on a loopback port with a temporary config, creates CHANNELS channels, then
# NON_READERS clients with a 4 KiB receive buffer each send LIST twice and never read; prints the
# server's RSS before, at the peak (KiB per non-reader) and 6 s after they all closed.
# Loopback only; every loop is bounded; the server is stopped at the end.
import socket, subprocess, sys, time, os, tempfile
socket.setdefaulttimeout(20)  # no read waits for ever
BIN=sys.argv[1]; N=int(sys.argv[2]) if len(sys.argv)>2 else 300; CH=int(sys.argv[3]) if len(sys.argv)>3 else 5000
d=tempfile.mkdtemp()
port=16000+os.getpid()%2000
open(d+'/c.toml','w').write(f'''data_dir = "{d}"
[[listeners]]
address = "127.0.0.1:{port}"
[limits]
max_channels_per_user = 6000
[flood]
enabled = false
''')
p=subprocess.Popen([BIN,'--config',d+'/c.toml'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
def rss():
    for l in open(f'/proc/{p.pid}/status'):
        if l.startswith('VmRSS'): return int(l.split()[1])
for _ in range(100):
    try: socket.create_connection(('127.0.0.1',port)).close(); break
    except OSError: time.sleep(0.05)
def reg(nick, rcvbuf=None):
    s=socket.socket()
    if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(('127.0.0.1',port))
    s.sendall(f'NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n'.encode())
    buf=b''
    while b' 376 ' not in buf and b' 422 ' not in buf: buf+=s.recv(65536)
    return s
o=reg('owner')
names=[f'#canal-{i:05}' for i in range(CH)]
for i in range(0,CH,30): o.sendall(('JOIN '+','.join(names[i:i+30])+'\r\n').encode())
o.sendall(b'PING :done\r\n'); buf=b''
while b'PONG' not in buf or b'done' not in buf[-200:]: buf=buf[-300:]+o.recv(1<<20)
time.sleep(1); base=rss(); print('base KiB',base)
cs=[]
for i in range(N):
    s=reg(f'n{i}',4096); s.sendall(b'LIST\r\nLIST\r\n'); cs.append(s)
peak=0; t=time.time()
while time.time()-t<5: peak=max(peak,rss()); time.sleep(0.2)
print('peak KiB',peak,'per non-reader KiB',(peak-base)/N)
for s in cs: s.close()
time.sleep(6); after=rss(); print('after KiB',after,'ratio',after/base)
o.close(); p.terminate(); p.wait()
