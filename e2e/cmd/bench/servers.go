package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// kind is one of the servers compared.
type kind struct {
	name     string
	binary   string
	corefile func(p coredns.Ports) string
}

// The Corefiles: bound to 127.0.0.1 only, no cache (the backend is what is measured),
// errors (silent unless something fails) and ready (not on the query path).

func kubesvcCorefile(kubeconfig string, metrics bool) func(coredns.Ports) string {
	return pluginCorefile("kubesvc", kubeconfig, metrics)
}

func stockCorefile(kubeconfig string, metrics bool) func(coredns.Ports) string {
	return pluginCorefile("kubernetes", kubeconfig, metrics)
}

// pluginCorefile serves the cluster with directive (kubesvc or kubernetes),
// both with the same options; with metrics, also the prometheus plugin (off
// where queries/s are measured: it counts every query) and the pprof plugin
// on the health port (the growth phase forces a collection through it, to
// read the live heap: liveHeapKB).
func pluginCorefile(directive, kubeconfig string, metrics bool) func(coredns.Ports) string {
	return func(p coredns.Ports) string {
		prom := ""
		if metrics {
			prom = fmt.Sprintf("\n    prometheus 127.0.0.1:%d\n    pprof 127.0.0.1:%d", p.Metrics, p.Health)
		}
		return fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    errors
    ready 127.0.0.1:%d%s
    %s cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        ttl 30
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
`, p.DNS, p.Ready, prom, directive, kubeconfig)
	}
}

// ceilingCorefile answers the same names from a hosts file. The hosts plugin
// answers SERVFAIL for a name it lacks (it has no SOA), so it falls through
// to a file plugin holding only the zone apex, which answers NXDOMAIN with
// the SOA as the Kubernetes plugins do.
func ceilingCorefile(hosts, zone string) func(coredns.Ports) string {
	return func(p coredns.Ports) string {
		return fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    errors
    ready 127.0.0.1:%d
    hosts %s cluster.local {
        ttl 30
        reload 0
        no_reverse
        fallthrough
    }
    file %s cluster.local {
        reload 0
    }
}
`, p.DNS, p.Ready, hosts, zone)
	}
}

// idleCorefile serves nothing but whoami: the binary's own resident memory.
func idleCorefile(p coredns.Ports) string {
	return fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n    whoami\n}\n", p.DNS)
}

// running is a started server.
type running struct {
	kind     *kind
	srv      *coredns.Server
	addr     string
	started  time.Time     // just before the process was started
	firstCPU time.Duration // CPU time used by the first correct answer
}

// fleet tracks every server started, so that all are stopped on the way out.
type fleet struct {
	mu      sync.Mutex
	servers map[*coredns.Server]string
	logs    []string // problems seen in stopped servers' logs
}

func newFleet() *fleet { return &fleet{servers: map[*coredns.Server]string{}} }

const stopTimeout = 15 * time.Second

// start starts k's binary and waits (every 2 ms) until every probe is answered
// correctly. It returns the server and the time from just before the
// process was started to the first correct answer. A start that loses its
// port to another process is tried again on other ports.
func (f *fleet) start(ctx context.Context, k *kind, es []expect, timeout time.Duration) (*running, time.Duration, error) {
	for attempt := 1; ; attempt++ {
		r, took, err := f.startOnce(ctx, k, es, timeout)
		if errors.Is(err, errPortTaken) && attempt < 4 {
			continue
		}
		return r, took, err
	}
}

var errPortTaken = errors.New("port taken")

func (f *fleet) startOnce(ctx context.Context, k *kind, es []expect, timeout time.Duration) (*running, time.Duration, error) {
	r, err := f.launch(k)
	if err != nil {
		return nil, 0, err
	}
	t0 := r.started
	at, err := waitCorrect(ctx, r.addr, es, 2*time.Millisecond, t0.Add(timeout), r.srv.Exited())
	if err != nil {
		log := r.srv.Log()
		f.stop(r)
		if strings.Contains(log, "address already in use") {
			return nil, 0, fmt.Errorf("%s: %w", k.name, errPortTaken)
		}
		return nil, 0, fmt.Errorf("%s: %w\n%s log:\n%s", k.name, err, k.name, tail(log, 20))
	}
	// CPU the process used until then (it is still running: a little more).
	r.firstCPU, _ = procCPU(r.srv.Pid())
	return r, at.Sub(t0), nil
}

// launch starts k's binary on fresh ports and registers it.
func (f *fleet) launch(k *kind) (*running, error) {
	ports, err := coredns.NewPorts()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	srv, err := coredns.Start(k.binary, k.corefile(ports), ports, coredns.Options{})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.servers[srv] = k.name
	f.mu.Unlock()
	return &running{kind: k, srv: srv, addr: ports.DNSAddr(), started: t0}, nil
}

// stop stops r and keeps what its log says went wrong.
func (f *fleet) stop(r *running) {
	if r == nil {
		return
	}
	err := r.srv.Stop(stopTimeout)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.servers, r.srv)
	if err != nil {
		f.logs = append(f.logs, fmt.Sprintf("%s: %v", r.kind.name, err))
	}
	for _, line := range strings.Split(r.srv.Log(), "\n") {
		if isProblem(line) && len(f.logs) < 40 {
			f.logs = append(f.logs, r.kind.name+": "+line)
		}
	}
}

func isProblem(line string) bool {
	l := strings.ToLower(line)
	return strings.Contains(line, "[ERROR]") || strings.Contains(line, "[WARNING]") ||
		strings.Contains(l, "forbidden") || strings.Contains(l, "failed to")
}

// stopAll stops every server still running, in parallel.
func (f *fleet) stopAll() {
	f.mu.Lock()
	var all []*coredns.Server
	for s := range f.servers {
		all = append(all, s)
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(func() { _ = s.Stop(stopTimeout) })
	}
	wg.Wait()
	f.mu.Lock()
	clear(f.servers)
	f.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
