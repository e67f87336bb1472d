package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
)

// differentialPair starts kubesvc and stock CoreDNS with the same Corefile
// (coredns.PluginCorefile with options) for t, both ready. Both talk to the
// API server at the same address, so that the host label of their REST
// client metrics compares.
func differentialPair(t *testing.T, options ...string) (kubesvc, stock *coredns.Server) {
	t.Helper()
	kubesvc = ownCoreDNS(t, "kubesvc", "", func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, options...)
	})
	stock = stockCoreDNS(t, "stock", func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubernetes", p, kc, options...)
	})
	for _, s := range []*coredns.Server{kubesvc, stock} {
		if err := s.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	return kubesvc, stock
}

// normalised is a section as comparable text: each record as dig prints it
// with TTL and SOA serial zeroed, sorted; names keep their case.
func normalised(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		if soa, ok := rr.(*dns.SOA); ok {
			soa.Serial = 0
		}
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// differences says how kubesvc's reply a differs from stock's b, or "".
func differences(a, b *dns.Msg) string {
	var diffs []string
	if a.Rcode != b.Rcode || a.Authoritative != b.Authoritative || a.Truncated != b.Truncated {
		diffs = append(diffs, fmt.Sprintf("header: rcode %s aa %v tc %v, stock rcode %s aa %v tc %v",
			dns.RcodeToString[a.Rcode], a.Authoritative, a.Truncated, dns.RcodeToString[b.Rcode], b.Authoritative, b.Truncated))
	}
	if len(a.Question) != 1 || len(b.Question) != 1 || a.Question[0] != b.Question[0] {
		diffs = append(diffs, fmt.Sprintf("question: %v, stock %v", a.Question, b.Question))
	}
	for _, s := range []struct {
		name string
		a, b []dns.RR
	}{{"answer", a.Answer, b.Answer}, {"authority", a.Ns, b.Ns}, {"additional", a.Extra, b.Extra}} {
		if x, y := normalised(s.a), normalised(s.b); !slices.Equal(x, y) {
			diffs = append(diffs, fmt.Sprintf("%s:\n  kubesvc %q\n  stock   %q", s.name, x, y))
		}
	}
	return strings.Join(diffs, "\n")
}

// question is one name and type both servers are asked.
type question struct {
	name  string
	qtype uint16
}

// sameAsStock asks kubesvc and stock the same question over UDP and TCP and
// fails t where their replies differ (differences).
func sameAsStock(t *testing.T, kubesvc, stock *coredns.Server, name string, qtype uint16) {
	t.Helper()
	for _, proto := range protos {
		a, err := ask(kubesvc.Ports.DNSAddr(), proto, name, qtype, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ask(stock.Ports.DNSAddr(), proto, name, qtype, true)
		if err != nil {
			t.Fatal(err)
		}
		if d := differences(a, b); d != "" {
			t.Errorf("%s %s over %s: kubesvc's answer differs from stock's:\n%s\nkubesvc:\n%v\nstock:\n%v",
				name, dns.TypeToString[qtype], proto, d, a, b)
		}
	}
}

// The same objects and the same mixed-case questions to kubesvc and to stock
// CoreDNS: every answer spells its names as stock's does (the case of the
// question, DNS 0x20), with the same records, over UDP and TCP.
func TestDifferentialMixedCaseAnswersMatchStock(t *testing.T) {
	suite(t)
	const ns = "e2e-case"
	namespace(t, ns)
	svc := createService(t, clusterIPService(ns, "svc1", "http", 80))
	createService(t, headlessService(ns, "hl", "http", 8080))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 8080,
		ep{ip: "10.40.0.1", hostname: "web-0"}, ep{ip: "10.40.0.2", hostname: "web-1"}, ep{ip: "10.40.0.3"}))
	createService(t, externalNameService(ns, "ext", "blog.mosuke.tech"))
	kubesvc, stock := differentialPair(t)

	ready := func(s *coredns.Server) func() (bool, string) {
		return answers(s.Ports.DNSAddr(), "_http._tcp.hl.e2e-case.svc.cluster.local.", dns.TypeSRV,
			want{anyAnswer: true, check: func(r *dns.Msg) error {
				if len(r.Answer) != 3 {
					return fmt.Errorf("%d SRV records, want 3", len(r.Answer))
				}
				return nil
			}})
	}
	eventually(t, 30*time.Second, "kubesvc has the objects", ready(kubesvc))
	eventually(t, 30*time.Second, "stock has the objects", ready(stock))

	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"SvC1.E2e-CaSe.SvC.cLuStEr.LoCaL.", dns.TypeA},
		{"SVC1.e2e-case.svc.cluster.local.", dns.TypeA},
		{"Svc1.E2E-Case.Svc.Cluster.Local.", dns.TypeAAAA}, // NODATA
		{"_HtTp._TcP.SvC1.E2e-CaSe.SvC.cLuStEr.LoCaL.", dns.TypeSRV},
		{"_HTTP._TCP.HL.E2E-CASE.SVC.CLUSTER.LOCAL.", dns.TypeSRV},
		{"Hl.E2e-Case.svc.Cluster.Local.", dns.TypeA},
		{"Web-0.Hl.E2e-Case.svc.Cluster.Local.", dns.TypeA},
		{"10-40-0-3.HL.e2e-case.Svc.Cluster.Local.", dns.TypeA},
		{strings.Replace(reverse(t, svc.Spec.ClusterIP), "in-addr.arpa.", "In-Addr.ARPA.", 1), dns.TypePTR},
		{strings.ToUpper(reverse(t, "10.40.0.1")), dns.TypePTR},
		{"Dns-Version.Cluster.Local.", dns.TypeTXT},
		{"ClUsTeR.LoCaL.", dns.TypeSOA},
		{"Nope.E2e-Case.Svc.ClUsTeR.LoCaL.", dns.TypeA},   // NXDOMAIN
		{"Nope.E2e-Case.Svc.ClUsTeR.LoCaL.", dns.TypeSRV}, // NXDOMAIN
		{"Ext.E2e-Case.Svc.Cluster.Local.", dns.TypeCNAME},
		{"Ext.E2e-Case.Svc.Cluster.Local.", dns.TypeA},
		{"10-1-2-3.E2e-Case.Pod.Cluster.Local.", dns.TypeA},
	} {
		sameAsStock(t, kubesvc, stock, q.name, q.qtype)
	}
	// Stock answers NODATA for the apex NS here (it names the addresses it is
	// bound to, and a loopback one does not count); its SOA names the name
	// server, and kubesvc's NS answer must spell it the same.
	const apex = "Cluster.LOCAL."
	for _, proto := range protos {
		r := query(t, kubesvc.Ports.DNSAddr(), proto, apex, dns.TypeNS)
		soa := query(t, stock.Ports.DNSAddr(), proto, apex, dns.TypeSOA)
		if len(soa.Answer) != 1 || len(r.Answer) != 1 || len(r.Extra) < 1 {
			t.Fatalf("%s: want kubesvc's NS with its address and stock's SOA, got\n%v\n%v", proto, r, soa)
		}
		mname := soa.Answer[0].(*dns.SOA).Ns
		ns, ok := r.Answer[0].(*dns.NS)
		if !ok || ns.Hdr.Name != apex || ns.Ns != mname || r.Extra[0].Header().Name != mname {
			t.Errorf("%s: want %s NS %s with its address, as stock's SOA spells it; got\n%v", proto, apex, mname, r)
		}
	}
}

