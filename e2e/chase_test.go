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

// A chain of ExternalNames longer than the chase bound ends promptly with
// the CNAMEs it followed; a shorter one reaches the address.
func TestExternalNameChainDeeperThanBound(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-chain"
	const links = 12
	namespace(t, ns)
	fq := func(i int) string { return fmt.Sprintf("c%d.%s.svc.cluster.local.", i, ns) }
	for i := 0; i < links; i++ {
		target := strings.TrimSuffix(fq(i+1), ".")
		if i == links-1 {
			target = "blog.mosuke.tech"
		}
		createService(t, externalNameService(ns, fmt.Sprintf("c%d", i), target))
	}
	eventually(t, 5*time.Second, "the chain's last link", answers(addr, fq(links-1), dns.TypeCNAME,
		want{answer: []string{fq(links-1) + " 30 IN CNAME blog.mosuke.tech."}}))
	for _, proto := range protos {
		start := time.Now()
		r := query(t, addr, proto, fq(0), dns.TypeA)
		took := time.Since(start)
		cnames, addrs := 0, 0
		for _, rr := range r.Answer {
			switch rr.Header().Rrtype {
			case dns.TypeCNAME:
				cnames++
			case dns.TypeA:
				addrs++
			}
		}
		t.Logf("%s: chain of %d links answered in %v: rcode %s, %d CNAMEs, %d addresses",
			proto, links, took.Round(time.Millisecond), dns.RcodeToString[r.Rcode], cnames, addrs)
		if r.Rcode != dns.RcodeSuccess || took > time.Second || cnames == 0 || cnames >= links || addrs != 0 {
			t.Errorf("%s: want a prompt NOERROR with the first CNAMEs of the chain and no address, got %v", proto, r)
		}
		// Four links from the end: within the bound, the address comes.
		expect(t, query(t, addr, proto, fq(links-4), dns.TypeA), want{first: fq(links-4) + " 30 IN CNAME " + fq(links-3),
			anyAnswer: true, check: hasAddress("172.67.165.72")})
	}
}

func hasAddress(ip string) func(*dns.Msg) error {
	return func(r *dns.Msg) error {
		for _, a := range addrs(r.Answer) {
			if a == ip {
				return nil
			}
		}
		return fmt.Errorf("no A %s in the answer", ip)
	}
}

// blackHole reads DNS queries on UDP and TCP and never answers.
func blackHole(t *testing.T) int {
	t.Helper()
	port, err := coredns.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hostport := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	pc, err := net.ListenPacket("udp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return port
}

// An upstream that never answers while an ExternalName is chased: the
// client still gets the CNAME, well within its usual 5 s timeout.
func TestExternalNameUpstreamTimeout(t *testing.T) {
	suite(t)
	t.Parallel()
	hole := blackHole(t)
	srv := ownCoreDNS(t, "blackhole", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.ForwardCorefile(p, kc, hole)
	})
	if err := srv.WaitReady(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	const name = "my-blog.test.svc.cluster.local."
	rcodes := map[string]int{}
	for i := 0; i < 2; i++ {
		for _, proto := range protos {
			c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			start := time.Now()
			r, _, err := c.Exchange(m, srv.Ports.DNSAddr())
			took := time.Since(start)
			if err != nil {
				rcodes["timeout"]++
				t.Errorf("%s: no answer after %v: %v", proto, took.Round(time.Millisecond), err)
				continue
			}
			rcodes[dns.RcodeToString[r.Rcode]]++
			if took > 3*time.Second || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeCNAME {
				t.Errorf("%s: want the CNAME alone within 3 s, got after %v: %v", proto, took.Round(time.Millisecond), r)
			}
		}
	}
	t.Logf("4 queries with the upstream silent, answers by rcode: %v", rcodes)
}
