package kubesvc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fakeUpstream stands for the rest of the plugin chain: a map of names to
// A records, NXDOMAIN for the rest. It counts what it was asked.
type fakeUpstream struct {
	addrs map[string]string // lower-cased FQDN -> IPv4
	delay time.Duration

	mu    sync.Mutex
	asked []string
}

func (f *fakeUpstream) Lookup(ctx context.Context, _ request.Request, name string, typ uint16) (*dns.Msg, error) {
	f.mu.Lock()
	f.asked = append(f.asked, name)
	f.mu.Unlock()
	time.Sleep(f.delay)
	m := new(dns.Msg)
	m.SetQuestion(name, typ)
	ip, ok := f.addrs[strings.ToLower(name)]
	if !ok {
		m.Rcode = dns.RcodeNameError
		return m, nil
	}
	if typ == dns.TypeA {
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: net.ParseIP(ip)}}
	}
	return m, nil
}

func (f *fakeUpstream) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

var documentsUpstream = map[string]string{
	"blog.mosuke.tech.":                   "172.67.165.72",
	"wttr.in.":                            "5.9.243.187",
	"printer.corp.example.":               "192.0.2.80",
	"fileserver.corp.example.":            "192.0.2.81",
	"sample-clusterip.corp.example.":      "192.0.2.82", // shadowed by the cluster
	"httpd-example.mosuke5.corp.example.": "192.0.2.83",
}

func autopathSeed() []runtime.Object {
	return append(seed(),
		clusterIPSvc("mosuke5", "httpd-example", []string{"10.96.147.209"}, svcPort("8080-tcp", corev1.ProtocolTCP, 8080)),
		externalSvc("default", "weather-ext-svc", "wttr.in"))
}

func newAutopathKubeSvc(t *testing.T, up *fakeUpstream) *KubeSvc {
	t.Helper()
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\nsearch corp.example\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local in-addr.arpa ip6.arpa {\nautopath "+resolv+"\nttl 30\n}", autopathSeed()...)
	k.upstream = up
	return k
}

// askFrom sends a question from a client address.
func askFrom(k *KubeSvc, client string, name string, qtype uint16) *dns.Msg {
	w := &test.ResponseWriter{RemoteIP: client}
	rec := dnstest.NewRecorder(w)
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	k.ServeDNS(context.Background(), rec, m)
	return rec.Msg
}

