package kubesvc

import (
	"context"
	"fmt"
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
	addrs     map[string]string // lower-cased FQDN -> IPv4
	truncated map[string]bool   // names whose answer comes back truncated
	servfail  map[string]bool   // names whose lookup fails
	delay     time.Duration

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
	if f.servfail[strings.ToLower(name)] {
		m.Rcode = dns.RcodeServerFailure
		return m, nil
	}
	if f.truncated[strings.ToLower(name)] {
		m.Truncated = true
		return m, nil
	}
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
	"lp.floor2.corp.example.":             "198.51.100.12",
	"x.default.pod.corp.example.":         "192.0.2.84",
}

func autopathSeed() []runtime.Object {
	return append(seed(),
		clusterIPSvc("mosuke5", "httpd-example", []string{"10.96.147.209"}, svcPort("8080-tcp", corev1.ProtocolTCP, 8080)),
		clusterIPSvc("bugm5", "web", []string{"10.96.5.5"}, svcPort("http", corev1.ProtocolTCP, 80)),
		clusterIPSvc("bugdef", "web", []string{"10.96.5.6"}, svcPort("http", corev1.ProtocolTCP, 80)),
		externalSvc("default", "weather-ext-svc", "wttr.in"))
}

// newAutopathKubeSvc is a plugin with autopath on whose node search domains
// are search (corp.example if none), in zones cluster.local and the reverse
// zones unless zones is given.
func newAutopathKubeSvc(t *testing.T, up *fakeUpstream, zones string, search ...string) *KubeSvc {
	t.Helper()
	if len(search) == 0 {
		search = []string{"corp.example"}
	}
	if zones == "" {
		zones = "cluster.local in-addr.arpa ip6.arpa"
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\nsearch "+strings.Join(search, " ")+"\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, _ := newTestKubeSvc(t, "kubesvc "+zones+" {\nautopath "+resolv+"\nttl 30\n}", autopathSeed()...)
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
	k := newAutopathKubeSvc(t, up, "")
	for _, tc := range []struct {
		qname  string
		qtype  uint16
		rcode  int
		target string // CNAME target, "" for none
		addr   string // the address that follows, "" for none
	}{
		// The zone step of blog.mosuke.tech: completed to the name itself
		// once the node domain does not have it.
		{"blog.mosuke.tech.cluster.local.", dns.TypeA, dns.RcodeSuccess, "blog.mosuke.tech.", "172.67.165.72"},
		// A name of the node's search domain.
		{"fileserver.cluster.local.", dns.TypeA, dns.RcodeSuccess, "fileserver.corp.example.", "192.0.2.81"},
		{"lp.floor2.cluster.local.", dns.TypeA, dns.RcodeSuccess, "lp.floor2.corp.example.", "198.51.100.12"},
		// A name with an A record only: AAAA is left to the client, whose
		// resolver may go on past the NODATA (glibc does when it looks up
		// AAAA alone) or stop there (with A and AAAA together).
		{"blog.mosuke.tech.cluster.local.", dns.TypeAAAA, dns.RcodeNameError, "", ""},
		// Under svc.<zone> a question is a step of several walks: left alone.
		{"blog.mosuke.tech.test.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		{"blog.mosuke.tech.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		{"httpd-example.mosuke5.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		{"lp.floor2.bugm5.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		{"nobody.sample-headless.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		// pod.<zone> is the cluster's too.
		{"x.default.pod.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		// A real cluster record is never rewritten.
		{"sample-clusterip.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "", "10.96.246.109"},
		// Other types: left alone.
		{"blog.mosuke.tech.cluster.local.", dns.TypeSRV, dns.RcodeNameError, "", ""},
		{"blog.mosuke.tech.cluster.local.", dns.TypeMX, dns.RcodeNameError, "", ""},
		// Nothing anywhere: the original NXDOMAIN.
		{"nothing.example.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
		{"lp.floor2.bugm5.cluster.local.", dns.TypeA, dns.RcodeNameError, "", ""},
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

// walkSteps are the questions of a pod in ns looking up typed, in order.
func walkSteps(ns, typed string) []string {
	return []string{typed + "." + ns + ".svc.cluster.local.", typed + ".svc.cluster.local.", typed + ".cluster.local.", typed + ".corp.example.", typed + "."}
}

// The two walks: client A (a pod in bugm5) resolves lp.floor2, which
// exists in the node domain; client B (a pod in bugdef) resolves
// lp.floor2.bugm5, which exists nowhere. Whatever order they come in, from
// one address or two (a NAT, NodeLocal DNSCache), among other lookups, or
// over two replicas, every step of B's walk is NXDOMAIN, and A's walk ends
// at lp.floor2.corp.example.
func TestAutopathNeverInventsNames(t *testing.T) {
	// The steps in the plugin's zone; the rest go past it, to the upstream.
	walkA := walkSteps("bugm5", "lp.floor2")[:3]
	walkB := walkSteps("bugdef", "lp.floor2.bugm5")[:3]
	for _, order := range []struct {
		name         string
		first, other string // client addresses: A's, then B's
		bFirst       bool
		replicas     bool // each step goes to the other of two replicas
		between      int  // unrelated first steps after each of B's (one address)
	}{
		{"A then B, two addresses", "10.244.0.4", "10.244.0.5", false, false, 0},
		{"A then B, one address", "10.244.0.4", "10.244.0.4", false, false, 0},
		{"B then A, one address", "10.244.0.4", "10.244.0.4", true, false, 0},
		{"A then B, two replicas", "10.244.0.4", "10.244.0.5", false, true, 0},
		{"B among other lookups, one address", "10.244.0.4", "10.244.0.4", false, false, 2},
	} {
		up := &fakeUpstream{addrs: documentsUpstream}
		replicas := []*KubeSvc{newAutopathKubeSvc(t, up, "")}
		if order.replicas {
			replicas = append(replicas, newAutopathKubeSvc(t, up, ""))
		}
		step := 0
		ask := func(who, q string, qtype uint16) *dns.Msg {
			return askFrom(replicas[step%len(replicas)], who, q, qtype)
		}
		walk := func(who string, steps []string) (answers []*dns.Msg) {
			for _, q := range steps {
				step++
				for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
					m := ask(who, q, qtype)
					if qtype == dns.TypeA {
						answers = append(answers, m)
					}
					if m != nil && m.Rcode == dns.RcodeSuccess {
						return answers
					}
				}
				for i := range order.between {
					ask(who, fmt.Sprintf("other%d.example.bugdef.svc.cluster.local.", i), dns.TypeA)
					ask(who, fmt.Sprintf("other%d.example.bugdef.svc.cluster.local.", i), dns.TypeAAAA)
				}
			}
			return answers
		}
		var a, b []*dns.Msg
		if order.bFirst {
			b, a = walk(order.other, walkB), walk(order.first, walkA)
		} else {
			a, b = walk(order.first, walkA), walk(order.other, walkB)
		}
		for i, m := range b {
			if m == nil || m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 {
				t.Errorf("%s: B's step %s A: want NXDOMAIN, got %v", order.name, walkB[i], m)
			}
		}
		if len(b) != len(walkB) {
			t.Errorf("%s: B's walk stopped after %d of %d steps", order.name, len(b), len(walkB))
		}
		last := a[len(a)-1]
		if last == nil || last.Rcode != dns.RcodeSuccess || len(last.Answer) == 0 {
			t.Errorf("%s: A's walk ended without an answer: %v", order.name, last)
			continue
		}
		checkCompletion(t, last, walkA[len(a)-1], "lp.floor2.corp.example.", "198.51.100.12")
	}
}

// A question that could be a step of more than one walk is left alone: under
// a node domain that lies in the zone, or under two of the plugin's zones.
func TestAutopathAmbiguousZoneSteps(t *testing.T) {
	up := &fakeUpstream{addrs: map[string]string{
		"printer.lab.cluster.local.corp.example.": "192.0.2.1",
		"printer.lab.": "192.0.2.2", "printer.": "192.0.2.3", "printer.cluster.": "192.0.2.4",
	}}
	k := newAutopathKubeSvc(t, up, "cluster.local local", "lab.cluster.local", "corp.example")
	for _, q := range []string{
		"printer.lab.cluster.local.", // the node-domain step of printer
		"printer.cluster.local.",     // the zone steps of printer and, in local, of printer.cluster
	} {
		if m := askFrom(k, "10.244.0.5", q, dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
			t.Errorf("%s: a step of more than one walk, want NXDOMAIN, got %v", q, m)
		}
	}
	// Pods search the cluster domain, the first forward zone, only: in
	// another zone a name is nobody's search step.
	if m := askFrom(k, "10.244.0.5", "printer.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("printer.local.: a name of a zone pods do not search, want NXDOMAIN, got %v", m)
	}
	// A question under the cluster domain alone is still completed.
	k = newAutopathKubeSvc(t, up, "cluster.local example.org", "corp.example")
	m := askFrom(k, "10.244.0.5", "printer.cluster.local.", dns.TypeA)
	if m == nil || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("printer.cluster.local.: want a completion, got %v", m)
	}
	checkCompletion(t, m, "printer.cluster.local.", "printer.", "192.0.2.3")
	if m := askFrom(k, "10.244.0.5", "printer.example.org.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("printer.example.org.: want NXDOMAIN, got %v", m)
	}
}

// Escaped dots are no label boundaries: blog\.cluster.local. is the labels
// "blog.cluster" and "local", in no zone of the plugin, and is passed on; a
// name with an escaped label in the zone is NXDOMAIN, never completed.
func TestEscapedDotsAreNoLabelBoundary(t *testing.T) {
	up := &fakeUpstream{addrs: map[string]string{"mail.corp.example.": "192.0.2.9", "mail\\.corp.example.": "192.0.2.10"}}
	k := newAutopathKubeSvc(t, up, "")
	if m := askFrom(k, "10.244.0.5", "blog\\.cluster.local.", dns.TypeA); m != nil {
		t.Errorf("blog\\.cluster.local. is in no zone of the plugin, want it passed on, got %v", m)
	}
	if m := askFrom(k, "10.244.0.5", "svc1.ns.svc\\.cluster.local.", dns.TypeA); m != nil {
		t.Errorf("svc1.ns.svc\\.cluster.local. is in no zone of the plugin, want it passed on, got %v", m)
	}
	if m := askFrom(k, "10.244.0.5", "mail\\.x.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("mail\\.x.cluster.local.: want NXDOMAIN, no completion, got %v", m)
	}
}

// A target whose answer came back truncated: the completion says so, so the
// client asks again over TCP instead of taking the CNAME alone.
func TestAutopathTruncatedTarget(t *testing.T) {
	up := &fakeUpstream{addrs: documentsUpstream, truncated: map[string]bool{"big.example.": true}}
	k := newAutopathKubeSvc(t, up, "")
	m := askFrom(k, "10.244.0.5", "big.example.cluster.local.", dns.TypeA)
	if m == nil || m.Rcode != dns.RcodeSuccess || !m.Truncated {
		t.Fatalf("want NOERROR with TC set, got %v", m)
	}
	checkCompletion(t, m, "big.example.cluster.local.", "big.example.", "")
	if m := askFrom(k, "10.244.0.5", "blog.mosuke.tech.cluster.local.", dns.TypeA); m == nil || m.Truncated {
		t.Errorf("a whole answer came back with TC set: %v", m)
	}
}

// A name whose lookup fails might exist: the walk is left to the client,
// whose own resolver decides whether to go on past the failure.
func TestAutopathStopsAtFailure(t *testing.T) {
	up := &fakeUpstream{addrs: map[string]string{"printer.": "192.0.2.99"}, servfail: map[string]bool{"printer.corp.example.": true}}
	k := newAutopathKubeSvc(t, up, "")
	if m := askFrom(k, "10.244.0.5", "printer.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError || len(m.Answer) > 0 {
		t.Errorf("printer.cluster.local.: printer.corp.example. failed, so want the original NXDOMAIN, got %v", m)
	}
}

// The walk tries at most maxSearch node domains; with more, it must not go
// on to the name itself, which the client asks only after the rest.
func TestAutopathBoundedAndTimely(t *testing.T) {
	var search []string
	for i := 1; i <= 12; i++ {
		search = append(search, fmt.Sprintf("d%d.example", i))
	}
	up := &fakeUpstream{addrs: map[string]string{"x.y.d10.example.": "192.0.2.10", "x.y.": "192.0.2.1"}}
	k := newAutopathKubeSvc(t, up, "", search...)
	if n := len(k.candidates("x.y")); n > maxSearch+1 {
		t.Errorf("walk of %d names exceeds the bound of %d", n, maxSearch+1)
	}
	m := askFrom(k, "10.244.0.5", "x.y.cluster.local.", dns.TypeA)
	if m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("x.y.cluster.local.: the client would find x.y.d10.example, past the domains walked; want NXDOMAIN, got %v", m)
	}
	if asked := up.questions(); len(asked) > maxSearch+1 {
		t.Errorf("one question made %d lookups: %v", len(asked), asked)
	}

	up = &fakeUpstream{addrs: documentsUpstream, delay: 3 * time.Second}
	k = newAutopathKubeSvc(t, up, "")
	start := time.Now()
	m = askFrom(k, "10.244.0.5", "blog.mosuke.tech.cluster.local.", dns.TypeA)
	if took := time.Since(start); took > chaseTimeout+time.Second {
		t.Errorf("a hanging upstream held the answer for %v", took)
	}
	if m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("with the upstream hanging, want the original NXDOMAIN, got %v", m)
	}
}

func TestAutopathOffByDefault(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, autopathSeed()...)
	up := &fakeUpstream{addrs: documentsUpstream}
	k.upstream = up
	if m := askFrom(k, "10.244.0.5", "blog.mosuke.tech.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("autopath off: want NXDOMAIN, got %v", m)
	}
	if q := up.questions(); len(q) != 0 {
		t.Errorf("autopath off: the upstream was asked %v", q)
	}
}
