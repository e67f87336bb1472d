package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// Search-path completion in the places clusters put kubesvc: behind the
// cache plugin of its own server, behind a node-local caching forwarder
// (every pod of a node reaches kubesvc from one address), with many clients
// on one address, and as several replicas a client's queries spread over.

// autopathSetups are the servers of those setups, one CoreDNS process each
// where a cluster has one.
type autopathSetups struct {
	cached    string // kubesvc with autopath and cache 30 in one block (Corefile.example)
	on, off   string // kubesvc with autopath and without, no cache
	replica   string // another process serving what on serves
	nodeLocal string // cache 30 + forward to on
}

// startAutopathSetups runs the setups with the node search domain
// corp.example, whose upstream knows extra besides UpstreamHosts.
func startAutopathSetups(t *testing.T, extra []coredns.Host) autopathSetups {
	t.Helper()
	resolvConf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("search corp.example\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var s autopathSetups
	srv := autopathDNS(t, "autopath-setups", extra, func(p coredns.Ports, kc string) coredns.AutopathCorefile {
		s.on, s.off = coredns.Loopback(otherPort(t, p)), coredns.Loopback(otherPort(t, p))
		return coredns.AutopathCorefile{
			Kubeconfig: kc,
			Blocks: []coredns.KubesvcBlock{
				{Listen: p.DNSAddr(), Autopath: true, ResolvConf: resolvConf, Cache: true},
				{Listen: s.on, Autopath: true, ResolvConf: resolvConf},
				{Listen: s.off},
			},
			Ready: coredns.Loopback(p.Ready), Metrics: coredns.Loopback(p.Metrics),
			Upstream: p.UpstreamAddr(),
		}
	})
	s.cached = srv.Ports.DNSAddr()
	replica := autopathDNS(t, "autopath-replica", extra, func(p coredns.Ports, kc string) coredns.AutopathCorefile {
		return coredns.AutopathCorefile{
			Kubeconfig: kc,
			Blocks:     []coredns.KubesvcBlock{{Listen: p.DNSAddr(), Autopath: true, ResolvConf: resolvConf}},
			Ready:      coredns.Loopback(p.Ready), Upstream: p.UpstreamAddr(),
		}
	})
	s.replica = replica.Ports.DNSAddr()
	nodeLocal := ownCoreDNS(t, "node-local", sharedProxy.URL(), func(p coredns.Ports, _ string) string {
		return coredns.NodeLocalCorefile(p, s.on)
	})
	if err := nodeLocal.WaitReady(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	s.nodeLocal = nodeLocal.Ports.DNSAddr()
	return s
}

// allNX fails t unless every query s sent was answered NXDOMAIN with no
// answer records, wantN of them, and the walk found nothing.
func allNX(t *testing.T, what string, s *stub, got []string, err error, wantN int) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if len(got) > 0 {
		t.Errorf("%s: resolved to %v, want nothing; sent:%s", what, got, s.trace())
	}
	if len(s.sent) != wantN {
		t.Errorf("%s: %d queries, want %d; sent:%s", what, len(s.sent), wantN, s.trace())
	}
	for _, q := range s.sent {
		if q.resp.Rcode != dns.RcodeNameError || len(q.resp.Answer) > 0 {
			t.Errorf("%s: %s answered %s, want NXDOMAIN with no answer:\n%v", what, q.name, dns.RcodeToString[q.resp.Rcode], q.resp)
		}
	}
}

// resolvesTo fails t unless the walk found want in wantN queries, its last
// answer starting with a CNAME from the zone step to cname.
func resolvesTo(t *testing.T, what string, s *stub, got []string, last *dns.Msg, err error, want []string, wantN int, cname string) {
	t.Helper()
	if err != nil || !slices.Equal(got, want) || len(s.sent) != wantN {
		t.Errorf("%s: addresses %v (err %v) in %d queries, want %v in %d; sent:%s\nlast:\n%v", what, got, err, len(s.sent), want, wantN, s.trace(), last)
		return
	}
	if c, ok := last.Answer[0].(*dns.CNAME); !ok || !strings.EqualFold(c.Target, cname) {
		t.Errorf("%s: answer does not start with a CNAME to %s:\n%v", what, cname, last)
	}
}

// TestAutopathBehindCaches is issue 14's items 2 and 3: client A (a pod in
// bugm5) resolves lp.floor2, which exists in the node domain; then client B
// (a pod in bugdef) resolves lp.floor2.bugm5, which exists nowhere: B's
// second step is the question A's walk began with. Behind a cache in the
// server, behind a node-local cache, from one address, and over two
// replicas, every step of B's walk is NXDOMAIN and A gets its address.
func TestAutopathBehindCaches(t *testing.T) {
	suite(t)
	t.Parallel()
	for _, ns := range []string{"bugm5", "bugdef"} {
		namespace(t, ns)
		createService(t, clusterIPService(ns, "web", "http", 80))
	}
	node := "corp.example."
	s := startAutopathSetups(t, []coredns.Host{{IP: "198.51.100.12", Name: "lp.floor2.corp.example"}, {IP: "198.51.100.10", Name: "printer"}})
	for _, addr := range []string{s.cached, s.on, s.off, s.replica, s.nodeLocal} {
		eventually(t, 10*time.Second, addr+" answers web.bugm5", answers(addr, "web.bugm5.svc.cluster.local.", dns.TypeA, want{anyAnswer: true}))
	}
	a, b := net.IPv4(127, 0, 0, 4), net.IPv4(127, 0, 0, 5)
	for _, setup := range []struct {
		name    string
		servers []string
		a, b    net.IP
	}{
		{"cache 30 in the server", []string{s.cached}, a, b},
		{"node-local cache in front", []string{s.nodeLocal}, a, b},
		{"no cache, one address", []string{s.on}, a, a},
		{"two replicas, steps alternating", []string{s.on, s.replica}, a, b},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			what := setup.name + " over " + proto
			sa := &stub{servers: setup.servers, search: podSearch("bugm5", node), ndots: 5, local: setup.a, proto: proto}
			got, last, err := sa.resolve("lp.floor2")
			resolvesTo(t, what+": A resolving lp.floor2 from bugm5", sa, got, last, err, []string{"198.51.100.12"}, 3, "lp.floor2.corp.example.")
			for _, name := range []string{"lp.floor2.bugm5", "printer.bugm5"} {
				sb := &stub{servers: setup.servers, search: podSearch("bugdef", node), ndots: 5, local: setup.b, proto: proto}
				got, _, err := sb.resolve(name)
				allNX(t, what+": B resolving "+name+" from bugdef", sb, got, err, 5)
			}
		}
	}

	// Item 3's exact order, from one address and with A and AAAA: B's
	// first step, the first steps of two unrelated lookups, B's second.
	for _, server := range []string{s.on, s.nodeLocal} {
		c := clientFrom(net.IPv4(127, 0, 0, 6), "udp")
		steps := []string{
			"lp.floor2.bugm5.bugdef.svc.cluster.local.",
			"api.example.bugdef.svc.cluster.local.",
			"db.example.bugdef.svc.cluster.local.",
			"lp.floor2.bugm5.svc.cluster.local.",
			"lp.floor2.bugm5.cluster.local.",
		}
		for _, q := range steps {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
				m := new(dns.Msg)
				m.SetQuestion(q, qtype)
				r, _, err := c.Exchange(m, server)
				if err != nil {
					t.Errorf("%s %s via %s: %v", q, dns.TypeToString[qtype], server, err)
				} else if r.Rcode != dns.RcodeNameError || len(r.Answer) > 0 {
					t.Errorf("item 3 via %s: %s %s answered %s, want NXDOMAIN with no answer:\n%v", server, q, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r)
				}
			}
		}
	}
}

