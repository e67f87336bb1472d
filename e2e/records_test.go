package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// recordCase is one query against the seeded cluster and what must come back.
type recordCase struct {
	name  string // subtest name
	qname string
	qtype uint16
	want  want
}

// runCases asks every case over UDP and TCP.
func runCases(t *testing.T, addr string, cases []recordCase) {
	t.Helper()
	for _, tc := range cases {
		for _, proto := range protos {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				r := query(t, addr, proto, tc.qname, tc.qtype)
				expectQuestion(t, r, tc.qname, tc.qtype)
				expect(t, r, tc.want)
			})
		}
	}
}

// noData is kubesvc's NOERROR/empty answer/SOA.
var noData = want{soa: true}

// nxDomain is kubesvc's NXDOMAIN with the SOA.
var nxDomain = want{rcode: dns.RcodeNameError, soa: true}

func TestZoneRecords(t *testing.T) {
	srv := suite(t)
	runCases(t, srv.Ports.DNSAddr(), []recordCase{
		{"dns-version", "dns-version.cluster.local.", dns.TypeTXT, want{
			answer: []string{`dns-version.cluster.local. 28800 IN TXT "1.1.0"`},
		}},
		{"soa", "cluster.local.", dns.TypeSOA, want{anyAnswer: true, check: func(r *dns.Msg) error {
			if len(r.Answer) != 1 {
				return fmt.Errorf("%d answers, want one SOA", len(r.Answer))
			}
			return checkSOA(r.Answer[0])
		}}},
		{"ns", "cluster.local.", dns.TypeNS, want{
			answer: []string{"cluster.local. 30 IN NS ns.dns.cluster.local."},
			extra:  []string{"ns.dns.cluster.local. 30 IN A 10.96.0.10"},
		}},
		{"ns-address", "ns.dns.cluster.local.", dns.TypeA, want{
			answer: []string{"ns.dns.cluster.local. 30 IN A 10.96.0.10"},
		}},
		{"nxdomain", "nope.default.svc.cluster.local.", dns.TypeA, nxDomain},
		{"ent-svc", "svc.cluster.local.", dns.TypeA, noData},
		{"ent-namespace", "default.svc.cluster.local.", dns.TypeA, noData},
		{"pod-insecure", "1-2-3-4.default.pod.cluster.local.", dns.TypeA, want{
			answer: []string{"1-2-3-4.default.pod.cluster.local. 30 IN A 1.2.3.4"},
		}},
	})
}

func TestClusterIPService(t *testing.T) {
	srv := suite(t)
	const name = "sample-clusterip.default.svc.cluster.local."
	runCases(t, srv.Ports.DNSAddr(), []recordCase{
		{"A", name, dns.TypeA, want{answer: []string{name + " 30 IN A 10.96.246.109"}}},
		{"AAAA-nodata", name, dns.TypeAAAA, noData},
		{"SRV", "_http-port._tcp." + name, dns.TypeSRV, want{
			answer: []string{"_http-port._tcp." + name + " 30 IN SRV 0 100 8080 " + name},
			extra:  []string{name + " 30 IN A 10.96.246.109"},
		}},
		{"PTR", "109.246.96.10.in-addr.arpa.", dns.TypePTR, want{
			answer: []string{"109.246.96.10.in-addr.arpa. 30 IN PTR " + name},
		}},
		{"httpd-example-SRV", "_8080-tcp._tcp.httpd-example.mosuke5.svc.cluster.local.", dns.TypeSRV, want{
			answer: []string{"_8080-tcp._tcp.httpd-example.mosuke5.svc.cluster.local. 30 IN SRV 0 100 8080 httpd-example.mosuke5.svc.cluster.local."},
			extra:  []string{"httpd-example.mosuke5.svc.cluster.local. 30 IN A 10.96.12.34"},
		}},
		{"mixed-case", "SAMPLE-ClusterIP.Default.SVC.cluster.local.", dns.TypeA, want{
			answer: []string{name + " 30 IN A 10.96.246.109"},
		}},
	})
}

func TestSelectorlessService(t *testing.T) {
	srv := suite(t)
	ip := getService(t, "default", "sample-none-selector").Spec.ClusterIP
	const name = "sample-none-selector.default.svc.cluster.local."
	runCases(t, srv.Ports.DNSAddr(), []recordCase{
		{"A-is-cluster-ip", name, dns.TypeA, want{answer: []string{name + " 30 IN A " + ip}}},
	})
}

