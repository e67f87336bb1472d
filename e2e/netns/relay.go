package netns

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// relayEnv, set to "1" in a process's environment, turns any binary that
// imports this package (the e2e test binary) into the relay: its init runs
// relayMain instead of the program. Start runs it that way inside the
// namespace, so no helper binary has to be built or installed.
const relayEnv = "KUBESVC_NETNS_RELAY"

func init() {
	if os.Getenv(relayEnv) == "1" {
		os.Exit(relayMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

// relayMain serves every "LISTEN=TARGET" argument, each side "tcp:HOST:PORT"
// or "unix:PATH": it listens on LISTEN and pipes each connection to a new
// connection to TARGET. It prints "ready" once every listener is up, and
// returns when stdin ends (its parent closed the pipe or died).
func relayMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var fwds []*forwarder
	defer func() {
		for _, f := range fwds {
			f.Close()
		}
	}()
	for _, a := range args {
		l, t, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "relay: %q is not LISTEN=TARGET\n", a)
			return 2
		}
		ln, err := listen(l)
		if err != nil {
			fmt.Fprintf(stderr, "relay: %v\n", err)
			return 1
		}
		target := t
		fwds = append(fwds, serve(ln, func() (net.Conn, error) { return dial(target) }))
	}
	fmt.Fprintln(stdout, "ready")
	_, _ = io.Copy(io.Discard, bufio.NewReader(stdin))
	return 0
}

// splitEndpoint splits "tcp:ADDR" or "unix:PATH".
func splitEndpoint(ep string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(ep, ":")
	if !ok || (network != "tcp" && network != "unix") || addr == "" {
		return "", "", fmt.Errorf("endpoint %q: want tcp:HOST:PORT or unix:PATH", ep)
	}
	return network, addr, nil
}

func listen(ep string) (net.Listener, error) {
	network, addr, err := splitEndpoint(ep)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		_ = os.Remove(addr)
	}
	return net.Listen(network, addr)
}

func dial(ep string) (net.Conn, error) {
	network, addr, err := splitEndpoint(ep)
	if err != nil {
		return nil, err
	}
	return net.DialTimeout(network, addr, 5*time.Second)
}

// forwarder pipes the connections a listener accepts to new connections
// made by dial.
type forwarder struct {
	ln   net.Listener
	dial func() (net.Conn, error)

	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool
	wg    sync.WaitGroup
}

func serve(ln net.Listener, dial func() (net.Conn, error)) *forwarder {
	f := &forwarder{ln: ln, dial: dial, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed
			}
			if !f.track(c) {
				c.Close()
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer f.forget(c)
				up, err := f.dial()
				if err != nil {
					return
				}
				if !f.track(up) {
					up.Close()
					return
				}
				defer f.forget(up)
				var pipes sync.WaitGroup
				pipes.Add(2)
				go func() { defer pipes.Done(); pipe(up, c) }()
				go func() { defer pipes.Done(); pipe(c, up) }()
				pipes.Wait()
			}()
		}
	}()
	return f
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return false
	}
	f.conns[c] = true
	return true
}

func (f *forwarder) forget(c net.Conn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// Close stops accepting, closes every connection and waits for the pipes.
func (f *forwarder) Close() {
	f.mu.Lock()
	f.done = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	f.wg.Wait()
}
