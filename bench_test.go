package kubesvc

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// BenchmarkServeDNS measures one query of each kind through ServeDNS. The
// writer discards the message, as the server's would after packing it.
func BenchmarkServeDNS(b *testing.B) {
	k, _ := newTestKubeSvc(&testing.T{}, clusterCorefile, seed()...)
	w := &test.ResponseWriter{}
	for _, bc := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"ClusterIP", "sample-clusterip.default.svc.cluster.local.", dns.TypeA},
		{"Headless", "sample-headless.default.svc.cluster.local.", dns.TypeA},
		{"SRV", "_http-port._tcp.sample-headless.default.svc.cluster.local.", dns.TypeSRV},
		{"PTR", "109.246.96.10.in-addr.arpa.", dns.TypePTR},
		{"NODATA", "sample-clusterip.default.svc.cluster.local.", dns.TypeAAAA},
		{"NXDOMAIN", "nope.default.svc.cluster.local.", dns.TypeA},
		{"MixedCase", "Sample-ClusterIP.Default.svc.cluster.local.", dns.TypeA},
	} {
		r := new(dns.Msg)
		r.SetQuestion(bc.qname, bc.qtype)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				k.ServeDNS(ctx, w, r)
			}
		})
	}
}
