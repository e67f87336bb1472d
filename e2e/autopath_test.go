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
		cacheNS = "127.0.0.3" // with autopath and cache 30, as in Corefile.example
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
			{Listen: cacheNS + ":53", Autopath: true, Log: coredns.LogFormat, Cache: true},
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
		mode     string
		queries  []coredns.LogLine
		internal int
		out      string
	}
	var runs []run
	for _, db := range []string{"ahostsv4", "ahosts"} {
		for _, mode := range []string{"off", "on", "on+cache"} {
			server := map[string]string{"off": offNS, "on": onNS, "on+cache": cacheNS}[mode]
			if err := ns.SetResolvConf(resolvConf(server)); err != nil {
				t.Fatal(err)
			}
			res, qs, internal := getent(db, "blog.mosuke.tech")
			runs = append(runs, run{db, mode, qs, internal, res})
			for _, a := range []string{"172.67.165.72", "104.21.57.182"} {
				if !strings.Contains(res, a) {
					t.Errorf("getent %s blog.mosuke.tech (autopath %s) lacks %s:\n%s", db, mode, a, res)
				}
			}
		}
	}
	completions, saved := autopathCounters(t, hc, "http://"+metrics+"/metrics")

	var report strings.Builder
	fmt.Fprintf(&report, "glibc (getent) in a network namespace, blog.mosuke.tech from a pod in test (ndots:5, IPv6 address on lo: %v):", ns.IPv6)
	count := map[string]int{}
	for _, r := range runs {
		count[r.db+"/"+r.mode] = len(r.queries)
		fmt.Fprintf(&report, "\n  getent %-8s autopath %-8s: %d queries (server-side lookups: %d)", r.db, r.mode, len(r.queries), r.internal)
		for _, q := range r.queries {
			fmt.Fprintf(&report, "\n      %-4s %-45s %s", q.Type, q.Name, q.Rcode)
		}
		fmt.Fprintf(&report, "\n    output: %s", strings.ReplaceAll(strings.TrimSpace(r.out), "\n", "\n            "))
	}
	fmt.Fprintf(&report, "\n  %s %g, %s %g", metricCompletions, completions, metricSaved, saved)
	t.Log(report.String())

	if count["ahostsv4/off"] != 4 || count["ahostsv4/on"] != 3 || count["ahostsv4/on+cache"] != 3 {
		t.Errorf("getent ahostsv4: %d queries off, %d on, %d on with cache; want 4, 3 and 3", count["ahostsv4/off"], count["ahostsv4/on"], count["ahostsv4/on+cache"])
	}
	perName := 1
	if ns.IPv6 {
		perName = 2 // A and AAAA
	}
	if count["ahosts/off"] != 4*perName || count["ahosts/on"] != 3*perName || count["ahosts/on+cache"] != 3*perName {
		t.Errorf("getent ahosts: %d queries off, %d on, %d on with cache; want %d, %d and %d", count["ahosts/off"], count["ahosts/on"], count["ahosts/on+cache"], 4*perName, 3*perName, 3*perName)
	}
	for _, r := range runs {
		for _, q := range r.queries {
			if !strings.HasPrefix(q.Name, "blog.mosuke.tech.") {
				t.Errorf("getent %s: unexpected query %s %s", r.db, q.Type, q.Name)
			}
		}
	}
}
