//go:build linux && !race

package kubesvc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// rawPair is a loopback TCP connection: the client's end dialled through
// rawReadDial, and the server's end.
func rawPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = rawReadDial(nil)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	if _, ok := client.(*rawReadConn); !ok {
		t.Fatalf("rawReadDial gave a %T, want a *rawReadConn", client)
	}
	return client, server
}

func TestRawReadsReadWhatWasSentThenEOF(t *testing.T) {
	client, server := rawPair(t)
	var sent bytes.Buffer
	var chunks [][]byte
	for i := range 64 { // writes of many sizes, some larger than the reader's buffer
		chunks = append(chunks, bytes.Repeat([]byte{byte(i)}, 1+i*997%20000))
		sent.Write(chunks[i])
	}
	go func() {
		for _, chunk := range chunks {
			if _, err := server.Write(chunk); err != nil {
				t.Error(err)
				return
			}
		}
		server.Close()
	}()
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := client.Read(buf)
		got.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got.Len(), err)
		}
	}
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatalf("read %d bytes, not the %d sent (first difference at %d)", got.Len(), sent.Len(), firstDiff(got.Bytes(), sent.Bytes()))
	}
	if n, err := client.Read(nil); n != 0 || err != nil {
		t.Errorf("an empty read gave %d, %v; want 0, nil", n, err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestRawReadsKeepDeadlinesAndClose(t *testing.T) {
	client, _ := rawPair(t)
	if err := client.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := client.Read(make([]byte, 10))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a read past its deadline gave %v (%T); want a net.Error that times out, os.ErrDeadlineExceeded", err, err)
	}
	if err := client.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := client.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // the read waits in the poller
	client.Close()
	select {
	case err := <-done:
		var op *net.OpError
		if !errors.Is(err, net.ErrClosed) || !errors.As(err, &op) || op.Op != "read" {
			t.Fatalf("a read on a connection closed meanwhile gave %v (%T); want a read *net.OpError of net.ErrClosed", err, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read went on after its connection was closed")
	}
}

func TestRawReadsGiveResetsAsSyscallErrors(t *testing.T) {
	client, server := rawPair(t)
	if err := server.(*net.TCPConn).SetLinger(0); err != nil { // close with a reset
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("unread")); err != nil { // unread data makes the close a reset too
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	server.Close()
	_, err := client.Read(make([]byte, 10))
	var sys *os.SyscallError
	if !errors.As(err, &sys) || sys.Syscall != "read" {
		t.Fatalf("a read of a reset connection gave %v (%T); want a read *os.SyscallError", err, err)
	}
}

func TestRawReadsLeaveOtherConnectionsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := rawReads(a); got != a {
		t.Errorf("rawReads of a %T gave a %T; want it as it was", a, got)
	}
}