// TestAutopathSavingsPerSetup counts the queries the stub resolver sends
// for the documents' lookups in each setup: completion saves the same
// everywhere, because its answers are the same whoever asks.
func TestAutopathSavingsPerSetup(t *testing.T) {
	suite(t)
	t.Parallel()
	s := startAutopathSetups(t, nil)
	cases := []struct {
		ns, name string
		addrs    []string
		off, on  int
	}{
		{"test", "blog.mosuke.tech", []string{"104.21.57.182", "172.67.165.72"}, 5, 3},
		{"mosuke5", "wttr.in", []string{"5.9.243.187"}, 5, 3},
		{"default", "httpd-example.mosuke5", []string{"10.96.12.34"}, 2, 2},
		{"default", "sample-clusterip", []string{"10.96.246.109"}, 1, 1},
		{"mosuke5", "httpd-example", []string{"10.96.12.34"}, 1, 1},
	}
	setups := []struct {
		name    string
		servers []string
		on      bool
	}{
		{"autopath off", []string{s.off}, false},
		{"autopath on", []string{s.on}, true},
		{"on, cache 30 in the server", []string{s.cached}, true},
		{"on, node-local cache", []string{s.nodeLocal}, true},
		{"on, two replicas", []string{s.on, s.replica}, true},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "stub resolver, A, ndots:5, search <ns>.svc.cluster.local svc.cluster.local cluster.local corp.example; queries sent:")
	for _, setup := range setups {
		total, wantTotal := 0, 0
		for _, c := range cases {
			st := &stub{servers: setup.servers, search: podSearch(c.ns, "corp.example."), ndots: 5}
			got, last, err := st.resolve(c.name)
			wantN := c.off
			if setup.on {
				wantN = c.on
			}
			if err != nil || !slices.Equal(got, c.addrs) || len(st.sent) != wantN {
				t.Errorf("%s: %s from %s: addresses %v (err %v) in %d queries, want %v in %d; sent:%s\nlast:\n%v", setup.name, c.name, c.ns, got, err, len(st.sent), c.addrs, wantN, st.trace(), last)
			}
			total, wantTotal = total+len(st.sent), wantTotal+wantN
		}
		fmt.Fprintf(&report, "\n  %-28s %3d (want %d)", setup.name, total, wantTotal)
	}
	t.Log(report.String())
}

