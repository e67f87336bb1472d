// Package coredns runs the project's bin/coredns as a subprocess on loopback
// ports, for the end-to-end tests and the `make run` driver.
package coredns

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Binary is bin/coredns under the repository root root.
func Binary(root string) string { return filepath.Join(root, "bin", "coredns") }

// StockBinary is bin/coredns-stock under the repository root root: stock
// CoreDNS with its kubernetes plugin (make stock), the reference that
// differential tests compare kubesvc's answers with.
func StockBinary(root string) string { return filepath.Join(root, "bin", "coredns-stock") }

// RootModule is the module path of the repository root (the plugin).
const RootModule = "github.com/kubesvc/kubesvc"

// FindRoot walks up from the working directory to the repository root: the
// directory whose go.mod declares RootModule.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && moduleOf(data) == RootModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod of " + RootModule + ") not found above the working directory; pass -root")
		}
		dir = parent
	}
}

func moduleOf(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// CheckBinary reports why path is not a usable CoreDNS binary, or nil.
func CheckBinary(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w (build it with: go build -o bin/coredns ./cmd/coredns)", err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// FreePort returns a loopback port free for both TCP and UDP right now,
// below the kernel's ephemeral range (ip_local_port_range) when it can:
// between this pick and the server's bind, an outgoing connection of
// anything on the machine could take an ephemeral port (the API server's
// clients do, all the time), and the server would then fail to start.
// Ports are picked at random there and never handed out twice by one
// process, so parallel tests and runs rarely meet.
func FreePort() (int, error) {
	lo, hi := 10000, ephemeralLow()
	for range 200 {
		port := 0 // the kernel's pick, if the range below is too small
		if hi-lo > 1000 {
			port = lo + rand.IntN(hi-lo)
		}
		if p, ok := tryPort(port); ok && handOut(p) {
			return p, nil
		}
	}
	return 0, errors.New("no free loopback port for both TCP and UDP")
}

// tryPort reports whether port (0: any) is free for both TCP and UDP, and
// which it is.
func tryPort(port int) (int, bool) {
	tl, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, false
	}
	port = tl.Addr().(*net.TCPAddr).Port
	ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	tl.Close()
	if err != nil {
		return 0, false
	}
	ul.Close()
	return port, true
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// handOut records p as handed out; false if it was already.
func handOut(p int) bool {
	handedMu.Lock()
	defer handedMu.Unlock()
	if handed[p] {
		return false
	}
	handed[p] = true
	return true
}

// ephemeralLow is where the kernel's ephemeral ports start (32768 if it
// cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// Ports are the loopback ports one CoreDNS instance uses.
type Ports struct {
	DNS, Health, Ready, Metrics, Upstream int
}

// NewPorts picks distinct free ports.
func NewPorts() (Ports, error) {
	seen := map[int]bool{}
	var ps [5]int
	for i := range ps {
		for {
			p, err := FreePort()
			if err != nil {
				return Ports{}, err
			}
			if !seen[p] {
				seen[p], ps[i] = true, p
				break
			}
		}
	}
	return Ports{DNS: ps[0], Health: ps[1], Ready: ps[2], Metrics: ps[3], Upstream: ps[4]}, nil
}

// DNSAddr is the address of the main server block.
func (p Ports) DNSAddr() string { return hostPort(p.DNS) }

// UpstreamAddr is the address of the hosts server block standing in for
// the upstream resolvers.
func (p Ports) UpstreamAddr() string { return hostPort(p.Upstream) }

// ReadyURL is the ready plugin's URL.
func (p Ports) ReadyURL() string { return "http://" + hostPort(p.Ready) + "/ready" }

// HealthURL is the health plugin's URL.
func (p Ports) HealthURL() string { return "http://" + hostPort(p.Health) + "/health" }

func hostPort(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }

// Server is a running bin/coredns.
type Server struct {
	Ports   Ports
	Conf    string // path of the Corefile it runs
	cmd     *exec.Cmd
	out     *Buffer
	exited  chan struct{}
	waitErr error
	stop    sync.Once
}

// Options tune Start.
type Options struct {
	// Echo, if set, also receives CoreDNS's output as it comes.
	Echo io.Writer
	// Dir is where the Corefile is written; a temp dir (removed by Stop)
	// if empty.
	Dir string
}

// Start writes corefile to a file and starts binary -conf FILE. It returns
// once the process has started; use WaitServing or WaitReady next.
func Start(binary, corefile string, ports Ports, opts Options) (*Server, error) {
	if err := CheckBinary(binary); err != nil {
		return nil, err
	}
	dir := opts.Dir
	tmp := dir == ""
	if tmp {
		var err error
		if dir, err = os.MkdirTemp("", "kubesvc-coredns-"); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		return nil, err
	}
	s := &Server{Ports: ports, Conf: conf, out: &Buffer{}, exited: make(chan struct{})}
	var w io.Writer = s.out
	if opts.Echo != nil {
		w = io.MultiWriter(s.out, opts.Echo)
	}
	s.cmd = exec.Command(binary, "-conf", conf)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		if tmp {
			os.RemoveAll(dir)
		}
		close(s.exited)
	}()
	return s, nil
}

// Log is everything CoreDNS printed so far.
func (s *Server) Log() string { return s.out.String() }

// LogLen is the length of Log, to print only what came after a point.
func (s *Server) LogLen() int { return s.out.Len() }

// LogSince is the output after offset.
func (s *Server) LogSince(offset int) string { return s.out.Since(offset) }

// Exited is closed when the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// ExitErr is the process's exit status, once Exited is closed.
func (s *Server) ExitErr() error { <-s.exited; return s.waitErr }

// Pid of the process.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// WaitServing waits until the main server block answers a DNS query over
// UDP with any response code, i.e. CoreDNS is up (not necessarily synced).
func (s *Server) WaitServing(ctx context.Context) error {
	c := &dns.Client{Net: "udp", Timeout: 300 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("dns-version.cluster.local.", dns.TypeTXT)
	return s.poll(ctx, "answer DNS on "+s.Ports.DNSAddr(), func() bool {
		_, _, err := c.Exchange(m, s.Ports.DNSAddr())
		return err == nil
	})
}

// WaitReady waits until /ready returns 200 (every plugin, kubesvc included,
// reports ready).
func (s *Server) WaitReady(ctx context.Context) error {
	return s.poll(ctx, "get 200 from "+s.Ports.ReadyURL(), func() bool {
		code, err := s.ReadyStatus()
		return err == nil && code == http.StatusOK
	})
}

// ReadyStatus is the HTTP status /ready returns now.
func (s *Server) ReadyStatus() (int, error) { return httpStatus(s.Ports.ReadyURL()) }

// HealthStatus is the HTTP status /health returns now.
func (s *Server) HealthStatus() (int, error) { return httpStatus(s.Ports.HealthURL()) }

var httpClient = &http.Client{Timeout: time.Second}

func httpStatus(url string) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *Server) poll(ctx context.Context, what string, ok func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if ok() {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("coredns exited (%v) before it would %s", s.waitErr, what)
		case <-ctx.Done():
			return fmt.Errorf("coredns did not %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to exit (the
// health plugin's lameduck delays it), then kills it. It returns the exit
// error, if the exit was not clean.
func (s *Server) Stop(timeout time.Duration) error {
	var err error
	s.stop.Do(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(timeout):
				_ = s.cmd.Process.Kill()
				<-s.exited
				err = fmt.Errorf("coredns did not exit within %s of SIGTERM; killed", timeout)
				return
			}
		}
		if s.waitErr != nil {
			err = fmt.Errorf("coredns exit: %w", s.waitErr)
		}
	})
	return err
}

// Buffer is a goroutine-safe output buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len is the number of bytes written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// Since is what was written after offset.
func (b *Buffer) Since(offset int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if offset > len(s) {
		return ""
	}
	return s[offset:]
}
