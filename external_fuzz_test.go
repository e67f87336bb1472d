package kubesvc

import (
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzServeExternal asks the external zone arbitrary names: every answer
// packs, echoes the question, is NOERROR or NXDOMAIN, and owns its records
// by the name as asked, but for the apex's SOA and NS, which stock owns by
// the zone as configured (TestDifferentialExternal asks Example.COM. SOA);
// what is not the zone's goes on.
func FuzzServeExternal(f *testing.F) {
	for _, seed := range []string{
		"web.default.example.com.", "_https._tcp.web.default.example.com.", "hl.default.example.com.",
		"web-0.hl.default.example.com.", "example.com.", "ns1.dns.example.com.", "dns.example.com.",
		"xxx.example.com.", "Web.Example.COM.", "52.0.168.192.in-addr.arpa.", "in-addr.arpa.", `a\.b.example.com.`,
		"a..example.com.", "*.example.com.", "default.example.com.", "ttl.example.com.", "named.default.example.com.",
	} {
		f.Add(seed, dns.TypeA)
	}
	f.Add("eXAmple.Com.", dns.TypeSOA) // found by the fuzzer: stock's apex SOA is the zone's
	f.Add("eXAmple.Com.", dns.TypeNS)
	objs := append(externalSeed(), namesSeed()[1:]...) // both have a web
	e, _ := newTestExternal(f, clusterCorefile, "k8s_external example.com in-addr.arpa {\n headless\n ingress\n hostnames\n}", objs...)
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		wire, err := test.Case{Qname: name, Qtype: qtype}.Msg().Pack()
		if err != nil {
			return // not a name a client can send
		}
		q := new(dns.Msg)
		if err := q.Unpack(wire); err != nil {
			return
		}
		name = q.Question[0].Name
		rcode, m := ask(e, test.Case{Qname: name, Qtype: qtype})
		if m == nil {
			if rcode != dns.RcodeRefused { // the next plugin's, for names outside the zones
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
			if rt := rr.Header().Rrtype; (rt == dns.TypeSOA || rt == dns.TypeNS) && slices.Contains(e.zones, rr.Header().Name) {
				continue // the apex's own records are owned by the zone's name, as stock's (the differential test asks Example.COM.)
			}
			if owner := rr.Header().Name; strings.EqualFold(owner, name) && owner != name {
				t.Fatalf("%q %d: answer owned by %q, not the name as asked\n%v", name, qtype, owner, m)
			}
		}
	})
}

// FuzzParseExternal feeds arbitrary blocks to k8s_external's parser: it
// returns an error or a complete block, never panics.
func FuzzParseExternal(f *testing.F) {
	for _, seed := range []string{
		"example.com {\nttl 30\n}", "{\napex ns\nheadless\nfallthrough a.b\n}", "example.com in-addr.arpa",
		"{\ningress\nhostnames\npublic 203.0.113.1 ::1\n}", "{\npublic\n}", "{\nttl 99999999999999999999\n}",
		"{\n}\n}", "a {\nb {\n}\n}", "{\napex -\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, block string) {
		e, err := parseExternal(caddy.NewTestController("dns", "k8s_external "+block))
		if err == nil && (e == nil || len(e.zones) == 0 || e.ttl > maxTTL || !isLabel(e.apex)) {
			t.Fatalf("%q: accepted but incomplete: %+v", block, e)
		}
	})
}
