package e2e

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	"k8s.io/client-go/rest"
)

// withTTLs is a section as comparable text keeping the TTLs: each record as
// dig prints it with the SOA serial zeroed, sorted.
func withTTLs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		rr = dns.Copy(rr)
		if soa, ok := rr.(*dns.SOA); ok {
			soa.Serial = 0
		}
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// sameTTLsAsStock is sameAsStock for the TTLs: every record of every section
// of kubesvc's reply has the TTL (and SOA MINIMUM) of stock's.
func sameTTLsAsStock(t *testing.T, kubesvc, stock *coredns.Server, name string, qtype uint16) {
	t.Helper()
	sameAsStock(t, kubesvc, stock, name, qtype)
	for _, proto := range protos {
		a := query(t, kubesvc.Ports.DNSAddr(), proto, name, qtype)
		b := query(t, stock.Ports.DNSAddr(), proto, name, qtype)
		for _, s := range []struct {
			name string
			a, b []dns.RR
		}{{"answer", a.Answer, b.Answer}, {"authority", a.Ns, b.Ns}, {"additional", a.Extra, b.Extra}} {
			if x, y := withTTLs(s.a), withTTLs(s.b); !slices.Equal(x, y) {
				t.Errorf("%s %s over %s, %s with TTLs:\n  kubesvc %q\n  stock   %q", name, dns.TypeToString[qtype], proto, s.name, x, y)
			}
		}
	}
}

// soaOf is the SOA in r's answer or authority.
func soaOf(r *dns.Msg) *dns.SOA {
	for _, rr := range append(slices.Clone(r.Answer), r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

// With a large ttl, stock caps the SOA's own TTL at 300 s (its MINIMUM stays
// ttl), so resolvers cache NXDOMAIN and NODATA for 5 minutes, not an hour;
// kubesvc gives every record the TTL stock gives it.
func TestDifferentialLargeTTLAsStock(t *testing.T) {
	suite(t)
	const ns = "e2e-ttl"
	namespace(t, ns)
	svc := createService(t, clusterIPService(ns, "svc1", "http", 80))
	createService(t, headlessService(ns, "hl", "http", 8080))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 8080, ep{ip: "10.41.0.1", hostname: "web-0"}, ep{ip: "10.41.0.2"}))
	createService(t, externalNameService(ns, "ext", "blog.mosuke.tech"))
	kubesvc, stock := differentialPair(t, "ttl 3600")
	for _, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, "the objects are served", answers(s.Ports.DNSAddr(), "web-0.hl.e2e-ttl.svc.cluster.local.", dns.TypeA, want{anyAnswer: true}))
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"nope.e2e-ttl.svc.cluster.local.", dns.TypeA},     // NXDOMAIN
		{"svc1.e2e-ttl.svc.cluster.local.", dns.TypeAAAA},  // NODATA
		{"e2e-ttl.svc.cluster.local.", dns.TypeA},          // NODATA, a parent
		{"web-1.hl.e2e-ttl.svc.cluster.local.", dns.TypeA}, // NXDOMAIN below a headless service
		{"nope.e2e-ttl.pod.cluster.local.", dns.TypeA},
		{"cluster.local.", dns.TypeSOA},
		{"svc1.e2e-ttl.svc.cluster.local.", dns.TypeA},
		{"hl.e2e-ttl.svc.cluster.local.", dns.TypeA},
		{"_http._tcp.hl.e2e-ttl.svc.cluster.local.", dns.TypeSRV},
		{"_http._tcp.svc1.e2e-ttl.svc.cluster.local.", dns.TypeSRV},
		{reverse(t, svc.Spec.ClusterIP), dns.TypePTR},
		{"10-1-2-3.e2e-ttl.pod.cluster.local.", dns.TypeA},
		{"ext.e2e-ttl.svc.cluster.local.", dns.TypeCNAME},
		{"ext.e2e-ttl.svc.cluster.local.", dns.TypeA},
		{"dns-version.cluster.local.", dns.TypeTXT},
	} {
		sameTTLsAsStock(t, kubesvc, stock, q.name, q.qtype)
	}
	r := query(t, kubesvc.Ports.DNSAddr(), "udp", "nope.e2e-ttl.svc.cluster.local.", dns.TypeA)
	if soa := soaOf(r); r.Rcode != dns.RcodeNameError || soa == nil || soa.Hdr.Ttl != 300 || soa.Minttl != 3600 {
		t.Errorf("want NXDOMAIN with a SOA of TTL 300 and MINIMUM 3600 (cached 300 s), got\n%v", r)
	}
}

