package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
)

// A query of any type of data at an ExternalName's name is answered with the
// CNAME and the target's records of that type, looked up through the
// server's chain, as a resolver restarting the query at the target finds
// them (a stub resolver in a pod follows no CNAME itself). For A that is
// stock's answer too; for the other types stock answers otherwise (README,
// "Questions the specification leaves open"): what it answered is logged.
func TestExternalNameChasedForEveryTypeOfData(t *testing.T) {
	suite(t)
	const target = "mail.upstream.test."
	records := []string{
		target + ` 300 IN TXT "v=spf1 -all"`,
		target + " 300 IN MX 10 mx1.upstream.test.",
		target + " 300 IN A 198.51.100.25",
	}
	up := localUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if q := r.Question[0]; !strings.EqualFold(q.Name, target) {
			m.Rcode = dns.RcodeNameError
		} else {
			for _, s := range records {
				if rr, err := dns.NewRR(s); err == nil && rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		_ = w.WriteMsg(m)
	})
	const ns = "e2e-chase-types"
	namespace(t, ns)
	createService(t, externalNameService(ns, "mail", strings.TrimSuffix(target, ".")))
	kubesvc := ownCoreDNS(t, "chase-types", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.ForwardCorefileFor("kubesvc", p, kc, up)
	})
	stock := stockCoreDNS(t, "chase-types-stock", func(p coredns.Ports, kc string) string {
		return coredns.ForwardCorefileFor("kubernetes", p, kc, up)
	})
	const name = "mail." + ns + ".svc.cluster.local."
	cname := name + " 30 IN CNAME " + target
	for _, s := range []*coredns.Server{kubesvc, stock} {
		if err := s.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the ExternalName's CNAME", answers(s.Ports.DNSAddr(), name, dns.TypeCNAME, want{answer: []string{cname}}))
	}
	sameAsStock(t, kubesvc, stock, name, dns.TypeA)
	for _, qtype := range []uint16{dns.TypeTXT, dns.TypeMX, dns.TypeSRV} {
		r := query(t, stock.Ports.DNSAddr(), "udp", name, qtype)
		t.Logf("stock's %s answer: %s, answer %v, authority %v", dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.Answer, r.Ns)
	}
	for _, proto := range protos {
		for _, tc := range []struct {
			qtype uint16
			want  want
		}{
			{dns.TypeTXT, want{first: cname, answer: []string{cname, target + ` * IN TXT "v=spf1 -all"`}}},
			{dns.TypeMX, want{first: cname, answer: []string{cname, target + " * IN MX 10 mx1.upstream.test."}}},
			{dns.TypeSRV, want{answer: []string{cname}}}, // the target has none
		} {
			expect(t, query(t, kubesvc.Ports.DNSAddr(), proto, name, tc.qtype), tc.want)
		}
	}
}
