package kubesvc

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every stock option parses as stock's does; every malformed one fails with
// an error that names it.
func TestParseExternal(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string // "" for none
	}{
		{"k8s_external", "needs a zone"}, // the server block's keys, and here there are none
		{"k8s_external example.com example.org", ""},
		{"k8s_external example.com {\n apex ns\n ttl 3600\n headless\n fallthrough\n}", ""},
		{"k8s_external example.com {\n fallthrough example.com\n}", ""},
		{"k8s_external example.com {\n ingress\n hostnames\n public 203.0.113.10 2001:db8::10\n}", ""},
		{"k8s_external example.com {\n public\n}", ""},
		{"k8s_external example.com {\n ttl\n}", "ttl needs one number"},
		{"k8s_external example.com {\n ttl 3601\n}", "ttl \"3601\" is not a number of seconds"},
		{"k8s_external example.com {\n ttl -1\n}", "ttl \"-1\""},
		{"k8s_external example.com {\n ttl five\n}", "ttl \"five\""},
		{"k8s_external example.com {\n apex\n}", "apex needs one DNS label"},
		{"k8s_external example.com {\n apex a.b\n}", "apex needs one DNS label"},
		{"k8s_external example.com {\n headless yes\n}", "headless takes no arguments"},
		{"k8s_external example.com {\n ingress all\n}", "ingress takes no arguments"},
		{"k8s_external example.com {\n hostnames x\n}", "hostnames takes no arguments"},
		{"k8s_external example.com {\n public 203.0.113.300\n}", "public: \"203.0.113.300\" is not an IP address"},
		{"k8s_external example.com {\n public fe80::1%eth0\n}", "is not an IP address"},
		{"k8s_external example.com {\n bogus\n}", "unknown option \"bogus\""},
		{"k8s_external example.com\nk8s_external example.org", "only be used once per server block"},
	} {
		e, err := parseExternal(caddy.NewTestController("dns", tc.in))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: want an error with %q, got %v (%+v)", tc.in, tc.wantErr, err, e)
		}
	}
	c := caddy.NewTestController("dns", "k8s_external")
	c.ServerBlockKeys = []string{"example.org:53"}
	if e, err := parseExternal(c); err != nil || len(e.zones) != 1 || e.zones[0] != "example.org." {
		t.Errorf("without zones: want the server block's, example.org.; got %+v, %v", e, err)
	}
	e, err := parseExternal(caddy.NewTestController("dns", "k8s_external Example.COM {\n apex NS\n ttl 0\n}"))
	if err != nil || len(e.zones) != 1 || e.zones[0] != "example.com." || e.apex != "ns" || e.ttl != 0 {
		t.Errorf("want zone example.com., apex ns, ttl 0; got %+v, %v", e, err)
	}
}

// Before the first sync every name of the zone is SERVFAIL, never NXDOMAIN;
// names outside it go on; NXDOMAIN falls through where asked.
func TestExternalNotSyncedAndFallthrough(t *testing.T) {
	e, err := parseExternal(caddy.NewTestController("dns", "k8s_external example.com {\n fallthrough\n}"))
	if err != nil {
		t.Fatal(err)
	}
	k, cfg, err := parse(caddy.NewTestController("dns", clusterCorefile))
	if err != nil {
		t.Fatal(err)
	}
	k.attachExternal(e, cfg)
	e.k = k
	e.Next = test.NextHandler(dns.RcodeRefused, nil)
	if rcode, _ := ask(e, test.Case{Qname: "web.default.example.com.", Qtype: dns.TypeA}); rcode != dns.RcodeServerFailure {
		t.Errorf("before the first sync: want SERVFAIL, got %s", dns.RcodeToString[rcode])
	}
	if rcode, _ := ask(e, test.Case{Qname: "web.default.example.org.", Qtype: dns.TypeA}); rcode != dns.RcodeRefused {
		t.Errorf("outside the zone: want the next plugin's answer (REFUSED), got %s", dns.RcodeToString[rcode])
	}
	e2, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n fallthrough\n}", externalSeed()...)
	if rcode, _ := ask(e2, test.Case{Qname: "nope.default.example.com.", Qtype: dns.TypeA}); rcode != dns.RcodeRefused {
		t.Errorf("NXDOMAIN with fallthrough: want the next plugin's answer (REFUSED), got %s", dns.RcodeToString[rcode])
	}
	if _, m := ask(e2, test.Case{Qname: "ns2.dns.example.com.", Qtype: dns.TypeA}); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("a name below the name server's (dns.example.com.) with fallthrough: want NXDOMAIN, as stock, not passed on; got %v", m)
	}
	if rcode, _ := ask(e2, test.Case{Qname: "hl.default.example.com.", Qtype: dns.TypeA}); rcode != dns.RcodeRefused {
		t.Errorf("a headless service's name without headless: want NXDOMAIN passed on (REFUSED), got %s", dns.RcodeToString[rcode])
	}
	if rcode, m := ask(e2, test.Case{Qname: "web.default.example.com.", Qtype: dns.TypeA}); rcode != dns.RcodeSuccess || m == nil || len(m.Answer) != 2 {
		t.Errorf("with fallthrough, a name that exists: want its answer, got %s %v", dns.RcodeToString[rcode], m)
	}
}

// Without kubesvc in its server block, k8s_external fails the start and
// says why (stock's says "kubernetes plugin not loaded").
func TestExternalNeedsKubeSvc(t *testing.T) {
	if _, err := blockKubeSvc(&dnsserver.Config{}); err == nil || !strings.Contains(err.Error(), "needs kubesvc in the same server block") {
		t.Errorf("want an error that says k8s_external needs kubesvc, got %v", err)
	}
}

// Answers in the external zone are counted by type and result.
func TestExternalAnswersCounted(t *testing.T) {
	e, _ := newTestExternal(t, clusterCorefile, externalBlock, externalSeed()...)
	for _, c := range []struct {
		name   string
		qtype  uint16
		result string
	}{
		{"web.default.example.com.", dns.TypeA, "success"},
		{"web.default.example.com.", dns.TypeAAAA, "nodata"},
		{"nope.default.example.com.", dns.TypeSRV, "nxdomain"},
		{"web.default.example.com.", dns.TypeMX, "nodata"},
	} {
		label := dns.TypeToString[c.qtype]
		if c.qtype == dns.TypeMX {
			label = "other"
		}
		counter := externalAnswers.WithLabelValues(label, c.result)
		before := testutil.ToFloat64(counter)
		ask(e, test.Case{Qname: c.name, Qtype: c.qtype})
		if got := testutil.ToFloat64(counter) - before; got != 1 {
			t.Errorf("%s %s: external_answers_total{type=%q,result=%q} moved by %v, want 1", c.name, dns.TypeToString[c.qtype], label, c.result, got)
		}
	}
}