// denial_ttl sets how long resolvers cache a denial, whatever ttl is: a
// StatefulSet pod that looked its own name up before its endpoint was
// published gets it as soon as that is cached out, through a cache in front,
// while stock (same ttl, no such option) hides it for 300 s.
func TestDenialTTL(t *testing.T) {
	suite(t)
	const ns = "e2e-denial"
	namespace(t, ns)
	createService(t, headlessService(ns, "web", "http", 8080))
	createSlice(t, slice(ns, "web-a", "web", "http", 8080, ep{ip: "10.42.0.1", hostname: "web-0"}))
	options := []string{"ttl 3600", "server:cache 3600"}
	kubesvc := ownCoreDNS(t, "kubesvc", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, append(options, "denial_ttl 1")...)
	})
	stock := stockCoreDNS(t, "stock", func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubernetes", p, kc, options...)
	})
	const pod = "web-1.web.e2e-denial.svc.cluster.local."
	for _, s := range []*coredns.Server{kubesvc, stock} {
		if err := s.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "web-0 is served", answers(s.Ports.DNSAddr(), "web-0.web.e2e-denial.svc.cluster.local.", dns.TypeA, want{anyAnswer: true}))
		r := query(t, s.Ports.DNSAddr(), "udp", pod, dns.TypeA) // the cache keeps this NXDOMAIN
		if r.Rcode != dns.RcodeNameError {
			t.Fatalf("%s before web-1 exists: want NXDOMAIN, got\n%v", pod, r)
		}
	}
	r := query(t, kubesvc.Ports.DNSAddr(), "udp", "nope.e2e-denial.svc.cluster.local.", dns.TypeA)
	// The cache in front raises a TTL to its minimum of 5 s.
	if soa := soaOf(r); soa == nil || soa.Hdr.Ttl > 5 || soa.Minttl != 1 {
		t.Errorf("denial_ttl 1: want the SOA's MINIMUM 1 and its TTL 1 (5, the cache's minimum), got\n%v", r)
	}
	r = query(t, kubesvc.Ports.DNSAddr(), "udp", "web-0.web.e2e-denial.svc.cluster.local.", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl < 3590 {
		t.Errorf("denial_ttl must leave the records' ttl 3600, got\n%v", r)
	}

	createSlice(t, slice(ns, "web-b", "web", "http", 8080, ep{ip: "10.42.0.2", hostname: "web-1"}))
	took := eventually(t, 20*time.Second, "kubesvc answers web-1 through the cache", answers(kubesvc.Ports.DNSAddr(), pod, dns.TypeA,
		want{answer: []string{pod + " * IN A 10.42.0.2"}}))
	// The cache keeps a denial at least 5 s (its MINTTL); stock's for 300 s.
	if r := query(t, stock.Ports.DNSAddr(), "udp", pod, dns.TypeA); r.Rcode != dns.RcodeNameError || soaOf(r) == nil || soaOf(r).Hdr.Ttl < 250 {
		t.Errorf("stock, %v after kubesvc answered: want its cached NXDOMAIN with about 300 s left, got\n%v", took, r)
	}
	t.Logf("kubesvc answered web-1 %v after its slice was created; stock still denies it", took)
}

