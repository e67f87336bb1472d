package cluster

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP forwarder on a loopback port. CoreDNS's kubeconfig points at
// it instead of at the API server, so a test can simulate an API outage with
// Cut (every connection dies, new ones are refused) and end it with Restore
// (same port again). TLS passes through untouched: the client still talks to
// the real API server, whose certificate is valid for 127.0.0.1.
type Proxy struct {
	dial func() (net.Conn, error)
	addr string // the listener's address, fixed for the proxy's life

	mu    sync.Mutex
	ln    net.Listener      // nil while cut
	conns map[net.Conn]bool // live connections, both sides; true: stalled
	wg    sync.WaitGroup    // accept loops and pipes
	done  bool
}

// NewProxy listens on 127.0.0.1:0 and forwards every connection to target
// (host:port).
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	return Forward(ln, func() (net.Conn, error) { return net.DialTimeout("tcp", target, 5*time.Second) }), nil
}

// Forward pipes every connection ln accepts to a new one from dial, until
// Close. Restore works only for TCP listeners.
func Forward(ln net.Listener, dial func() (net.Conn, error)) *Proxy {
	p := &Proxy{dial: dial, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// URL is the proxy's address as an https URL, for a kubeconfig.
func (p *Proxy) URL() string { return "https://" + p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed by Cut or Close
			}
			p.handle(c)
		}
	}()
}

func (p *Proxy) handle(c net.Conn) {
	p.mu.Lock()
	if p.ln == nil || p.done {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c] = false
	p.wg.Add(1)
	p.mu.Unlock()

	go func() {
		defer p.wg.Done()
		defer p.forget(c)
		up, err := p.dial()
		if err != nil {
			return
		}
		if !p.track(up) {
			up.Close()
			return
		}
		defer p.forget(up)
		var pipes sync.WaitGroup
		pipes.Add(2)
		go func() { defer pipes.Done(); p.pipe(up, c) }()
		go func() { defer pipes.Done(); p.pipe(c, up) }()
		pipes.Wait()
	}()
}

// pipe copies src to dst, dropping what src sends once it is stalled, then
// closes both so the other direction ends too.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled(src) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) stalled(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[c]
}

// Stall makes every live connection silent without closing it: the bytes
// either side sends are dropped, as by a path that died without a reset (a
// lost NAT entry, a load balancer's dead backend). New connections are
// forwarded as before.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		p.conns[c] = true
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil || p.done {
		return false
	}
	p.conns[c] = false
	return true
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Cut closes the listener and every live connection: from now on the port
// refuses connections. Cutting a cut proxy does nothing.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// Restore listens again on the same port. It retries for a few seconds in
// case the port is briefly held by the kernel.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return errors.New("proxy: closed")
	}
	if p.ln != nil {
		return nil
	}
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proxy: listen again on %s: %w", p.addr, err)
		}
		p.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		p.mu.Lock()
	}
}

// IsCut reports whether the proxy is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln == nil
}

// Close cuts the proxy for good and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}
