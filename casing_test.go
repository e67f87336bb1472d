package kubesvc

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// rrNames lists a record's domain names, owner first: "owner>target" for
// the names a record points at.
func rrNames(rr dns.RR) string {
	out := rr.Header().Name
	switch v := rr.(type) {
	case *dns.SRV:
		out += ">" + v.Target
	case *dns.SOA:
		out += ">" + v.Ns + ">" + v.Mbox
	case *dns.NS:
		out += ">" + v.Ns
	case *dns.CNAME:
		out += ">" + v.Target
	case *dns.PTR:
		out += ">" + v.Ptr
	}
	return out
}

func sectionNames(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rrNames(rr))
	}
	slices.Sort(out)
	return out
}

// Answers spell names as the question does, as the stock plugin writes them:
// the name asked as asked, names derived from the zone (SOA, NS and SRV
// targets, additional records) with the zone as asked; other names (PTR and
// CNAME targets) as they are.
func TestAnswersInQuestionCase(t *testing.T) {
	const headless = "sample-headless.default.svc."
	for _, tc := range []struct {
		qname             string
		qtype             uint16
		answer, ns, extra []string
	}{
		{qname: "Sample-ClusterIP.DeFault.SvC.cLuStEr.LoCaL.", qtype: dns.TypeA,
			answer: []string{"Sample-ClusterIP.DeFault.SvC.cLuStEr.LoCaL."}},
		{qname: "SAMPLE-HEADLESS.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: slices.Repeat([]string{"SAMPLE-HEADLESS.default.svc.cluster.local."}, 4)},
		{qname: "not-a-service.default.svc.ClUsTeR.lOcAl.", qtype: dns.TypeA,
			ns: []string{"ClUsTeR.lOcAl.>ns.dns.ClUsTeR.lOcAl.>hostmaster.ClUsTeR.lOcAl."}},
		{qname: "Sample-ClusterIP.default.svc.Cluster.Local.", qtype: dns.TypeAAAA,
			ns: []string{"Cluster.Local.>ns.dns.Cluster.Local.>hostmaster.Cluster.Local."}},
		{qname: "_Http-Port._TcP.Sample-ClusterIP.default.svc.cLuStEr.LoCaL.", qtype: dns.TypeSRV,
			answer: []string{"_Http-Port._TcP.Sample-ClusterIP.default.svc.cLuStEr.LoCaL.>sample-clusterip.default.svc.cLuStEr.LoCaL."},
			extra:  []string{"sample-clusterip.default.svc.cLuStEr.LoCaL."}},
		{qname: "_http-port._tcp.Sample-Headless.default.svc.CLUSTER.LOCAL.", qtype: dns.TypeSRV,
			answer: []string{
				"_http-port._tcp.Sample-Headless.default.svc.CLUSTER.LOCAL.>10-0-2-7." + headless + "CLUSTER.LOCAL.",
				"_http-port._tcp.Sample-Headless.default.svc.CLUSTER.LOCAL.>sample-statefulset-headless-0." + headless + "CLUSTER.LOCAL.",
				"_http-port._tcp.Sample-Headless.default.svc.CLUSTER.LOCAL.>sample-statefulset-headless-1." + headless + "CLUSTER.LOCAL.",
				"_http-port._tcp.Sample-Headless.default.svc.CLUSTER.LOCAL.>sample-statefulset-headless-2." + headless + "CLUSTER.LOCAL.",
			},
			extra: []string{
				"10-0-2-7." + headless + "CLUSTER.LOCAL.",
				"sample-statefulset-headless-0." + headless + "CLUSTER.LOCAL.",
				"sample-statefulset-headless-1." + headless + "CLUSTER.LOCAL.",
				"sample-statefulset-headless-2." + headless + "CLUSTER.LOCAL.",
				"sample-statefulset-headless-2." + headless + "CLUSTER.LOCAL.",
			}},
		{qname: "Cluster.local.", qtype: dns.TypeSOA,
			answer: []string{"Cluster.local.>ns.dns.Cluster.local.>hostmaster.Cluster.local."}},
		{qname: "CLUSTER.local.", qtype: dns.TypeNS,
			answer: []string{"CLUSTER.local.>ns.dns.CLUSTER.local."}, extra: []string{"ns.dns.CLUSTER.local."}},
		{qname: "Dns-Version.Cluster.Local.", qtype: dns.TypeTXT, answer: []string{"Dns-Version.Cluster.Local."}},
		{qname: "109.246.96.10.IN-ADDR.Arpa.", qtype: dns.TypePTR,
			answer: []string{"109.246.96.10.IN-ADDR.Arpa.>sample-clusterip.default.svc.cluster.local."}},
		{qname: "My-Blog.Test.svc.Cluster.Local.", qtype: dns.TypeCNAME,
			answer: []string{"My-Blog.Test.svc.Cluster.Local.>blog.mosuke.tech."}},
		{qname: "10-1-2-3.Default.Pod.Cluster.Local.", qtype: dns.TypeA,
			answer: []string{"10-1-2-3.Default.Pod.Cluster.Local."}},
	} {
		t.Run(tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
			m := askFrom(k, "10.244.0.5", tc.qname, tc.qtype)
			if m == nil {
				t.Fatal("no reply")
			}
			for _, s := range []struct {
				name      string
				got, want []string
			}{{"answer", sectionNames(m.Answer), tc.answer}, {"authority", sectionNames(m.Ns), tc.ns}, {"additional", sectionNames(m.Extra), tc.extra}} {
				slices.Sort(s.want)
				if !slices.Equal(s.got, s.want) {
					t.Errorf("%s names\n got %q\nwant %q\nreply:\n%v", s.name, s.got, s.want, m)
				}
			}
			// The index's shared records are untouched: the same question
			// in lower case gets lower-case names.
			m = askFrom(k, "10.244.0.5", strings.ToLower(tc.qname), tc.qtype)
			for _, rr := range slices.Concat(m.Answer, m.Ns, m.Extra) {
				if n := rrNames(rr); n != strings.ToLower(n) {
					t.Errorf("after a question in mixed case, a lower-case one gets %q", n)
				}
			}
		})
	}
}

// An ExternalName's CNAME is owned by the name as asked; the target's records
// come as the lookup gave them. A completed search path's CNAME is owned by
// the name as asked too.
func TestChasedAndCompletedAnswersInQuestionCase(t *testing.T) {
	up := &fakeUpstream{addrs: documentsUpstream}
	k := newAutopathKubeSvc(t, up, "")
	for _, tc := range []struct {
		qname  string
		answer []string
	}{
		{"My-Blog.TEST.svc.Cluster.Local.", []string{"My-Blog.TEST.svc.Cluster.Local.>blog.mosuke.tech.", "blog.mosuke.tech."}},
		{"Blog.Mosuke.Tech.Cluster.Local.", []string{"Blog.Mosuke.Tech.Cluster.Local.>blog.mosuke.tech.", "blog.mosuke.tech."}},
	} {
		m := askFrom(k, "10.244.0.9", tc.qname, dns.TypeA)
		if m == nil {
			t.Fatalf("%s: no reply", tc.qname)
		}
		if got, want := sectionNames(m.Answer), slices.Sorted(slices.Values(tc.answer)); !slices.Equal(got, want) {
			t.Errorf("%s: answer names\n got %q\nwant %q\nreply:\n%v", tc.qname, got, want, m)
		}
	}
}
