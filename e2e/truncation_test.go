package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
)

// localUpstream serves handler on 127.0.0.1 over UDP and TCP on one free
// port, for as long as t runs, and returns the port.
func localUpstream(t *testing.T, handler dns.HandlerFunc) int {
	t.Helper()
	port, err := coredns.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	for _, proto := range protos {
		started := make(chan struct{})
		srv := &dns.Server{Addr: addr, Net: proto, Handler: handler, NotifyStartedFunc: func() { close(started) }}
		failed := make(chan error, 1)
		go func() { failed <- srv.ListenAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			t.Fatalf("upstream on %s/%s: %v", addr, proto, err)
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return port
}

// Names the truncating upstream knows, with how many A records each has
// (192.0.2.1 up). big.example. is answered over UDP with TC=1 and an empty
// answer, as BIND, Unbound and cloud resolvers do when an answer does not
// fit. fit.example.'s 74 records fit a UDP reply of 1232 bytes, so they come
// over UDP to a query with that buffer, but with the CNAME in front they no
// longer fit the client's: CoreDNS must cut (scrub) kubesvc's reply.
var truncatingNames = map[string]int{"big.example.": 100, "fit.example.": 74}

// truncatingUpstream answers the names of truncatingNames over TCP with all
// their records and over UDP with as many as the query's buffer allows
// (none, TC=1, if not all fit); everything else is NXDOMAIN, with the SOA
// of example. in authority.
func truncatingUpstream(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Compress = true
	q := r.Question[0]
	n, ok := truncatingNames[strings.ToLower(q.Name)]
	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR(exampleSOA)
		m.Ns = []dns.RR{soa}
	case q.Qtype != dns.TypeA:
	default:
		for i := 1; i <= n; i++ {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, byte(i)),
			})
		}
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	if w.RemoteAddr().Network() == "udp" && (n == 100 || m.Len() > udpSize(r)) {
		m.Answer, m.Truncated = nil, true
	}
	_ = w.WriteMsg(m)
}

const exampleSOA = "example. 300 IN SOA ns.example. hostmaster.example. 1 7200 1800 86400 300"

// udpSize is the reply size a query allows over UDP.
func udpSize(r *dns.Msg) int {
	if opt := r.IsEdns0(); opt != nil {
		return max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	return dns.MinMsgSize
}

// An ExternalName whose target's answer the upstream truncates over UDP:
// over UDP the client gets TC=1 (with or without EDNS), so it retries over
// TCP, where the CNAME and all 100 addresses arrive whole. A reply that the
// CNAME makes too big for the client's buffer is cut to it, with TC=1.
func TestExternalNameTruncatedUpstreamSetsTC(t *testing.T) {
	suite(t)
	const ns = "bug1"
	namespace(t, ns)
	createService(t, externalNameService(ns, "ext", "big.example"))
	createService(t, externalNameService(ns, "fit", "fit.example"))
	createService(t, externalNameService(ns, "gone", "gone.example"))
	up := localUpstream(t, truncatingUpstream)
	srv := ownCoreDNS(t, "truncating-upstream", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.ForwardCorefile(p, kc, up)
	})
	if err := srv.WaitReady(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Ports.DNSAddr()
	for _, svc := range []string{"ext", "fit", "gone"} {
		name := svc + "." + ns + ".svc.cluster.local."
		eventually(t, 5*time.Second, "the ExternalName's CNAME", answers(addr, name, dns.TypeCNAME,
			want{answer: []string{name + " 30 IN CNAME " + svc[:3] + "*"}, anyAnswer: true}))
	}

	for _, tc := range []struct {
		svc    string
		edns   bool
		proto  string
		tc     bool
		addrs  int // -1: some, fewer than all
		maxLen int
	}{
		{"ext", false, "udp", true, 0, dns.MinMsgSize},
		{"ext", true, "udp", true, 0, 1232},
		{"ext", true, "tcp", false, 100, dns.MaxMsgSize},
		{"ext", false, "tcp", false, 100, dns.MaxMsgSize},
		{"fit", false, "udp", true, 0, dns.MinMsgSize},
		{"fit", true, "udp", true, -1, 1232},
		{"fit", true, "tcp", false, 74, dns.MaxMsgSize},
	} {
		name := tc.svc + "." + ns + ".svc.cluster.local."
		r, err := ask(addr, tc.proto, name, dns.TypeA, tc.edns)
		if err != nil {
			t.Fatal(err)
		}
		got := len(addrs(r.Answer))
		r.Compress = true // as it came: Len is then the size on the wire
		wantAddrs := got == tc.addrs || tc.addrs < 0 && got > 0 && got < 74
		if r.Truncated != tc.tc || r.Rcode != dns.RcodeSuccess || !wantAddrs || r.Len() > tc.maxLen ||
			len(r.Answer) == 0 && !tc.tc || len(r.Answer) > 0 && r.Answer[0].Header().Rrtype != dns.TypeCNAME {
			t.Errorf("%s over %s, edns %v: want NOERROR, TC=%v, the CNAME first and %d addresses (-1: some) in at most %d bytes; got TC=%v, %d addresses, %d bytes:\n%v",
				name, tc.proto, tc.edns, tc.tc, tc.addrs, tc.maxLen, r.Truncated, got, r.Len(), r)
		}
	}
	// The target does not exist: NXDOMAIN behind the CNAME, with the
	// target zone's SOA, as for the last name of any CNAME chain (RFC 6604).
	const gone = "gone.bug1.svc.cluster.local."
	for _, proto := range protos {
		expect(t, query(t, addr, proto, gone, dns.TypeA), want{rcode: dns.RcodeNameError,
			answer: []string{gone + " 30 IN CNAME gone.example."},
			check: func(r *dns.Msg) error {
				if len(r.Ns) != 1 || !rrMatch(exampleSOA, r.Ns[0]) {
					return fmt.Errorf("authority %v, want the target zone's SOA %q", r.Ns, exampleSOA)
				}
				return nil
			}})
	}
}