func TestDualStackService(t *testing.T) {
	srv := suite(t)
	svc := getService(t, "default", "sample-dualstack")
	if len(svc.Spec.ClusterIPs) != 2 {
		t.Fatalf("sample-dualstack has clusterIPs %v, want an IPv4 and an IPv6 one", svc.Spec.ClusterIPs)
	}
	v4, v6 := svc.Spec.ClusterIPs[0], svc.Spec.ClusterIPs[1]
	if strings.Contains(v4, ":") || !strings.Contains(v6, ":") {
		t.Fatalf("sample-dualstack clusterIPs %v are not [IPv4, IPv6]", svc.Spec.ClusterIPs)
	}
	const name = "sample-dualstack.default.svc.cluster.local."
	t.Logf("sample-dualstack: %s, %s", v4, v6)
	runCases(t, srv.Ports.DNSAddr(), []recordCase{
		{"A", name, dns.TypeA, want{answer: []string{name + " 30 IN A " + v4}}},
		{"AAAA", name, dns.TypeAAAA, want{answer: []string{name + " 30 IN AAAA " + v6}}},
		{"PTR-v4", reverse(t, v4), dns.TypePTR, want{answer: []string{reverse(t, v4) + " 30 IN PTR " + name}}},
		{"PTR-v6", reverse(t, v6), dns.TypePTR, want{answer: []string{reverse(t, v6) + " 30 IN PTR " + name}}},
		// Weighing 100 divided by its two cluster IPs, as stock weighs it
		// (TestDifferentialDualStackSRVWeights).
		{"SRV", "_http-port._tcp." + name, dns.TypeSRV, want{
			answer: []string{"_http-port._tcp." + name + " 30 IN SRV 0 50 8080 " + name},
			extra:  []string{name + " 30 IN A " + v4, name + " 30 IN AAAA " + v6},
		}},
	})
}

func TestHeadlessService(t *testing.T) {
	srv := suite(t)
	const name = "sample-headless.default.svc.cluster.local."
	host := func(i int) string { return fmt.Sprintf("sample-statefulset-headless-%d.%s", i, name) }
	ips := []string{"10.0.1.2", "10.0.1.3", "10.0.1.4"}
	var aSet, srvSet, extra []string
	for i, ip := range ips {
		aSet = append(aSet, name+" 30 IN A "+ip)
		srvSet = append(srvSet, "_http-port._tcp."+name+" 30 IN SRV 0 * 80 "+host(i))
		extra = append(extra, host(i)+" 30 IN A "+ip)
	}
	runCases(t, srv.Ports.DNSAddr(), []recordCase{
		{"A", name, dns.TypeA, want{answer: aSet}},
		{"AAAA-nodata", name, dns.TypeAAAA, noData},
		{"hostname-A", host(1), dns.TypeA, want{answer: []string{host(1) + " 30 IN A 10.0.1.3"}}},
		{"SRV", "_http-port._tcp." + name, dns.TypeSRV, want{answer: srvSet, extra: extra}},
		{"PTR", "3.1.0.10.in-addr.arpa.", dns.TypePTR, want{
			answer: []string{"3.1.0.10.in-addr.arpa. 30 IN PTR " + host(1)},
		}},
	})
}

func TestExternalNameService(t *testing.T) {
	srv := suite(t)
	const blog = "my-blog.test.svc.cluster.local."
	const ext = "sample-externalname.default.svc.cluster.local."
	runCases(t, srv.Ports.DNSAddr(), []recordCase{
		{"A-follows-cname", blog, dns.TypeA, want{
			first: blog + " 30 IN CNAME blog.mosuke.tech.",
			answer: []string{
				blog + " 30 IN CNAME blog.mosuke.tech.",
				"blog.mosuke.tech. * IN A 172.67.165.72",
				"blog.mosuke.tech. * IN A 104.21.57.182",
			},
		}},
		{"CNAME-alone", blog, dns.TypeCNAME, want{
			answer: []string{blog + " 30 IN CNAME blog.mosuke.tech."},
		}},
		{"example.com", ext, dns.TypeA, want{
			first:  ext + " 30 IN CNAME example.com.",
			answer: []string{ext + " 30 IN CNAME example.com.", "example.com. * IN A 93.184.215.14"},
		}},
	})
}

// TestPassedOn: names kubesvc does not own go to the next plugin (forward to
// the local hosts block). The answer must be the one the upstream gives when
// asked directly, with no kubesvc SOA.
func TestPassedOn(t *testing.T) {
	srv := suite(t)
	cases := []struct {
		name, qname string
		qtype       uint16
		answer      []string // what the upstream knows, if anything
	}{
		{"reverse-non-cluster-ip", "4.3.2.1.in-addr.arpa.", dns.TypePTR, nil},
		{"reverse-known-upstream", "7.113.0.203.in-addr.arpa.", dns.TypePTR, []string{"7.113.0.203.in-addr.arpa. * IN PTR reverse.upstream.test."}},
		{"outside-zone-unknown", "example.org.", dns.TypeA, nil},
		{"outside-zone-known", "www.google.com.", dns.TypeA, []string{"www.google.com. * IN A 172.217.31.132"}},
	}
	for _, tc := range cases {
		for _, proto := range protos {
			t.Run(tc.name+"/"+proto, func(t *testing.T) {
				direct := query(t, srv.Ports.UpstreamAddr(), proto, tc.qname, tc.qtype)
				r := query(t, srv.Ports.DNSAddr(), proto, tc.qname, tc.qtype)
				expectQuestion(t, r, tc.qname, tc.qtype)
				expect(t, r, want{rcode: direct.Rcode, answer: tc.answer})
				if d := diffRRs(rrStrings(direct.Answer), r.Answer); d != "" {
					t.Errorf("answer differs from the upstream's own: %s\nupstream:\n%s\nthrough coredns:\n%s", d, direct, r)
				}
				if len(tc.answer) > 0 && direct.Rcode != dns.RcodeSuccess {
					t.Errorf("the upstream block itself does not answer %s:\n%s", tc.qname, direct)
				}
			})
		}
	}
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		f := strings.Fields(rr.String())
		f[1] = "*" // forward may age the TTL
		out = append(out, strings.Join(f, " "))
	}
	return slices.Clip(out)
}
