package kubesvc

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// scriptedUpstream answers every lookup with a copy of reply, its question
// set to what was asked.
type scriptedUpstream struct{ reply *dns.Msg }

func (s scriptedUpstream) Lookup(_ context.Context, _ request.Request, name string, typ uint16) (*dns.Msg, error) {
	m := s.reply.Copy()
	m.SetQuestion(name, typ)
	m.Response = true
	return m, nil
}

func upstreamReply(rcode int, truncated bool, answer, ns []dns.RR) *dns.Msg {
	return &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: rcode, Truncated: truncated}, Answer: answer, Ns: ns}
}

// The header and authority of the lookup that ends an ExternalName's chain
// reach the client: its TC bit, so that the client retries over TCP, and an
// NXDOMAIN or NODATA with the target zone's SOA (RFC 6604), behind the
// CNAME. A failed lookup leaves the CNAME alone, as a timeout does.
func TestChaseKeepsTheTargetsHeader(t *testing.T) {
	const qname, target = "my-blog.test.svc.cluster.local.", "blog.mosuke.tech."
	cname := test.CNAME(qname + " 30 IN CNAME " + target)
	targetSOA := test.SOA("mosuke.tech. 300 IN SOA ns.mosuke.tech. admin.mosuke.tech. 1 7200 1800 86400 300")
	addr := &dns.A{Hdr: dns.RR_Header{Name: target, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("172.67.165.72")}
	for _, tc := range []struct {
		name     string
		upstream *dns.Msg
		rcode    int
		tc       bool
		answer   []dns.RR
		ns       []dns.RR
	}{
		{"truncated and empty", upstreamReply(dns.RcodeSuccess, true, nil, nil), dns.RcodeSuccess, true, []dns.RR{cname}, nil},
		{"truncated with some records", upstreamReply(dns.RcodeSuccess, true, []dns.RR{addr}, nil), dns.RcodeSuccess, true, []dns.RR{cname, addr}, nil},
		{"whole", upstreamReply(dns.RcodeSuccess, false, []dns.RR{addr}, []dns.RR{targetSOA}), dns.RcodeSuccess, false, []dns.RR{cname, addr}, nil},
		{"target NXDOMAIN", upstreamReply(dns.RcodeNameError, false, nil, []dns.RR{targetSOA}), dns.RcodeNameError, false, []dns.RR{cname}, []dns.RR{targetSOA}},
		{"target NODATA", upstreamReply(dns.RcodeSuccess, false, nil, []dns.RR{targetSOA}), dns.RcodeSuccess, false, []dns.RR{cname}, []dns.RR{targetSOA}},
		{"target SERVFAIL", upstreamReply(dns.RcodeServerFailure, false, nil, nil), dns.RcodeSuccess, false, []dns.RR{cname}, nil},
		{"target REFUSED, truncated", upstreamReply(dns.RcodeRefused, true, nil, []dns.RR{targetSOA}), dns.RcodeSuccess, false, []dns.RR{cname}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
			k.upstream = scriptedUpstream{tc.upstream}
			m := askFrom(k, "10.244.0.5", qname, dns.TypeA)
			if m == nil {
				t.Fatal("no reply")
			}
			if m.Rcode != tc.rcode || m.Truncated != tc.tc || !sameRRs(m.Answer, tc.answer) || !sameRRs(m.Ns, tc.ns) {
				t.Errorf("want rcode %s, TC %v, answer %v, authority %v; got\n%v",
					dns.RcodeToString[tc.rcode], tc.tc, tc.answer, tc.ns, m)
			}
		})
	}
}

