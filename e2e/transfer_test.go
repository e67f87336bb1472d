package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
)

// transferOptions put a transfer plugin allowing everyone into the server
// block, as a Corefile serving secondaries would.
var transferOptions = []string{"server:transfer {", "server:    to *", "server:}"}

// zoneTransfer asks addr over TCP for zone, AXFR with serial 0, else IXFR
// from serial, and returns every record of the reply.
func zoneTransfer(t *testing.T, addr, zone string, serial uint32) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	if serial == 0 {
		m.SetAxfr(zone)
	} else {
		m.SetIxfr(zone, serial, "ns.dns."+zone, "hostmaster."+zone)
	}
	tr := &dns.Transfer{DialTimeout: queryLimit, ReadTimeout: 10 * time.Second}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatalf("%s of %s from %s: %v", dns.TypeToString[m.Question[0].Qtype], zone, addr, err)
	}
	var out []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("%s of %s from %s: %v", dns.TypeToString[m.Question[0].Qtype], zone, addr, env.Error)
		}
		out = append(out, env.RR...)
	}
	return out
}

// framed fails t unless rrs is a whole zone: the same SOA first and last.
// It returns the SOA's serial and the records between.
func framed(t *testing.T, who string, rrs []dns.RR) (uint32, []dns.RR) {
	t.Helper()
	if len(rrs) < 2 {
		t.Fatalf("%s: a transfer of %d records, want SOA ... SOA: %v", who, len(rrs), rrs)
	}
	first, ok1 := rrs[0].(*dns.SOA)
	last, ok2 := rrs[len(rrs)-1].(*dns.SOA)
	if !ok1 || !ok2 || first.String() != last.String() {
		t.Fatalf("%s: want the same SOA first and last, got %v ... %v", who, rrs[0], rrs[len(rrs)-1])
	}
	return first.Serial, rrs[1 : len(rrs)-1]
}

// under is the records of rrs owned by names in domain, normalised.
func under(domain string, rrs []dns.RR) []string {
	var keep []dns.RR
	for _, rr := range rrs {
		if dns.IsSubDomain(domain, rr.Header().Name) {
			keep = append(keep, rr)
		}
	}
	return slices.Compact(normalised(keep))
}

// The same objects, the same Corefile with a transfer block: kubesvc's AXFR
// of the cluster zone holds, for a namespace's ClusterIP, headless and
// ExternalName services, the records stock's holds (the SRV records at
// service names among them), in a whole zone framed by its SOA; IXFR from the current serial is the SOA
// alone from both, from an older one the whole zone; over UDP both refuse.
func TestDifferentialZoneTransferMatchesStock(t *testing.T) {
	suite(t)
	const ns = "e2e-xfr"
	namespace(t, ns)
	createService(t, clusterIPService(ns, "web", "http", 80))
	createService(t, headlessService(ns, "hl", "http", 8080))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 8080,
		ep{ip: "10.41.0.1", hostname: "web-0"}, ep{ip: "10.41.0.2"}, ep{ip: "10.41.0.3", notReady: true}))
	createService(t, externalNameService(ns, "ext", "blog.mosuke.tech"))
	kubesvc, stock := differentialPair(t, transferOptions...)
	servers := []struct {
		name string
		s    *coredns.Server
	}{{"kubesvc", kubesvc}, {"stock", stock}}
	for _, x := range servers {
		eventually(t, 30*time.Second, x.name+" has the objects", answers(x.s.Ports.DNSAddr(),
			"_http._tcp.hl."+ns+".svc.cluster.local.", dns.TypeSRV, want{anyAnswer: true, check: func(r *dns.Msg) error {
				if len(r.Answer) != 2 {
					return fmt.Errorf("%d SRV records, want 2", len(r.Answer))
				}
				return nil
			}}))
	}

	const zone = "cluster.local."
	domain := ns + ".svc." + zone
	got := map[string][]string{}
	serials := map[string]uint32{}
	// Stock answers SRV queries at a headless service's own name but leaves
	// those records out of its transfers; kubesvc's transfer holds what its
	// queries answer (README, Zone transfers).
	headlessSRV := func(rr string) bool {
		return strings.HasPrefix(rr, "hl."+domain+"\t") && strings.Contains(rr, "\tIN\tSRV\t")
	}
	for _, x := range servers {
		serial, body := framed(t, x.name+" AXFR", zoneTransfer(t, x.s.Ports.DNSAddr(), zone, 0))
		serials[x.name], got[x.name] = serial, under(domain, body)
		if len(got[x.name]) == 0 {
			t.Errorf("%s's AXFR holds nothing of %s", x.name, domain)
		}
	}
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got["kubesvc"]), headlessSRV), got["stock"]) {
		t.Errorf("AXFR of %s: the records of %s differ from stock's:\n kubesvc %q\n stock   %q", zone, domain, got["kubesvc"], got["stock"])
	}
	if rrs := zoneTransfer(t, kubesvc.Ports.DNSAddr(), zone, 0); len(rrs) < 2 || rrs[1].Header().Rrtype != dns.TypeNS {
		t.Errorf("kubesvc's AXFR: want the apex NS after the SOA, got %v", rrs[:min(2, len(rrs))])
	}

	for _, x := range servers {
		addr := x.s.Ports.DNSAddr()
		// IXFR from the serial the server holds: up to date, the SOA alone.
		if rrs := zoneTransfer(t, addr, zone, serials[x.name]); len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s: IXFR from its current serial %d: want its SOA alone, got %d records: %v", x.name, serials[x.name], len(rrs), rrs[:min(3, len(rrs))])
		}
		// IXFR from an older serial: the whole zone (neither keeps history).
		_, body := framed(t, x.name+" IXFR", zoneTransfer(t, addr, zone, serials[x.name]-100))
		if ixfr := under(domain, body); !slices.Equal(ixfr, got[x.name]) {
			t.Errorf("%s: IXFR from an old serial holds %q, its AXFR %q", x.name, ixfr, got[x.name])
		}
	}
	// Transfers go over TCP only.
	for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		a := query(t, kubesvc.Ports.DNSAddr(), "udp", zone, qtype)
		b := query(t, stock.Ports.DNSAddr(), "udp", zone, qtype)
		if a.Rcode != b.Rcode || len(a.Answer) != 0 {
			t.Errorf("%s over UDP: kubesvc %s with %d records, stock %s", dns.TypeToString[qtype], dns.RcodeToString[a.Rcode], len(a.Answer), dns.RcodeToString[b.Rcode])
		}
	}
}

