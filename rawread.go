//go:build linux && !race

package kubesvc

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Busy watches' sockets are read without waking the Go runtime's monitor.
//
// When every P is idle, sysmon (the runtime's monitor thread) sleeps until
// the next timer. The first system call a goroutine then makes through
// syscall.Syscall wakes it (runtime/proc.go: reentersyscall,
// entersyscallWakeSysmon), and a monitor woken by a system call starts
// over at its shortest period: it sleeps 20 µs at a time until every P is
// idle again. A readiness flip in a big headless service arrives alone (a
// slice every few milliseconds, each read in a burst of about 100 µs), so
// the read of each flip woke the monitor, and its futex wake and nanosleeps
// were 16 % of kubesvc's CPU per flip in `make bench`, more where context
// switches cost more (a paravirtualized machine: 8 of them a flip).
//
// The socket is non-blocking, as every socket of the net package is: a
// read returns at once, with data or EAGAIN. The runtime's entersyscall
// exists for calls that may block (it lets another thread take the P
// while the call lasts), so a read of a non-blocking socket may skip it:
// rawReadConn reads with syscall.RawSyscall inside syscall.RawConn's Read,
// which waits through the network poller, as net.Conn's Read does, until
// the socket is readable, the connection is closed or the read deadline
// passes. The runtime reads its own descriptors so (netpoll's eventfd).
// Everything but Read is the TCP connection's.
//
// Linux only (rawread_other.go elsewhere), and not in race-detector builds:
// RawSyscall skips the detector's record of the write into the buffer
// that syscall.Read makes.

// rawReadConn is a TCP connection whose Read bypasses entersyscall.
type rawReadConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

// rawReads wraps conn's reads if it is a TCP connection; any other
// connection is returned as it is.
func rawReads(conn net.Conn) net.Conn {
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return conn
	}
	return &rawReadConn{TCPConn: tcp, raw: raw}
}

// Read reads up to len(p) bytes: io.EOF at the end of the stream, and a
// *net.OpError, as net.Conn's Read gives, for any other failure
// (os.ErrDeadlineExceeded, net.ErrClosed, or the system call's errno).
func (c *rawReadConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var (
		n     int
		errno syscall.Errno
	)
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case syscall.EINTR:
				continue // the poller is edge-triggered: waiting now could wait for data already here
			case syscall.EAGAIN:
				return false // nothing yet: wait until the socket is readable
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, c.opError(err)
	case errno != 0:
		return 0, c.opError(os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawReadConn) opError(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
