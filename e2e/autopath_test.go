package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// The autopath tests: kubesvc's `autopath [RESOLV_CONF]` option answers the
// zone step of a pod's search-path walk (<name>.cluster.local) with the
// name that exists.

const (
	metricCompletions = "coredns_kubesvc_autopath_completions_total"
	metricSaved       = "coredns_kubesvc_autopath_saved_queries_total"
)

// podSearch is a pod's search list in namespace ns (ClusterFirst), then the
// node's domains.
func podSearch(ns string, node ...string) []string {
	return append([]string{ns + ".svc.cluster.local.", "svc.cluster.local.", "cluster.local."}, node...)
}

// stub is a resolver the way glibc's is, for A only: with fewer than ndots
// dots a name is tried with each search domain in order, then as is; with at
// least ndots, as is first. It stops at the first NOERROR response that holds
// an A record and keeps every query it sent.
type stub struct {
	server string
	// servers, if set, take the queries in turn instead of server (a
	// client's queries spread over replicas).
	servers []string
	search  []string // FQDNs
	ndots   int
	local   net.IP // source address; any if nil
	proto   string // "udp" if empty
	sent    []sentQuery
}

type sentQuery struct {
	name string
	resp *dns.Msg
}

func (s *stub) candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var out []string
	for _, d := range s.search {
		out = append(out, name+"."+dns.Fqdn(d))
	}
	if strings.Count(name, ".") >= s.ndots {
		return append([]string{name + "."}, out...)
	}
	return append(out, name+".")
}

// resolve returns name's A addresses (sorted; none if the walk ended without
// one) and the last response.
func (s *stub) resolve(name string) ([]string, *dns.Msg, error) {
	c := clientFrom(s.local, s.proto)
	var last *dns.Msg
	for _, cand := range s.candidates(name) {
		m := new(dns.Msg)
		m.SetQuestion(cand, dns.TypeA)
		server := s.server
		if len(s.servers) > 0 {
			server = s.servers[len(s.sent)%len(s.servers)]
		}
		r, _, err := c.Exchange(m, server)
		if err != nil {
			return nil, last, fmt.Errorf("%s A from %v: %w", cand, s.local, err)
		}
		s.sent = append(s.sent, sentQuery{cand, r})
		last = r
		if r.Truncated {
			return nil, last, fmt.Errorf("%s A: truncated response", cand)
		}
		if r.Rcode != dns.RcodeSuccess {
			continue
		}
		var a []string
		for _, rr := range r.Answer {
			if x, ok := rr.(*dns.A); ok {
				a = append(a, x.A.String())
			}
		}
		if len(a) > 0 {
			slices.Sort(a)
			return a, last, nil
		}
	}
	return nil, last, nil
}

// clientFrom is a DNS client over proto ("udp" if empty) sending from local
// (any address if nil).
func clientFrom(local net.IP, proto string) *dns.Client {
	if proto == "" {
		proto = "udp"
	}
	c := &dns.Client{Net: proto, Timeout: queryLimit}
	if local != nil {
		var addr net.Addr = &net.UDPAddr{IP: local}
		if proto == "tcp" {
			addr = &net.TCPAddr{IP: local}
		}
		c.Dialer = &net.Dialer{Timeout: queryLimit, LocalAddr: addr}
	}
	return c
}

// trace is the queries sent, one line each with the rcode.
func (s *stub) trace() string {
	var b strings.Builder
	for _, q := range s.sent {
		fmt.Fprintf(&b, "\n    %-55s %s", q.name, dns.RcodeToString[q.resp.Rcode])
	}
	return b.String()
}

