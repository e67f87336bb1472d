package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestHeadlessMergedSlices(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-headless"
	namespace(t, ns)
	fq := func(s string) string { return s + "." + ns + ".svc.cluster.local." }

	// merged: two slices, one endpoint in both, one not ready, one without
	// hostname.
	createService(t, headlessService(ns, "merged", "http", 80))
	createSlice(t, slice(ns, "merged-a", "merged", "http", 80,
		ep{ip: "10.0.2.1", hostname: "web-0"},
		ep{ip: "10.0.2.2", hostname: "web-1"},
		ep{ip: "10.0.2.3", hostname: "web-2", notReady: true}))
	createSlice(t, slice(ns, "merged-b", "merged", "http", 80,
		ep{ip: "10.0.2.2", hostname: "web-1"},
		ep{ip: "10.0.2.7"}))
	// pnr publishes its not-ready endpoints.
	pnr := headlessService(ns, "pnr", "http", 80)
	pnr.Spec.PublishNotReadyAddresses = true
	createService(t, pnr)
	createSlice(t, slice(ns, "pnr-a", "pnr", "http", 80,
		ep{ip: "10.0.3.1", hostname: "p-0"},
		ep{ip: "10.0.3.2", hostname: "p-1", notReady: true}))

	merged, pnrName := fq("merged"), fq("pnr")
	mergedA := want{answer: []string{merged + " 30 IN A 10.0.2.1", merged + " 30 IN A 10.0.2.2", merged + " 30 IN A 10.0.2.7"}}
	pnrA := want{answer: []string{pnrName + " 30 IN A 10.0.3.1", pnrName + " 30 IN A 10.0.3.2"}}
	eventually(t, 5*time.Second, "merged endpoints answered", answers(addr, merged, dns.TypeA, mergedA))
	eventually(t, 5*time.Second, "pnr endpoints answered", answers(addr, pnrName, dns.TypeA, pnrA))

	host := func(h string) string { return h + "." + merged }
	runCases(t, addr, []recordCase{
		{"merged-A", merged, dns.TypeA, mergedA},
		{"merged-SRV", "_http._tcp." + merged, dns.TypeSRV, want{
			answer: []string{
				"_http._tcp." + merged + " 30 IN SRV 0 * 80 " + host("web-0"),
				"_http._tcp." + merged + " 30 IN SRV 0 * 80 " + host("web-1"),
				"_http._tcp." + merged + " 30 IN SRV 0 * 80 " + host("10-0-2-7"),
			},
			extra: []string{
				host("web-0") + " 30 IN A 10.0.2.1",
				host("web-1") + " 30 IN A 10.0.2.2",
				host("10-0-2-7") + " 30 IN A 10.0.2.7",
			},
		}},
		{"dashed-ip-A", host("10-0-2-7"), dns.TypeA, want{answer: []string{host("10-0-2-7") + " 30 IN A 10.0.2.7"}}},
		{"not-ready-hostname-absent", host("web-2"), dns.TypeA, nxDomain},
		{"pnr-A", pnrName, dns.TypeA, pnrA},
		{"pnr-not-ready-hostname", "p-1." + pnrName, dns.TypeA, want{answer: []string{"p-1." + pnrName + " 30 IN A 10.0.3.2"}}},
	})
}

func TestHeadlessTruncation(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-big"
	const n = 100
	namespace(t, ns)
	createService(t, headlessService(ns, "big", "http", 80))
	var eps []ep
	var all []string
	name := "big." + ns + ".svc.cluster.local."
	for i := 1; i <= n; i++ {
		ip := fmt.Sprintf("10.0.4.%d", i)
		eps = append(eps, ep{ip: ip})
		all = append(all, name+" 30 IN A "+ip)
	}
	createSlice(t, slice(ns, "big-a", "big", "http", 80, eps...))
	full := want{answer: all}
	eventually(t, 5*time.Second, "100 endpoints answered over TCP", func() (bool, string) {
		r, err := ask(addr, "tcp", name, dns.TypeA, false)
		if err != nil {
			return false, err.Error()
		}
		return len(r.Answer) == n, fmt.Sprintf("%d answers", len(r.Answer))
	})

	t.Run("udp-no-edns", func(t *testing.T) {
		r, size, err := askUDPRaw(addr, name, dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("UDP without EDNS0: TC=%v, %d answers, %d bytes on the wire", r.Truncated, len(r.Answer), size)
		if !r.Truncated {
			t.Errorf("UDP answer without EDNS0 for %d A records has no TC bit\nfull response:\n%s", n, r)
		}
		if size > dns.MinMsgSize {
			t.Errorf("UDP answer without EDNS0 is %d bytes on the wire, more than %d", size, dns.MinMsgSize)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		r, err := ask(addr, "tcp", name, dns.TypeA, false)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, r, full)
	})
}

// askUDPRaw sends a query without EDNS0 over UDP and returns the response
// with its size on the wire.
func askUDPRaw(addr, name string, qtype uint16) (*dns.Msg, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, err
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(queryLimit)); err != nil {
		return nil, 0, err
	}
	if _, err := conn.Write(wire); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, 65535)
	for {
		size, err := conn.Read(buf)
		if err != nil {
			return nil, 0, fmt.Errorf("%s over raw udp: %w", name, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:size]); err != nil {
			return nil, size, fmt.Errorf("unpack %d-byte response: %w", size, err)
		}
		if r.Id == m.Id {
			return r, size, nil
		}
	}
}
