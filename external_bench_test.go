package kubesvc

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// BenchmarkServeExternal: k8s_external builds its answers per query.
func BenchmarkServeExternal(b *testing.B) {
	objs := append(externalSeed(), namesSeed()[1:]...)
	e, _ := newTestExternal(b, clusterCorefile, "k8s_external example.com {\n headless\n ingress\n hostnames\n}", objs...)
	for _, q := range []struct {
		name, qname string
		qtype       uint16
	}{
		{"LoadBalancer", "web.default.example.com.", dns.TypeA},
		{"Ingress", "xxx.example.com.", dns.TypeA},
		{"SRV", "web.default.example.com.", dns.TypeSRV},
		{"NXDOMAIN", "nope.default.example.com.", dns.TypeA},
	} {
		b.Run(q.name, func(b *testing.B) {
			m := test.Case{Qname: q.qname, Qtype: q.qtype}.Msg()
			w := dnstest.NewRecorder(&test.ResponseWriter{})
			b.ReportAllocs()
			for b.Loop() {
				e.ServeDNS(context.Background(), w, m)
			}
		})
	}
}
