package vpcd

import (
	"net"
	"syscall"
)

// tcpQuickAck is TCP_QUICKACK from <netinet/tcp.h> (Linux).
const tcpQuickAck = 12

// quickAck asks the kernel to acknowledge vpcd's segments at once. vpcd
// sends a frame's length and its body in two writes; with Nagle's algorithm
// on its side and delayed ACKs on ours, every body would wait ~40 ms for the
// ACK of the length. Linux clears the flag again by itself, so it is set
// before every read. Errors are ignored: it only costs speed.
func quickAck(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpQuickAck, 1)
	})
}
