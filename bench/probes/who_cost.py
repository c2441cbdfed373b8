#!/usr/bin/env python3
# Server CPU per WHO with an expensive glob against N users with 400-byte real names.
# usage: [MASK=...] who_cost.py SERVER_BINARY N
# Loopback only; every loop is bounded; the server is stopped at the end.
import socket, subprocess, sys, time, os, tempfile
socket.setdefaulttimeout(20)  # no read waits for ever
BIN=sys.argv[1]; N=int(sys.argv[2])
d=tempfile.mkdtemp(); port=18000+os.getpid()%2000
open(d+'/c.toml','w').write(f'''data_dir = "{d}"
[[listeners]]
address = "127.0.0.1:{port}"
[flood]
enabled = false
''')
p=subprocess.Popen([BIN,'--config',d+'/c.toml'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
def cpu():
    f=open(f'/proc/{p.pid}/stat').read().split(')')[1].split()
    return (int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK')
for _ in range(100):
    try: socket.create_connection(('127.0.0.1',port)).close(); break
    except OSError: time.sleep(0.05)
def reg(nick, real):
    s=socket.socket(); s.connect(('127.0.0.1',port))
    s.sendall(f'NICK {nick}\r\nUSER {nick} 0 * :{real}\r\n'.encode()); buf=b''
    while b' 376 ' not in buf and b' 422 ' not in buf: buf+=s.recv(65536)
    return s
cs=[reg(f'u{i}','a'*400) for i in range(N)]
q=reg('q','q')
mask=os.environ.get('MASK','*'+'a'*240+'b')
c0=cpu(); t0=time.time()
for _ in range(20):
    q.sendall(f'WHO {mask}\r\n'.encode()); buf=b''
    while b' 315 ' not in buf: buf+=q.recv(65536)
c1=cpu()
print(f'{(c1-c0)/20*1000:.2f} ms server CPU per WHO, {(time.time()-t0)/20*1000:.2f} ms wall')
p.terminate(); p.wait()