// autopathDNS starts a CoreDNS for t alone running the AutopathCorefile that
// build makes from its ports and kubeconfig, its upstream block serving
// UpstreamZone(extra...), and waits until it is ready.
func autopathDNS(t *testing.T, name string, extra []coredns.Host, build func(p coredns.Ports, kubeconfig string) coredns.AutopathCorefile) *coredns.Server {
	t.Helper()
	zone := filepath.Join(t.TempDir(), "upstream.zone")
	if err := os.WriteFile(zone, []byte(coredns.UpstreamZone(extra...)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := ownCoreDNS(t, name, "", func(p coredns.Ports, kc string) string {
		c := build(p, kc)
		c.UpstreamZone = zone
		return c.String()
	})
	if err := srv.WaitReady(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatalf("%v\ncoredns output:\n%s", err, tail(srv.Log(), 8000))
	}
	return srv
}

// otherPort is a free loopback port none of p's.
func otherPort(t *testing.T, p coredns.Ports) int {
	t.Helper()
	for range 50 {
		port, err := coredns.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains([]int{p.DNS, p.Health, p.Ready, p.Metrics, p.Upstream}, port) {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// autopathCounters reads the two autopath counters.
func autopathCounters(t *testing.T, client *http.Client, url string) (completions, saved float64) {
	t.Helper()
	m, err := coredns.Scrape(client, url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return m.Sum(metricCompletions), m.Sum(metricSaved)
}

// TestAutopathStubResolver resolves, through a glibc-like stub with the pod
// search list and ndots:5, names inside and outside the cluster, with the
// option off and on (two server blocks of one CoreDNS), and counts the
// queries sent.
func TestAutopathStubResolver(t *testing.T) {
	suite(t)
	t.Parallel()
	var offAddr string
	srv := autopathDNS(t, "autopath-stub", nil, func(p coredns.Ports, kc string) coredns.AutopathCorefile {
		offAddr = coredns.Loopback(otherPort(t, p))
		return coredns.AutopathCorefile{
			Kubeconfig: kc,
			Blocks: []coredns.KubesvcBlock{
				{Listen: p.DNSAddr(), Autopath: true},
				{Listen: offAddr},
			},
			Health: coredns.Loopback(p.Health), Ready: coredns.Loopback(p.Ready), Metrics: coredns.Loopback(p.Metrics),
			Upstream: p.UpstreamAddr(),
		}
	})
	onAddr := srv.Ports.DNSAddr()
	const ip = "sample-clusterip.default.svc.cluster.local."
	for _, addr := range []string{onAddr, offAddr} {
		eventually(t, 10*time.Second, "block "+addr+" answers "+ip, answers(addr, ip, dns.TypeA, want{answer: []string{ip + " 30 IN A 10.96.246.109"}}))
	}

	cases := []struct {
		ns, name string
		addrs    []string
		off, on  int
		// cname is the target of the CNAME the option puts first, when the
		// walk is completed on the server at its zone step ("" if a name
		// in the cluster answers first).
		cname string
	}{
		{"test", "blog.mosuke.tech", []string{"104.21.57.182", "172.67.165.72"}, 4, 3, "blog.mosuke.tech."},
		{"mosuke5", "wttr.in", []string{"5.9.243.187"}, 4, 3, "wttr.in."},
		{"default", "httpd-example.mosuke5", []string{"10.96.12.34"}, 2, 2, ""},
		{"default", "sample-clusterip", []string{"10.96.246.109"}, 1, 1, ""},
		{"mosuke5", "httpd-example", []string{"10.96.12.34"}, 1, 1, ""},
	}
	c0, s0 := autopathCounters(t, nil, srv.Ports.MetricsURL())
	var report strings.Builder
	fmt.Fprintf(&report, "stub resolver, A, ndots:5, search <ns>.svc.cluster.local svc.cluster.local cluster.local:\n")
	fmt.Fprintf(&report, "  %-8s %-22s %4s %4s\n", "ns", "name", "off", "on")
	var totalOff, totalOn, wantOff, wantOn int
	for _, c := range cases {
		counts := map[bool]int{}
		for _, on := range []bool{false, true} {
			addr, mode := offAddr, "off"
			if on {
				addr, mode = onAddr, "on"
			}
			s := &stub{server: addr, search: podSearch(c.ns), ndots: 5}
			got, last, err := s.resolve(c.name)
			counts[on] = len(s.sent)
			if err != nil {
				t.Errorf("%s from %s, autopath %s: %v; sent:%s", c.name, c.ns, mode, err, s.trace())
				continue
			}
			if !slices.Equal(got, c.addrs) {
				t.Errorf("%s from %s, autopath %s: addresses %v, want %v; sent:%s\nlast response:\n%v", c.name, c.ns, mode, got, c.addrs, s.trace(), last)
			}
			wantN := c.off
			if on {
				wantN = c.on
			}
			if len(s.sent) != wantN {
				t.Errorf("%s from %s, autopath %s: %d queries, want %d; sent:%s", c.name, c.ns, mode, len(s.sent), wantN, s.trace())
			}
			first := c.name + ".cluster.local." // the zone step
			var cname *dns.CNAME
			if last != nil && len(last.Answer) > 0 {
				cname, _ = last.Answer[0].(*dns.CNAME)
			}
			switch {
			case on && c.cname != "":
				if cname == nil || !strings.EqualFold(cname.Hdr.Name, first) || !strings.EqualFold(cname.Target, c.cname) {
					t.Errorf("%s from %s, autopath on: answer does not start with CNAME %s -> %s:\n%v", c.name, c.ns, first, c.cname, last)
				}
			case cname != nil:
				t.Errorf("%s from %s, autopath %s: unexpected CNAME in the answer:\n%v", c.name, c.ns, mode, last)
			}
		}
		fmt.Fprintf(&report, "  %-8s %-22s %4d %4d\n", c.ns, c.name, counts[false], counts[true])
		totalOff, totalOn = totalOff+counts[false], totalOn+counts[true]
		wantOff, wantOn = wantOff+c.off, wantOn+c.on
	}
	c1, s1 := autopathCounters(t, nil, srv.Ports.MetricsURL())
	fmt.Fprintf(&report, "  %-31s %4d %4d\n", "total queries", totalOff, totalOn)
	fmt.Fprintf(&report, "  %s +%g, %s +%g", metricCompletions, c1-c0, metricSaved, s1-s0)
	t.Log(report.String())
	if totalOff != wantOff || totalOn != wantOn {
		t.Errorf("queries in all: off %d, on %d; want %d and %d", totalOff, totalOn, wantOff, wantOn)
	}
	if c1-c0 != 2 || s1-s0 != 2 {
		t.Errorf("%s moved by %g, %s by %g; want 2 and 2", metricCompletions, c1-c0, metricSaved, s1-s0)
	}
}
