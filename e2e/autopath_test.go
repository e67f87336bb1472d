package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/kubesvc/kubesvc/e2e/netns"
)

// The autopath tests: kubesvc's `autopath [RESOLV_CONF]` option answers the
// first query of a pod's search-path walk with the name that exists.

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
	search []string // FQDNs
	ndots  int
	local  net.IP // source address; any if nil
	sent   []sentQuery
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
	c := &dns.Client{Net: "udp", Timeout: queryLimit}
	if s.local != nil {
		c.Dialer = &net.Dialer{Timeout: queryLimit, LocalAddr: &net.UDPAddr{IP: s.local}}
	}
	var last *dns.Msg
	for _, cand := range s.candidates(name) {
		m := new(dns.Msg)
		m.SetQuestion(cand, dns.TypeA)
		r, _, err := c.Exchange(m, s.server)
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
		// walk is completed on the server ("" if the first name answers).
		cname string
	}{
		{"test", "blog.mosuke.tech", []string{"104.21.57.182", "172.67.165.72"}, 4, 1, "blog.mosuke.tech."},
		{"mosuke5", "wttr.in", []string{"5.9.243.187"}, 4, 1, "wttr.in."},
		{"default", "httpd-example.mosuke5", []string{"10.96.12.34"}, 2, 1, "httpd-example.mosuke5.svc.cluster.local."},
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
			first := c.name + "." + podSearch(c.ns)[0]
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
	if c1-c0 != 3 || s1-s0 != 7 {
		t.Errorf("%s moved by %g, %s by %g; want 3 and 7", metricCompletions, c1-c0, metricSaved, s1-s0)
	}
}

// TestAutopathAmbiguity: a query <name>.<ns>.svc.<zone> is the first step of
// a walk for <name> from a pod in <ns>, and also a later step of a walk for
// <name>.<ns> from a pod elsewhere. The latter must never be completed into
// an answer for a name that exists nowhere, even where the upstream knows
// <name> alone or in a node search domain.
func TestAutopathAmbiguity(t *testing.T) {
	suite(t)
	t.Parallel()
	resolvConf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("search corp.example\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := []coredns.Host{
		{IP: "198.51.100.10", Name: "printer"},
		{IP: "198.51.100.11", Name: "printer.corp.example"},
		{IP: "198.51.100.12", Name: "lp.floor2.corp.example"},
	}
	srv := autopathDNS(t, "autopath-ambiguity", extra, func(p coredns.Ports, kc string) coredns.AutopathCorefile {
		return coredns.AutopathCorefile{
			Kubeconfig: kc,
			Blocks:     []coredns.KubesvcBlock{{Listen: p.DNSAddr(), Autopath: true, ResolvConf: resolvConf}},
			Health:     coredns.Loopback(p.Health), Ready: coredns.Loopback(p.Ready), Metrics: coredns.Loopback(p.Metrics),
			Upstream: p.UpstreamAddr(),
		}
	})
	addr := srv.Ports.DNSAddr()
	node := "corp.example."

	// The upstream does know these names.
	for _, h := range extra {
		name := dns.Fqdn(h.Name)
		expect(t, query(t, srv.Ports.UpstreamAddr(), "udp", name, dns.TypeA), want{answer: []string{name + " * IN A " + h.IP}})
	}

	// Positive control: a pod in mosuke5 resolving lp.floor2 (a node-domain
	// name) gets it in one query, through RESOLV_CONF's search domain.
	c0, s0 := autopathCounters(t, nil, srv.Ports.MetricsURL())
	s := &stub{server: addr, search: podSearch("mosuke5", node), ndots: 5, local: net.IPv4(127, 0, 0, 4)}
	got, last, err := s.resolve("lp.floor2")
	if err != nil || !slices.Equal(got, []string{"198.51.100.12"}) || len(s.sent) != 1 {
		t.Errorf("lp.floor2 from mosuke5: addresses %v (err %v) in %d queries, want [198.51.100.12] in 1; sent:%s\nlast:\n%v", got, err, len(s.sent), s.trace(), last)
	}
	c1, s1 := autopathCounters(t, nil, srv.Ports.MetricsURL())
	if c1-c0 != 1 || s1-s0 != 3 {
		t.Errorf("positive control: completions +%g, saved +%g; want +1, +3", c1-c0, s1-s0)
	}

	// allNX fails t unless every query s sent was answered NXDOMAIN with no
	// answer records and the walk found nothing.
	allNX := func(what string, s *stub, got []string, err error, wantN int) {
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
		t.Logf("%s:%s", what, s.trace())
	}

	// The whole walk from one client: step 2 is <name>.mosuke5.svc.cluster.local.
	for _, name := range []string{"printer.mosuke5", "lp.floor2.mosuke5"} {
		s := &stub{server: addr, search: podSearch("default", node), ndots: 5, local: net.IPv4(127, 0, 0, 1)}
		got, _, err := s.resolve(name)
		allNX(name+" from default (127.0.0.1)", s, got, err, 5)
	}
	// Another client (another replica had step 1) starts at step 2.
	s = &stub{server: addr, search: podSearch("default", node)[1:], ndots: 5, local: net.IPv4(127, 0, 0, 2)}
	got, _, err = s.resolve("printer.mosuke5")
	allNX("printer.mosuke5 from default without step 1 (127.0.0.2)", s, got, err, 4)
	// And AAAA for step 2 from a third client.
	c := &dns.Client{Net: "udp", Timeout: queryLimit, Dialer: &net.Dialer{Timeout: queryLimit, LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}}}
	m := new(dns.Msg)
	m.SetQuestion("printer.mosuke5.svc.cluster.local.", dns.TypeAAAA)
	if r, _, err := c.Exchange(m, addr); err != nil {
		t.Error(err)
	} else if r.Rcode != dns.RcodeNameError || len(r.Answer) > 0 {
		t.Errorf("printer.mosuke5.svc.cluster.local. AAAA from 127.0.0.3: want NXDOMAIN with no answer, got:\n%v", r)
	}

	c2, s2 := autopathCounters(t, nil, srv.Ports.MetricsURL())
	if c2 != c1 || s2 != s1 {
		t.Errorf("ambiguous walks moved the counters: completions +%g, saved +%g", c2-c1, s2-s1)
	}
}