// writeTLSFiles writes cfg's client certificate, key and CA into dir for the
// tls option.
func writeTLSFiles(t *testing.T, dir string, cfg *rest.Config) string {
	t.Helper()
	var paths []string
	for _, f := range []struct {
		name string
		data []byte
	}{{"client.crt", cfg.CertData}, {"client.key", cfg.KeyData}, {"ca.crt", cfg.CAData}} {
		if b, _ := pem.Decode(f.data); b == nil {
			t.Fatalf("%s: the envtest config holds no PEM data", f.name)
		}
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return "tls " + strings.Join(paths, " ")
}

// endpointCorefile is PluginCorefile reaching the API server through
// endpoint and tls instead of a kubeconfig. The endpoint line lists a second
// URL, where nothing listens: stock's deprecated list, of which both use
// only the first.
func endpointCorefile(directive string, p coredns.Ports, kc, endpoint, tls string) string {
	cf := coredns.PluginCorefile(directive, p, kc)
	return strings.Replace(cf, "kubeconfig "+kc+"\n", "endpoint "+endpoint+" https://127.0.0.1:1\n        "+tls+"\n", 1)
}

// tls CERT KEY CACERT with endpoint reaches the API server with that client
// certificate, as stock does; a file that does not load stops the start with
// an error naming tls. endpoint may list several URLs, as stock's.
func TestDifferentialTLSWithEndpoint(t *testing.T) {
	suite(t)
	const ns = "e2e-tls"
	namespace(t, ns)
	createService(t, clusterIPService(ns, "svc1", "http", 80))
	own := writeTLSFiles(t, t.TempDir(), kube.CoreDNS)
	admin := writeTLSFiles(t, t.TempDir(), kube.Admin)
	kubesvc := ownCoreDNS(t, "kubesvc", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return endpointCorefile("kubesvc", p, kc, kube.CoreDNS.Host, own)
	})
	stock := stockCoreDNS(t, "stock", func(p coredns.Ports, kc string) string {
		return endpointCorefile("kubernetes", p, kc, kube.Admin.Host, admin)
	})
	for _, s := range []*coredns.Server{kubesvc, stock} {
		if !strings.Contains(readFile(t, s.Conf), "        tls ") || strings.Contains(readFile(t, s.Conf), "kubeconfig") {
			t.Fatalf("the Corefile must use endpoint and tls, not a kubeconfig:\n%s", readFile(t, s.Conf))
		}
		if err := s.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "svc1 is served", answers(s.Ports.DNSAddr(), "svc1.e2e-tls.svc.cluster.local.", dns.TypeA, want{anyAnswer: true}))
	}
	for _, name := range []string{"svc1.e2e-tls.svc.cluster.local.", "nope.e2e-tls.svc.cluster.local."} {
		sameAsStock(t, kubesvc, stock, name, dns.TypeA)
	}

	missing := "tls " + filepath.Join(t.TempDir(), "none.crt") + " " + filepath.Join(t.TempDir(), "none.key") + " " + filepath.Join(t.TempDir(), "none.crt")
	failsToStart(t, func(p coredns.Ports, kc string) string {
		return endpointCorefile("kubesvc", p, kc, kube.CoreDNS.Host, missing)
	}, "tls: client certificate")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// failsToStart runs bin/coredns with corefile and fails t unless it exits
