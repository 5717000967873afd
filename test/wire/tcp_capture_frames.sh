#!/bin/bash
# Captures Linux TCP/UDP frames between namespaces tcpca (198.18.1.1) and tcpcb (198.18.1.2).
set -u
D=/tmp/tcpc/cap
cleanup() { ip netns del tcpca 2>/dev/null; ip netns del tcpcb 2>/dev/null; }
trap cleanup EXIT
cleanup
ip netns add tcpca && ip netns add tcpcb
ip link add tcpcva netns tcpca address 02:00:00:00:01:01 type veth peer name tcpcvb netns tcpcb address 02:00:00:00:01:02
ip -n tcpca addr add 198.18.1.1/24 dev tcpcva
ip -n tcpcb addr add 198.18.1.2/24 dev tcpcvb
ip -n tcpca link set tcpcva up; ip -n tcpca link set lo up
ip -n tcpcb link set tcpcvb up; ip -n tcpcb link set lo up
# Scapy's fake client 198.18.1.3 lives behind tcpcva; tcpca's kernel drops its traffic silently.
ip -n tcpcb neigh add 198.18.1.3 lladdr 02:00:00:00:01:01 dev tcpcvb
ip netns exec tcpca ethtool -K tcpcva tx off rx off gso off tso off gro off >/dev/null 2>&1
ip netns exec tcpcb ethtool -K tcpcvb tx off rx off gso off tso off gro off >/dev/null 2>&1
sleep 1
ip netns exec tcpca tshark -q -i tcpcva -w $D/tcp.pcap -f "tcp or udp" >/dev/null 2>&1 &
TS=$!
sleep 2
ip netns exec tcpcb /usr/bin/python3 - <<'PY' &
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(('198.18.1.2',5001)); s.listen(4)
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('198.18.1.2',5002))
for i in range(2):
    c,_=s.accept(); d=c.recv(1000)
    if i==0: c.sendall(b'echo:'+d)
    else:
        import time; time.sleep(3)
    c.close()
print('udp', u.recvfrom(100))
PY
SRV=$!
sleep 1
ip netns exec tcpca /usr/bin/python3 - <<'PY'
import socket,time
c=socket.create_connection(('198.18.1.2',5001)); c.sendall(b'hello shardtcp'); print(c.recv(100)); c.close()
time.sleep(0.5)
try:
    socket.create_connection(('198.18.1.2',5999), timeout=2)
except Exception as e: print('rst', e)
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b'udp payload!', ('198.18.1.2',5002))
PY
# SACK: fake client sends segment 2 before segment 1 so Linux answers with a SACK block.
ip netns exec tcpca /usr/bin/python3 - <<'PY'
from scapy.all import *
conf.verb=0
iface='tcpcva'
e=Ether(src='02:00:00:00:01:01', dst='02:00:00:00:01:02')
ip=IP(src='198.18.1.3', dst='198.18.1.2')
syn=TCP(sport=40000, dport=5001, flags='S', seq=1000, window=64240,
        options=[('MSS',1460),('SAckOK',b''),('Timestamp',(111,0)),('NOP',None),('WScale',7)])
sa=srp1(e/ip/syn, iface=iface, timeout=3)
srv=sa[TCP].seq; tsv=sa[TCP].options
ts=[o for o in sa[TCP].options if o[0]=='Timestamp'][0][1][0]
ack=TCP(sport=40000, dport=5001, flags='A', seq=1001, ack=srv+1, window=502, options=[('NOP',None),('NOP',None),('Timestamp',(112,ts))])
sendp(e/ip/ack, iface=iface)
seg2=TCP(sport=40000, dport=5001, flags='PA', seq=1011, ack=srv+1, window=502, options=[('NOP',None),('NOP',None),('Timestamp',(113,ts))])
r=srp1(e/ip/seg2/Raw(b'BBBBBBBBBB'), iface=iface, timeout=3)
print('sack reply', r.summary() if r else None)
rst=TCP(sport=40000, dport=5001, flags='R', seq=1021)
sendp(e/ip/rst, iface=iface)
PY
sleep 4
kill $SRV 2>/dev/null
sleep 1
kill $TS; wait $TS 2>/dev/null
tshark -r $D/tcp.pcap 2>/dev/null

# The IPv6 frames come from tcp_capture_frames_v6.sh.