// TestAutopathTruncatedCompletion is the autopath part of issue 14's item
// 1: a completion whose target's answer came back truncated carries TC over
// UDP, so the client asks again over TCP and gets the whole answer there.
func TestAutopathTruncatedCompletion(t *testing.T) {
	suite(t)
	t.Parallel()
	up := fmt.Sprintf("127.0.0.1:%d", localUpstream(t, truncatingUpstream)) // truncation_test.go
	srv := autopathDNS(t, "autopath-tc", nil, func(p coredns.Ports, kc string) coredns.AutopathCorefile {
		return coredns.AutopathCorefile{
			Kubeconfig: kc,
			Blocks:     []coredns.KubesvcBlock{{Listen: p.DNSAddr(), Autopath: true}},
			Ready:      coredns.Loopback(p.Ready), Forward: up,
		}
	})
	const q = "big.example.cluster.local."
	m := new(dns.Msg)
	m.SetQuestion(q, dns.TypeA)
	r, _, err := clientFrom(nil, "udp").Exchange(m, srv.Ports.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Truncated {
		t.Errorf("%s A over UDP: want NOERROR with TC set (the target's answer was truncated), got:\n%v", q, r)
	}
	r, _, err = clientFrom(nil, "tcp").Exchange(m, srv.Ports.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeSuccess || r.Truncated || len(r.Answer) != 101 {
		t.Fatalf("%s A over TCP: want the CNAME and 100 A records, got %d records (TC %v):\n%v", q, len(r.Answer), r.Truncated, r)
	}
	if c, ok := r.Answer[0].(*dns.CNAME); !ok || c.Target != "big.example." {
		t.Errorf("%s A over TCP: want a CNAME to big.example. first, got %v", q, r.Answer[0])
	}
}
