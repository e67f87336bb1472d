package kubesvc

import (
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary question names and types to a synced plugin.
// It must never panic, and every answer must be a message that packs, with
// an rcode the plugin may give.
func FuzzServeDNS(f *testing.F) {
	for _, seed := range []string{
		"sample-clusterip.default.svc.cluster.local.", "_http-port._tcp.sample-headless.default.svc.cluster.local.",
		"1-2-3-4.default.pod.cluster.local.", "fd00--1.default.pod.cluster.local.", "cluster.local.",
		"109.246.96.10.in-addr.arpa.", "a..b.cluster.local.", `\046.svc.cluster.local.`, "svc.cluster.local.",
		"x.y.test.svc.cluster.local.", ".", "pod.cluster.local.", "-.-.pod.cluster.local.",
		"Sample-ClusterIP.Default.SVC.Cluster.Local.", "_HTTP-port._Tcp.Sample-Headless.default.svc.CLUSTER.local.",
		"CLUSTER.LOCAL.", "Nope.Cluster.Local.", "109.246.96.10.IN-ADDR.ARPA.",
		"us-west-2a.pin._zone.db.default.svc.cluster.local.", "X.Prefer._zone.DB.default.svc.cluster.local.",
		"db.default.svc.clusterset.local.", "db-0.cluster-a.db.default.svc.clusterset.local.",
	} {
		f.Add(seed, uint16(dns.TypeA))
	}
	k, _ := newTestKubeSvc(f, "kubesvc cluster.local clusterset.local in-addr.arpa ip6.arpa {\npods insecure\nautopath\nfallthrough in-addr.arpa\nzonal\nmulticluster clusterset.local\n}",
		slices.Concat(seed(), zonalSeed(), multiclusterSeed()[1:])...)
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		// The question as the server would see it: off the wire.
		wire, err := test.Case{Qname: name, Qtype: qtype}.Msg().Pack()
		if err != nil {
			return // not a name a client can send
		}
		q := new(dns.Msg)
		if err := q.Unpack(wire); err != nil {
			return
		}
		name = q.Question[0].Name
		rcode, m := ask(k, test.Case{Qname: name, Qtype: qtype})
		if m == nil {
			if rcode != 0 && rcode != dns.RcodeRefused && rcode != dns.RcodeServerFailure {
				t.Fatalf("%q %d: no message, rcode %d", name, qtype, rcode)
			}
			return
		}
		if _, err := m.Pack(); err != nil {
			t.Fatalf("%q %d: answer does not pack: %v\n%v", name, qtype, err, m)
		}
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
			t.Fatalf("%q %d: rcode %s", name, qtype, dns.RcodeToString[m.Rcode])
		}
		if m.Question[0].Name != name {
			t.Fatalf("question not echoed: %q vs %q", m.Question[0].Name, name)
		}
		for _, rr := range m.Answer {
			if owner := rr.Header().Name; strings.EqualFold(owner, name) && owner != name {
				t.Fatalf("%q %d: answer owned by %q, not the name as asked\n%v", name, qtype, owner, m)
			}
		}
	})
}

// FuzzParse feeds arbitrary Corefile blocks to the parser: it must return a
// value or an error, never panic.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"cluster.local {\nttl 30\n}", "{\npods insecure\nfallthrough in-addr.arpa\n}", "in-addr.arpa",
		"cluster.local {\nlabels a in (b,c)\nnamespaces x y\n}", "{\nendpoint http://x\nkubeconfig a b\n}",
		"{\nautopath\n}", "{\nzonal\n}", "cluster.local clusterset.local {\nmulticluster clusterset.local\n}", "{\nttl 99999999999999999999\n}", "{\n}\n}", "a {\nb {\n}\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, block string) {
		if strings.Contains(block, "autopath /") {
			t.Skip("reads files") // a path would make the parser read any file
		}
		k, _, err := parse(caddy.NewTestController("dns", "kubesvc "+block))
		if err == nil && (k == nil || len(k.zones) == 0 || k.ttl > maxTTL) {
			t.Fatalf("%q: accepted but incomplete: %+v", block, k)
		}
	})
}