// with an error that contains want.
func failsToStart(t *testing.T, corefile func(coredns.Ports, string) string, want string) {
	t.Helper()
	kc, err := kube.CoreDNSKubeconfig("refused.kubeconfig", sharedProxy.URL())
	if err != nil {
		t.Fatal(err)
	}
	ports, err := coredns.NewPorts()
	if err != nil {
		t.Fatal(err)
	}
	s, err := coredns.Start(corednsBin, corefile(ports, kc), ports, coredns.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(5 * time.Second)
	select {
	case <-s.Exited():
	case <-time.After(20 * time.Second):
		t.Fatalf("bin/coredns still runs, want it refused with %q; output:\n%s", want, s.Log())
	}
	if s.ExitErr() == nil || !strings.Contains(s.Log(), want) {
		t.Errorf("want bin/coredns to exit with an error saying %q, got %v; output:\n%s", want, s.ExitErr(), s.Log())
	}
}

// The stock client options kubesvc needs no such thing for are accepted, and
// both servers give the same answers with them.
func TestDifferentialAPIClientOptions(t *testing.T) {
	suite(t)
	const ns = "e2e-client-opts"
	namespace(t, ns)
	createService(t, clusterIPService(ns, "svc1", "http", 80))
	createService(t, headlessService(ns, "hl", "http", 8080))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 8080, ep{ip: "10.43.0.1", hostname: "web-0"}))
	kubesvc, stock := differentialPair(t, "apiserver_qps 50", "apiserver_burst 100", "apiserver_max_inflight 4", "startup_timeout 10s")
	for _, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, "the objects are served", answers(s.Ports.DNSAddr(), "web-0.hl.e2e-client-opts.svc.cluster.local.", dns.TypeA, want{anyAnswer: true}))
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"svc1.e2e-client-opts.svc.cluster.local.", dns.TypeA},
		{"_http._tcp.hl.e2e-client-opts.svc.cluster.local.", dns.TypeSRV},
		{"nope.e2e-client-opts.svc.cluster.local.", dns.TypeA},
	} {
		sameAsStock(t, kubesvc, stock, q.name, q.qtype)
	}
}

// Wildcard names (`*` for a label, answered by stock before 1.9.0) are not
// answered, by kubesvc as by stock.
func TestDifferentialWildcardsUnanswered(t *testing.T) {
	suite(t)
	const ns = "e2e-wild"
	namespace(t, ns)
	createService(t, clusterIPService(ns, "svc1", "http", 80))
	createService(t, headlessService(ns, "hl", "http", 8080))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 8080, ep{ip: "10.44.0.1", hostname: "web-0"}))
	kubesvc, stock := differentialPair(t)
	for _, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, "the objects are served", answers(s.Ports.DNSAddr(), "web-0.hl.e2e-wild.svc.cluster.local.", dns.TypeA, want{anyAnswer: true}))
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"*.e2e-wild.svc.cluster.local.", dns.TypeA},
		{"svc1.*.svc.cluster.local.", dns.TypeA},
		{"*.*.svc.cluster.local.", dns.TypeA},
		{"*.hl.e2e-wild.svc.cluster.local.", dns.TypeA},
		{"_*._tcp.svc1.e2e-wild.svc.cluster.local.", dns.TypeSRV},
		{"_http._*.svc1.e2e-wild.svc.cluster.local.", dns.TypeSRV},
		{"any.e2e-wild.svc.cluster.local.", dns.TypeA},
	} {
		sameAsStock(t, kubesvc, stock, q.name, q.qtype)
		r := query(t, kubesvc.Ports.DNSAddr(), "udp", q.name, q.qtype)
		if len(r.Answer) != 0 {
			t.Errorf("%s: want no answer for a wildcard, got\n%v", q.name, r)
		}
	}
}

// What stock offers that kubesvc refuses fails the start with an error that
// says what to use instead: `pods verified` (a Pod watch) and the autopath
// plugin (`autopath @kubernetes`), whose work kubesvc's own option does.
func TestRefusedStockOptionsSayWhatToUse(t *testing.T) {
	suite(t)
	for _, tc := range []struct {
		options []string
		want    string
	}{
		{[]string{"pods verified"}, "pods verified is not supported: kubesvc does not watch Pods; use `pods insecure`"},
		{[]string{"server:autopath @kubernetes"}, "put `autopath [RESOLV_CONF]` inside the kubesvc block"},
		{[]string{"server:autopath @kubesvc"}, "put `autopath [RESOLV_CONF]` inside the kubesvc block"},
	} {
		t.Run(fmt.Sprint(tc.options), func(t *testing.T) {
			failsToStart(t, func(p coredns.Ports, kc string) string {
				return coredns.PluginCorefile("kubesvc", p, kc, tc.options...)
			}, tc.want)
		})
	}
}