func TestAutopath(t *testing.T) {
	up := &fakeUpstream{addrs: documentsUpstream}
	k := newAutopathKubeSvc(t, up)
	for _, tc := range []struct {
		qname  string
		qtype  uint16
		rcode  int
		target string // CNAME target, "" for none
		addr   string // the address that follows, "" for none
	}{
		// A pod in test resolving blog.mosuke.tech: first query completed.
		{"blog.mosuke.tech.test.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "blog.mosuke.tech.", "172.67.165.72"},
		// httpd-example.mosuke5 from default: the cluster answers at svc.<zone>.
		{"httpd-example.mosuke5.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "httpd-example.mosuke5.svc.cluster.local.", "10.96.147.209"},
		// A name of the node's search domain.
		{"fileserver.corp.example.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "fileserver.corp.example.", "192.0.2.81"},
		// Through an ExternalName found on the way: the CNAME chain is whole.
		{"weather-ext-svc.default.test.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "weather-ext-svc.default.svc.cluster.local.", "5.9.243.187"},
		// A real cluster record is never rewritten.
		{"sample-clusterip.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "", "10.96.246.109"},
		// Unknown namespace: left alone.
		{"blog.mosuke.tech.nosuchns.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		// Other types: left alone.
		{"blog.mosuke.tech.test.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError, "", ""},
		{"blog.mosuke.tech.test.svc.cluster.local.", dns.TypeMX, dns.RcodeNameError, "", ""},
		// Nothing anywhere: the original NXDOMAIN.
		{"nothing.example.test.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		// A name with an A record only: AAAA gets the CNAME and no data,
		// not an NXDOMAIN that would contradict the A answer.
		{"blog.mosuke.tech.test.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, "blog.mosuke.tech.", ""},
		// <pod>.<svc>.<ns> is a name under a service, not a walk from <ns>.
		{"nobody.sample-headless.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
	} {
		m := askFrom(k, "10.244.0.5", tc.qname, tc.qtype)
		if m == nil || m.Rcode != tc.rcode {
			t.Errorf("%s %s: want %s, got %v", tc.qname, dns.TypeToString[tc.qtype], dns.RcodeToString[tc.rcode], m)
			continue
		}
		checkCompletion(t, m, tc.qname, tc.target, tc.addr)
		if tc.target != "" && m.Answer[0].Header().Ttl > k.ttl {
			t.Errorf("%s: the shortcut's TTL %d outlives the cluster's %d", tc.qname, m.Answer[0].Header().Ttl, k.ttl)
		}
	}
}

// checkCompletion checks the answer is CNAME qname -> target (when target is
// set) followed by records ending in addr, with the CNAME's TTL the chain's
// smallest.
func checkCompletion(t *testing.T, m *dns.Msg, qname, target, addr string) {
	t.Helper()
	if target == "" {
		if len(m.Answer) > 0 && m.Answer[0].Header().Rrtype == dns.TypeCNAME {
			t.Errorf("%s: unexpected CNAME %v", qname, m)
		}
	} else {
		c, ok := m.Answer[0].(*dns.CNAME)
		if !ok || c.Hdr.Name != qname || c.Target != target {
			t.Errorf("%s: want CNAME to %s first, got %v", qname, target, m)
			return
		}
		for _, rr := range m.Answer[1:] {
			if rr.Header().Ttl < c.Hdr.Ttl {
				t.Errorf("%s: CNAME TTL %d above the chain's %d", qname, c.Hdr.Ttl, rr.Header().Ttl)
			}
		}
	}
	if addr != "" {
		a, ok := m.Answer[len(m.Answer)-1].(*dns.A)
		if !ok || a.A.String() != addr {
			t.Errorf("%s: want the answer to end in A %s, got %v", qname, addr, m)
		}
	}
}

// The ambiguity of the issue: a pod in default resolving printer.mosuke5
// (no such service; the node domain has a host "printer") must end with
// NXDOMAIN at every step, although printer.mosuke5.svc.cluster.local looks
// like the first step of a walk for "printer" from mosuke5.
func TestAutopathNeverInventsNames(t *testing.T) {
	up := &fakeUpstream{addrs: map[string]string{"printer.corp.example.": "192.0.2.80", "printer.": "192.0.2.99"}}
	k := newAutopathKubeSvc(t, up)
	steps := []string{
		"printer.mosuke5.default.svc.cluster.local.",
		"printer.mosuke5.svc.cluster.local.",
		"printer.mosuke5.cluster.local.",
	}
	for _, client := range []string{"10.244.0.7", "10.244.9.9"} {
		// The second client's first step went to another replica: this
		// server sees only the later steps, with no memory of the walk.
		for i, q := range steps {
			if client == "10.244.9.9" && i == 0 {
				continue
			}
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if m := askFrom(k, client, q, qtype); m == nil || m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 {
					t.Errorf("client %s, %s %s: want NXDOMAIN, got %v", client, q, dns.TypeToString[qtype], m)
				}
			}
		}
	}
	// A multi-label name whose walk this client already did is left alone.
	up.addrs["a.b."] = "192.0.2.1"
	if m := askFrom(k, "10.244.0.8", "a.b.test.default.svc.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("walk for a.b.test: want NXDOMAIN, got %v", m)
	}
	if m := askFrom(k, "10.244.0.8", "a.b.test.svc.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("second step of the walk for a.b.test must not become a walk for a.b from namespace test: %v", m)
	}
	// From a client with no such walk, the same query is a first step.
	if m := askFrom(k, "10.244.0.9", "a.b.test.svc.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeSuccess {
		t.Errorf("a first step for a.b from namespace test should complete: %v", m)
	}
}

func TestAutopathBoundedAndTimely(t *testing.T) {
	up := &fakeUpstream{addrs: documentsUpstream, delay: 3 * time.Second}
	k := newAutopathKubeSvc(t, up)
	start := time.Now()
	m := askFrom(k, "10.244.0.5", "blog.mosuke.tech.test.svc.cluster.local.", dns.TypeA)
	if took := time.Since(start); took > chaseTimeout+time.Second {
		t.Errorf("a hanging upstream held the answer for %v", took)
	}
	if m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("with the upstream hanging, want the original NXDOMAIN, got %v", m)
	}
	if n := len(k.candidates("x.y", 0)); n > 2+maxSearch+1 {
		t.Errorf("walk of %d names exceeds the bound", n)
	}
}

func TestAutopathOffByDefault(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, autopathSeed()...)
	up := &fakeUpstream{addrs: documentsUpstream}
	k.upstream = up
	if m := askFrom(k, "10.244.0.5", "blog.mosuke.tech.test.svc.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("autopath off: want NXDOMAIN, got %v", m)
	}
	if q := up.questions(); len(q) != 0 {
		t.Errorf("autopath off: the upstream was asked %v", q)
	}
}

func TestChase(t *testing.T) {
	k, client := newTestKubeSvc(t, clusterCorefile, autopathSeed()...)
	k.upstream = &fakeUpstream{addrs: documentsUpstream}
	m := askFrom(k, "10.244.0.5", "my-blog.test.svc.cluster.local.", dns.TypeA)
	if m == nil || len(m.Answer) != 2 || m.Answer[0].(*dns.CNAME).Target != "blog.mosuke.tech." || m.Answer[1].(*dns.A).A.String() != "172.67.165.72" {
		t.Fatalf("want CNAME and the target's A, got %v", m)
	}
	// ExternalNames pointing at each other end promptly.
	for _, s := range []*corev1.Service{
		externalSvc("default", "loop-a", "loop-b.default.svc.cluster.local"),
		externalSvc("default", "loop-b", "loop-a.default.svc.cluster.local"),
	} {
		if _, err := client.CoreV1().Services("default").Create(context.Background(), s, metav1Create); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "loop services", func() bool { return k.w.ix.lookup("loop-b.default.svc.cluster.local.") != nil })
	k.upstream = &selfUpstream{k: k}
	start := time.Now()
	m = askFrom(k, "10.244.0.5", "loop-a.default.svc.cluster.local.", dns.TypeA)
	if time.Since(start) > time.Second || m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) < 1 {
		t.Fatalf("loop: want a prompt NOERROR with CNAMEs, got %v after %v", m, time.Since(start))
	}
	if len(m.Answer) > 2 {
		t.Errorf("loop: the chain repeats records: %v", m)
	}
	// A hanging upstream: the CNAME alone, in time.
	k.upstream = &fakeUpstream{addrs: documentsUpstream, delay: 5 * time.Second}
	start = time.Now()
	m = askFrom(k, "10.244.0.5", "my-blog.test.svc.cluster.local.", dns.TypeA)
	if took := time.Since(start); took > chaseTimeout+time.Second || m == nil || len(m.Answer) != 1 {
		t.Fatalf("hanging upstream: want the CNAME alone within %v, got %v after %v", chaseTimeout, m, took)
	}
}

// selfUpstream sends lookups back into the plugin, as the server's chain
// does for names in the plugin's zones.
type selfUpstream struct{ k *KubeSvc }

func (s *selfUpstream) Lookup(ctx context.Context, state request.Request, name string, typ uint16) (*dns.Msg, error) {
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	m := new(dns.Msg)
	m.SetQuestion(name, typ)
	s.k.ServeDNS(ctx, rec, m)
	return rec.Msg, nil
}