func sameRRs(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// An rcode without a name still labels the chases metric, by its number.
func TestRcodeLabelNamesEveryRcode(t *testing.T) {
	for rcode, want := range map[int]string{dns.RcodeSuccess: "NOERROR", dns.RcodeNameError: "NXDOMAIN", 3841: "3841"} {
		if got := rcodeLabel(rcode); got != want {
			t.Errorf("rcodeLabel(%d) = %q, want %q", rcode, got, want)
		}
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
	waitFor(t, "loop services", func() bool { return indexHas(k, "loop-b.default.svc.cluster.local.") })
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

// recordsUpstream answers from records by owner name and type: NXDOMAIN for
// an owner it has none of, NODATA for a type the owner lacks. asked lists
// the types it was asked for.
type recordsUpstream struct {
	records []dns.RR
	asked   []uint16
}

func (u *recordsUpstream) Lookup(_ context.Context, _ request.Request, name string, typ uint16) (*dns.Msg, error) {
	u.asked = append(u.asked, typ)
	m := new(dns.Msg)
	m.SetQuestion(name, typ)
	m.Rcode = dns.RcodeNameError
	for _, rr := range u.records {
		if strings.EqualFold(rr.Header().Name, name) {
			m.Rcode = dns.RcodeSuccess
			if rr.Header().Rrtype == typ {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	return m, nil
}

// A query of any type of data at an ExternalName's name gets the CNAME and
// the target's records of that type, as a resolver restarting the query at
// the CNAME's target would (RFC 1034 4.3.2; stock does so for A and AAAA
// only): a stub resolver in a pod does not follow the CNAME itself. The CNAME
// itself, and ANY, are answered without asking the upstream.
func TestChaseFollowsTheCNAMEForEveryTypeOfData(t *testing.T) {
	const name, target = "my-blog.test.svc.cluster.local.", "blog.mosuke.tech."
	k, _ := newTestKubeSvc(t, clusterCorefile, autopathSeed()...)
	up := &recordsUpstream{records: []dns.RR{
		test.A(target + " 300 IN A 172.67.165.72"),
		test.TXT(target + ` 300 IN TXT "v=spf1 -all"`),
		test.MX(target + " 300 IN MX 10 mail.mosuke.tech."),
	}}
	k.upstream = up
	for _, tc := range []struct {
		qtype uint16
		want  string // the record after the CNAME; "" none
	}{
		{dns.TypeA, "172.67.165.72"},
		{dns.TypeTXT, "v=spf1 -all"},
		{dns.TypeMX, "mail.mosuke.tech."},
		{dns.TypeSRV, ""},
	} {
		up.asked = nil
		m := askFrom(k, "10.244.0.5", name, tc.qtype)
		qt := dns.TypeToString[tc.qtype]
		if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
			t.Fatalf("%s %s: got %v, want NOERROR with the CNAME first", name, qt, m)
		}
		if c, ok := m.Answer[0].(*dns.CNAME); !ok || c.Target != target {
			t.Errorf("%s %s: first record %v, want the CNAME to %s", name, qt, m.Answer[0], target)
		}
		if len(up.asked) != 1 || up.asked[0] != tc.qtype {
			t.Errorf("%s %s: the upstream was asked for %v, want %s once", name, qt, up.asked, qt)
		}
		var rest []string
		for _, rr := range m.Answer[1:] {
			rest = append(rest, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
		switch {
		case tc.want == "" && len(rest) != 0:
			t.Errorf("%s %s: records after the CNAME %v, want none (the target has no %s)", name, qt, rest, qt)
		case tc.want != "" && (len(rest) != 1 || !strings.Contains(rest[0], tc.want)):
			t.Errorf("%s %s: records after the CNAME %v, want the target's %s", name, qt, rest, tc.want)
		}
	}
	for _, qtype := range []uint16{dns.TypeCNAME, dns.TypeANY} {
		up.asked = nil
		m := askFrom(k, "10.244.0.5", name, qtype)
		if m == nil || len(m.Answer) != 1 || len(up.asked) != 0 {
			t.Errorf("%s %s: got %v after asking the upstream for %v; want the CNAME alone, the upstream not asked", name, dns.TypeToString[qtype], m, up.asked)
		}
	}
}
