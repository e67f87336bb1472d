package kubesvc

import (
	"context"
	"fmt"
	"runtime"
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

// BenchmarkIndexMemory reports the heap the watcher and the index hold per
// ClusterIP service with one named port (the informers' own store excluded).
func BenchmarkIndexMemory(b *testing.B) {
	const n = 5000
	var objs []*service
	for i := range n {
		s, _ := toService(clusterIPSvc(fmt.Sprintf("ns%d", i%50), fmt.Sprintf("svc-%d", i),
			[]string{fmt.Sprintf("10.96.%d.%d", i/250, i%250)}, svcPort("http", "TCP", 80)))
		objs = append(objs, s.(*service))
	}
	for b.Loop() {
		w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
		w.ix.publish()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, s := range objs {
			w.setService(s.namespace+"/"+s.name, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/service")
		runtime.KeepAlive(w)
	}
}