// A reverse zone transfers the PTR records kubesvc answers (stock sends
// forward names placed under the reverse zone instead, which no query of
// it gets).
func TestZoneTransferOfReverseZoneHoldsPTRs(t *testing.T) {
	suite(t)
	const ns = "e2e-xfr-ptr"
	namespace(t, ns)
	svc := createService(t, clusterIPService(ns, "web", "http", 80))
	kubesvc := ownCoreDNS(t, "xfr-ptr", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, transferOptions...)
	})
	if err := kubesvc.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	ptr := reverse(t, svc.Spec.ClusterIP)
	eventually(t, 30*time.Second, "web's PTR", answers(kubesvc.Ports.DNSAddr(), ptr, dns.TypePTR, want{anyAnswer: true}))
	_, body := framed(t, "kubesvc AXFR in-addr.arpa.", zoneTransfer(t, kubesvc.Ports.DNSAddr(), "in-addr.arpa.", 0))
	want := ptr + "\t0\tIN\tPTR\tweb." + ns + ".svc.cluster.local."
	got := normalised(body)
	if !slices.Contains(got, want) {
		t.Errorf("AXFR of in-addr.arpa. lacks %q: %q", want, got)
	}
	for _, rr := range body {
		if rr.Header().Rrtype != dns.TypePTR && rr.Header().Rrtype != dns.TypeNS {
			t.Errorf("AXFR of in-addr.arpa. holds %v", rr)
		}
	}
}

// A change gets a serial of its own, even within the second of the one
// before: an IXFR from the serial before a change gets the zone with it,
// never "up to date" (stock numbers its zone in seconds and can say so).
func TestZoneTransferIXFRAfterChangeHoldsIt(t *testing.T) {
	suite(t)
	const ns = "e2e-xfr-ixfr"
	namespace(t, ns)
	kubesvc := ownCoreDNS(t, "xfr-ixfr", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, transferOptions...)
	})
	if err := kubesvc.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	addr := kubesvc.Ports.DNSAddr()
	for i := range 3 {
		before, _ := framed(t, "AXFR", zoneTransfer(t, addr, "cluster.local.", 0))
		name := fmt.Sprintf("s%d", i)
		svc := createService(t, clusterIPService(ns, name, "http", 80))
		fqdn := name + "." + ns + ".svc.cluster.local."
		eventually(t, 10*time.Second, fqdn, answers(addr, fqdn, dns.TypeA, want{anyAnswer: true}))
		rrs := zoneTransfer(t, addr, "cluster.local.", before)
		want := fqdn + "\t0\tIN\tA\t" + svc.Spec.ClusterIP
		if got := normalised(rrs); !slices.Contains(got, want) {
			t.Fatalf("IXFR from serial %d, taken before %s was created: want the zone with %q, got %d records %q",
				before, name, want, len(rrs), got[:min(3, len(got))])
		}
	}
}
