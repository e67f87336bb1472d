package kubesvc

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// selfLookup answers a chase's lookups with e itself, as the server's
// plugin chain does for a target in e's zone, counting them.
type selfLookup struct {
	e *External
	n atomic.Int32
}

func (l *selfLookup) Lookup(ctx context.Context, _ request.Request, name string, qtype uint16) (*dns.Msg, error) {
	if l.n.Add(1) > 100_000 {
		return nil, context.Canceled // the old code's fan-out, cut so that the test ends
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	_, err := l.e.ServeDNS(ctx, rec, m)
	return rec.Msg, err
}

// Names whose targets lead back to them (a tenant's own annotations) are
// answered with their CNAMEs after a bounded number of lookups: not chased
// until the stack runs out, nor fanned out to 3^depth lookups.
func TestExternalChaseOfLoopingTargetsIsBounded(t *testing.T) {
	fan := loadBalancer(clusterIPSvc("default", "fan", []string{"10.96.0.90"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.90")
	fan.Annotations = map[string]string{
		annotationHostname: "f1.example.com,f2.example.com,f3.example.com",
		annotationTarget:   "f1.example.com,f2.example.com,f3.example.com",
	}
	e, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n hostnames\n public 203.0.113.10\n}", fan)
	l := &selfLookup{e: e}
	e.upstream = l
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		l.n.Store(0)
		name := "f1.example.com."
		if qtype == dns.TypeSRV {
			name = "fan.default.example.com."
		}
		_, m := ask(e, test.Case{Qname: name, Qtype: qtype})
		if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) < 3 {
			t.Errorf("%s %s: want NOERROR with its three records, got %v", name, dns.TypeToString[qtype], m)
		}
		if n := l.n.Load(); n > maxExternalChases {
			t.Errorf("%s %s: %d lookups, want at most %d", name, dns.TypeToString[qtype], n, maxExternalChases)
		}
	}
}