// A search-path completion answers in the question's case too: the CNAME
// the server puts first is owned by the name as asked.
func TestAutopathCompletionInQuestionCase(t *testing.T) {
	suite(t)
	srv := autopathDNS(t, "autopath-case", nil, func(p coredns.Ports, kc string) coredns.AutopathCorefile {
		return coredns.AutopathCorefile{
			Kubeconfig: kc,
			Blocks:     []coredns.KubesvcBlock{{Listen: p.DNSAddr(), Autopath: true}},
			Ready:      coredns.Loopback(p.Ready), Metrics: coredns.Loopback(p.Metrics),
			Upstream: p.UpstreamAddr(),
		}
	})
	const asked = "Blog.Mosuke.TECH.Cluster.Local." // the zone step, the one completed
	for _, proto := range protos {
		r := query(t, srv.Ports.DNSAddr(), proto, asked, dns.TypeA)
		expectQuestion(t, r, asked, dns.TypeA)
		if len(r.Answer) == 0 || r.Answer[0].Header().Name != asked || !rrMatch(asked+" * IN CNAME blog.mosuke.tech.", r.Answer[0]) {
			t.Errorf("%s: want the CNAME to blog.mosuke.tech. owned by %s as asked first, got\n%v", proto, asked, r)
		}
	}
}

// An escaped dot is no label boundary: blog\.cluster.local. is in the zone
// local., not cluster.local., and both servers pass it on; an escaped label
// inside the zone is a name that does not exist.
func TestDifferentialEscapedDotsMatchStock(t *testing.T) {
	suite(t)
	kubesvc, stock := differentialPair(t)
	for _, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, "the server answers", answers(s.Ports.DNSAddr(), "dns-version.cluster.local.", dns.TypeTXT, want{anyAnswer: true}))
	}
	for _, name := range []string{`blog\.cluster.local.`, `svc1.default.svc\.cluster.local.`, `a\.b.default.svc.cluster.local.`} {
		sameAsStock(t, kubesvc, stock, name, dns.TypeA)
	}
}
