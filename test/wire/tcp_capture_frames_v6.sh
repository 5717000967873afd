#!/bin/bash
# IPv6 part: Linux TCP + UDP between tcpca (2001:db8:1::1) and tcpcb (2001:db8:1::2).
set -u
D=${D:-/tmp/tcpc/cap}
cleanup() { ip netns del tcpca 2>/dev/null; ip netns del tcpcb 2>/dev/null; }
trap cleanup EXIT
cleanup
ip netns add tcpca && ip netns add tcpcb
ip link add tcpcva netns tcpca address 02:00:00:00:01:01 type veth peer name tcpcvb netns tcpcb address 02:00:00:00:01:02
ip -n tcpca addr add 2001:db8:1::1/64 dev tcpcva nodad
ip -n tcpcb addr add 2001:db8:1::2/64 dev tcpcvb nodad
ip -n tcpca link set tcpcva up; ip -n tcpca link set lo up
ip -n tcpcb link set tcpcvb up; ip -n tcpcb link set lo up
ip netns exec tcpca ethtool -K tcpcva tx off rx off gso off tso off gro off >/dev/null 2>&1
ip netns exec tcpcb ethtool -K tcpcvb tx off rx off gso off tso off gro off >/dev/null 2>&1
sleep 1
ip netns exec tcpca tshark -q -i tcpcva -w $D/tcp6.pcap -f "tcp or udp" >/dev/null 2>&1 &
TS=$!
sleep 2
ip netns exec tcpcb /usr/bin/python3 - <<'PY' &
import socket
s=socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(('2001:db8:1::2',5001)); s.listen(4)
u=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(('2001:db8:1::2',5002))
c,_=s.accept(); d=c.recv(1000); c.sendall(b'echo:'+d); c.close()
print('udp', u.recvfrom(100))
PY
SRV=$!
sleep 1
ip netns exec tcpca /usr/bin/python3 - <<'PY'
import socket
c=socket.create_connection(('2001:db8:1::2',5001)); c.sendall(b'hello over ipv6'); print(c.recv(100)); c.close()
u=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.sendto(b'udp6 payload', ('2001:db8:1::2',5002))
PY
sleep 2
kill $SRV 2>/dev/null
kill $TS; wait $TS 2>/dev/null
tshark -r $D/tcp6.pcap 2>/dev/null