// TestAutopathGlibc counts the queries glibc's resolver (getent, i.e.
// getaddrinfo) sends for blog.mosuke.tech from a pod in namespace test, with
// the option off and on, in a private network and mount namespace where
// CoreDNS serves port 53 and /etc/resolv.conf is a pod's.
func TestAutopathGlibc(t *testing.T) {
	suite(t)
	if why := netns.Unavailable(); why != "" {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatalf("%s (%s=1, so this is a failure, not a skip)", why, requiredEnv)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("getent"); err != nil {
		t.Fatalf("getent not found (Debian package libc-bin): %v", err)
	}
	t.Parallel()

	const (
		onNS    = "127.0.0.1" // nameserver of the block with autopath
		offNS   = "127.0.0.2" // and without
		api     = "127.0.0.1:6443"
		ready   = "127.0.0.1:8181"
		metrics = "127.0.0.1:9153"
	)
	resolvConf := func(server string) string {
		return "nameserver " + server + "\nsearch test.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	}
	apiAddr, err := kube.APIServerAddr()
	if err != nil {
		t.Fatal(err)
	}
	nsOut := &coredns.Buffer{}
	ns, err := netns.Start(ctxFor(t, 30*time.Second), netns.Options{
		ResolvConf: resolvConf(onNS),
		Outward:    map[string]string{api: apiAddr},
		Inward:     []string{ready, metrics},
		Output:     nsOut,
	})
	if err != nil {
		t.Fatalf("%v\nnamespace output:\n%s", err, nsOut)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("close namespace: %v", err)
		}
	})

	kc, err := kube.CoreDNSKubeconfig("netns.kubeconfig", "https://"+api)
	if err != nil {
		t.Fatal(err)
	}
	conf, zone := filepath.Join(ns.Dir(), "Corefile"), filepath.Join(ns.Dir(), "upstream.zone")
	if err := os.WriteFile(zone, []byte(coredns.UpstreamZone()), 0o644); err != nil {
		t.Fatal(err)
	}
	corefile := coredns.AutopathCorefile{
		Kubeconfig: kc,
		Blocks: []coredns.KubesvcBlock{
			{Listen: onNS + ":53", Autopath: true, Log: coredns.LogFormat},
			{Listen: offNS + ":53", Log: coredns.LogFormat},
		},
		Ready: ready, Metrics: metrics,
		Upstream: "127.0.0.1:5300", UpstreamZone: zone,
	}.String()
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &coredns.Buffer{}
	cmd := ns.Command(context.Background(), corednsBin, "-conf", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("coredns in the namespace did not exit within 15s of SIGTERM; killed")
		}
		if t.Failed() {
			t.Logf("coredns in the namespace:\n%s\nnamespace output:\n%s", tail(out.String(), 8000), nsOut)
		}
	})

	hc := ns.HTTPClient()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get("http://" + ready + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("coredns in the namespace exited before it was ready:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("coredns in the namespace not ready within 30s (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// getent runs getent in the namespace and returns its output and the
	// client queries CoreDNS logged meanwhile, and how many lookups the
	// server made for them through its own chain (same client and id).
	getent := func(db, name string) (string, []coredns.LogLine, int) {
		t.Helper()
		from := out.Len()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		res, err := ns.Command(ctx, "getent", db, name).CombinedOutput()
		if err != nil {
			t.Errorf("getent %s %s: %v\n%s", db, name, err, res)
		}
		// The log line of a query is written right after its answer: wait
		// for the output to be quiet.
		for n, quiet, end := out.Len(), 0, time.Now().Add(3*time.Second); quiet < 5 && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
			if l := out.Len(); l != n {
				n, quiet = l, 0
			} else {
				quiet++
			}
		}
		var keys []string
		last := map[string]coredns.LogLine{}
		lines := map[string]int{}
		for _, l := range strings.Split(out.Since(from), "\n") {
			ll, ok := coredns.ParseLogLine(l)
			if !ok {
				continue
			}
			k := ll.Key()
			if _, seen := last[k]; !seen {
				keys = append(keys, k)
			}
			last[k] = ll // the client's query is logged after the lookups made for it
			lines[k]++
		}
		var client []coredns.LogLine
		internal := 0
		for _, k := range keys {
			client = append(client, last[k])
			internal += lines[k] - 1
		}
		return string(res), client, internal
	}

	type run struct {
		db       string
		on       bool
		queries  []coredns.LogLine
		internal int
		out      string
	}
	var runs []run
	for _, db := range []string{"ahostsv4", "ahosts"} {
		for _, on := range []bool{false, true} {
			server := offNS
			if on {
				server = onNS
			}
			if err := ns.SetResolvConf(resolvConf(server)); err != nil {
				t.Fatal(err)
			}
			res, qs, internal := getent(db, "blog.mosuke.tech")
			runs = append(runs, run{db, on, qs, internal, res})
			for _, a := range []string{"172.67.165.72", "104.21.57.182"} {
				if !strings.Contains(res, a) {
					t.Errorf("getent %s blog.mosuke.tech (autopath %v) lacks %s:\n%s", db, on, a, res)
				}
			}
		}
	}
	completions, saved := autopathCounters(t, hc, "http://"+metrics+"/metrics")

	var report strings.Builder
	fmt.Fprintf(&report, "glibc (getent) in a network namespace, blog.mosuke.tech from a pod in test (ndots:5, IPv6 address on lo: %v):", ns.IPv6)
	count := map[string]int{}
	for _, r := range runs {
		mode := "off"
		if r.on {
			mode = "on"
		}
		count[r.db+"/"+mode] = len(r.queries)
		fmt.Fprintf(&report, "\n  getent %-8s autopath %-3s: %d queries (server-side lookups: %d)", r.db, mode, len(r.queries), r.internal)
		for _, q := range r.queries {
			fmt.Fprintf(&report, "\n      %-4s %-45s %s", q.Type, q.Name, q.Rcode)
		}
		fmt.Fprintf(&report, "\n    output: %s", strings.ReplaceAll(strings.TrimSpace(r.out), "\n", "\n            "))
	}
	fmt.Fprintf(&report, "\n  %s %g, %s %g", metricCompletions, completions, metricSaved, saved)
	t.Log(report.String())

	if count["ahostsv4/off"] != 4 || count["ahostsv4/on"] != 1 {
		t.Errorf("getent ahostsv4: %d queries off, %d on; want 4 and 1", count["ahostsv4/off"], count["ahostsv4/on"])
	}
	perName := 1
	if ns.IPv6 {
		perName = 2 // A and AAAA
	}
	if count["ahosts/off"] != 4*perName || count["ahosts/on"] != perName {
		t.Errorf("getent ahosts: %d queries off, %d on; want %d and %d", count["ahosts/off"], count["ahosts/on"], 4*perName, perName)
	}
	for _, r := range runs {
		for _, q := range r.queries {
			if !strings.HasPrefix(q.Name, "blog.mosuke.tech.") {
				t.Errorf("getent %s: unexpected query %s %s", r.db, q.Type, q.Name)
			}
		}
	}
}
