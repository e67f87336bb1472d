package kubesvc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// xfr runs a transfer of zone from serial and returns the records sent.
func xfr(t *testing.T, k *KubeSvc, zone string, serial uint32) []dns.RR {
	t.Helper()
	ch, err := k.Transfer(zone, serial)
	if err != nil {
		t.Fatalf("transfer of %s: %v", zone, err)
	}
	var out []dns.RR
	for rrs := range ch {
		out = append(out, rrs...)
	}
	return out
}

// checkFrame fails t unless rrs starts with zone's SOA and the apex NS and
// ends with the same SOA; it returns the records between the two SOAs.
func checkFrame(t *testing.T, k *KubeSvc, zone string, rrs []dns.RR) []dns.RR {
	t.Helper()
	if len(rrs) < 3 {
		t.Fatalf("transfer of %s: %d records, want SOA, NS ... SOA: %v", zone, len(rrs), rrs)
	}
	first, ok1 := rrs[0].(*dns.SOA)
	last, ok2 := rrs[len(rrs)-1].(*dns.SOA)
	if !ok1 || !ok2 || first.Hdr.Name != zone || first.String() != last.String() {
		t.Fatalf("transfer of %s: want the same SOA first and last, got %v ... %v", zone, rrs[0], rrs[len(rrs)-1])
	}
	if ns, ok := rrs[1].(*dns.NS); !ok || ns.Hdr.Name != zone || ns.Ns != "ns.dns.cluster.local." {
		t.Errorf("transfer of %s: want the apex NS after the SOA, got %v", zone, rrs[1])
	}
	return rrs[2 : len(rrs)-1]
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	return out
}

// A transfer of the cluster zone holds every record a query for a name of
// the zone gets (asked through ServeDNS, the names TestResolve checks among
// them), once, and nothing else: no PTR, no synthesised pod name, no
// endpoint that is not ready.
func TestTransferHoldsEveryRecordQueriesAnswer(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	const zone = "cluster.local."
	rrs := xfr(t, k, zone, 0)
	body := checkFrame(t, k, zone, rrs)
	if rrs[0].String() != k.soa(0)[0].String() {
		t.Errorf("transfer's SOA %v, the zone's is %v", rrs[0], k.soa(0)[0])
	}
	got := rrStrings(body)
	if dup := len(got) - len(slices.Compact(slices.Sorted(slices.Values(got)))); dup > 0 {
		t.Errorf("%d records sent twice: %q", dup, got)
	}
	// Glue: the NS target's address follows the NS.
	if body[0].String() != test.A("ns.dns.cluster.local. 30 IN A 10.96.0.10").String() {
		t.Errorf("want the NS target's address right after the NS, got %v", body[0])
	}
	const cip = "sample-clusterip.default.svc.cluster.local."
	const hl = "sample-headless.default.svc.cluster.local."
	for _, want := range []string{
		`dns-version.cluster.local. 28800 IN TXT "1.1.0"`, // as stock and the spec's example
		cip + " 30 IN A 10.96.246.109",
		"_http-port._tcp." + cip + " 30 IN SRV 0 100 8080 " + cip,
		"dual.default.svc.cluster.local. 30 IN AAAA fd00:10:96::20",
		hl + " 30 IN A 10.0.2.7",
		hl + " 30 IN AAAA fd00::4",
		"sample-statefulset-headless-1." + hl + " 30 IN A 10.0.1.3",
		"10-0-2-7." + hl + " 30 IN A 10.0.2.7",
		"_http-port._tcp." + hl + " 30 IN SRV 0 20 80 sample-statefulset-headless-2." + hl,
		"pnr.default.svc.cluster.local. 30 IN A 10.0.3.1",
		"_http-port._tcp.v6h.default.svc.cluster.local. 30 IN SRV 0 100 80 fd00-10-244-1--0.v6h.default.svc.cluster.local.",
		"web-0.sh.default.svc.cluster.local. 30 IN A 10.0.7.2",
		"10-0-7-2.sh.default.svc.cluster.local. 30 IN A 10.0.7.2",
		"my-blog.test.svc.cluster.local. 30 IN CNAME blog.mosuke.tech.",
	} {
		if !slices.Contains(got, rrText(want)) {
			t.Errorf("transfer lacks %s", want)
		}
	}
	for _, rr := range body {
		name := rr.Header().Name
		if !dns.IsSubDomain(zone, name) || strings.Contains(name, "not-ready.") || strings.HasPrefix(name, "idle") ||
			strings.HasSuffix(name, ".pod.cluster.local.") || strings.Contains(name, "orphan") || rr.Header().Rrtype == dns.TypePTR {
			t.Errorf("transfer holds %v, which no query gets", rr)
		}
	}
	// Every record of every name the index holds in the zone is sent, and
	// each record sent is what a query of its name and type answers.
	for name := range k.w.ix.view().each {
		if !dns.IsSubDomain(zone, name) {
			continue
		}
		_, m := ask(k, test.Case{Qname: name, Qtype: dns.TypeANY})
		for _, rr := range m.Answer {
			if !slices.Contains(got, rr.String()) {
				t.Errorf("transfer lacks %v (answered to %s ANY)", rr, name)
			}
		}
	}
	for _, rr := range body {
		_, m := ask(k, test.Case{Qname: rr.Header().Name, Qtype: rr.Header().Rrtype})
		if !slices.Contains(rrStrings(m.Answer), rr.String()) {
			t.Errorf("transfer holds %v, but a query of its name and type answers %v", rr, m.Answer)
		}
	}
}

// A reverse zone transfers the PTR records of cluster IPs and endpoints
// that queries get (stock transfers forward names there instead).
func TestTransferOfReverseZoneHoldsItsPTRs(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	for zone, want := range map[string][]string{
		"in-addr.arpa.": {
			"109.246.96.10.in-addr.arpa. 30 IN PTR sample-clusterip.default.svc.cluster.local.",
			"3.1.0.10.in-addr.arpa. 30 IN PTR sample-statefulset-headless-1.sample-headless.default.svc.cluster.local.",
			"1.7.0.10.in-addr.arpa. 30 IN PTR web-0.hs.default.svc.cluster.local.",
		},
		"ip6.arpa.": {
			"0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 30 IN PTR dual.default.svc.cluster.local.",
		},
	} {
		body := checkFrame(t, k, zone, xfr(t, k, zone, 0))
		got := rrStrings(body)
		for _, w := range want {
			if !slices.Contains(got, rrText(w)) {
				t.Errorf("transfer of %s lacks %s: %q", zone, w, got)
			}
		}
		for _, rr := range body {
			if rr.Header().Rrtype != dns.TypePTR || !dns.IsSubDomain(zone, rr.Header().Name) {
				t.Errorf("transfer of %s holds %v", zone, rr)
			}
		}
	}
}

// IXFR from the current serial is the SOA alone; from any other serial it
// is the whole zone, as stock answers.
func TestTransferIXFRFromCurrentSerialIsTheSOAAlone(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	const zone = "cluster.local."
	serial := k.soa(0)[0].(*dns.SOA).Serial
	if got := xfr(t, k, zone, serial); len(got) != 1 || got[0].String() != k.soa(0)[0].String() {
		t.Errorf("IXFR from the current serial %d: want the SOA alone, got %d records %v", serial, len(got), got)
	}
	whole := len(xfr(t, k, zone, 0))
	for _, s := range []uint32{serial - 1, serial + 1} {
		if got := xfr(t, k, zone, s); len(got) != whole {
			t.Errorf("IXFR from serial %d (the zone's is %d): %d records, want the whole zone's %d", s, serial, len(got), whole)
		}
	}
}

// Only the plugin's zones are transferred, whatever their case; another
// name is left to the next Transferer.
func TestTransferOnlyOfThePluginsZones(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	for _, name := range []string{"svc.cluster.local.", "default.svc.cluster.local.", "example.org.", "local.", "10.in-addr.arpa."} {
		if _, err := k.Transfer(name, 0); err != transfer.ErrNotAuthoritative {
			t.Errorf("transfer of %s: err %v, want ErrNotAuthoritative", name, err)
		}
	}
	checkFrame(t, k, "cluster.local.", xfr(t, k, "Cluster.LOCAL", 0))
}

// Before the first sync there is no zone to send: an error (SERVFAIL), not
// an empty zone.
func TestTransferBeforeSyncFails(t *testing.T) {
	k, _, err := parse(caddy.NewTestController("dns", clusterCorefile))
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := k.Transfer("cluster.local.", 0); err == nil || err == transfer.ErrNotAuthoritative {
		t.Errorf("transfer before sync: err %v, channel %v; want an error", err, ch)
	}
}

// A change gets a serial of its own even within the second of the last
// one, so that an IXFR from the serial before it gets the change rather
// than "up to date".
func TestTransferIXFRAfterChangeHoldsTheChange(t *testing.T) {
	k, client := newTestKubeSvc(t, clusterCorefile, seed()...)
	const zone = "cluster.local."
	before := xfr(t, k, zone, 0)[0].(*dns.SOA).Serial
	svc := clusterIPSvc("default", "late", []string{"10.96.9.9"})
	if _, err := client.CoreV1().Services("default").Create(context.Background(), svc, metav1Create); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "late in the index", func() bool { return indexHas(k, "late.default.svc.cluster.local.") })
	got := rrStrings(xfr(t, k, zone, before))
	if !slices.Contains(got, "late.default.svc.cluster.local.\t30\tIN\tA\t10.96.9.9") {
		t.Errorf("IXFR from serial %d, before late was created: want the zone with late, got %q", before, got)
	}
}

// Transfers racing changes each send the zone as it stood at one instant:
// two transfers with the same serial send the same records.
func TestTransfersRacingChangesAreConsistent(t *testing.T) {
	k, client := newTestKubeSvc(t, clusterCorefile, seed()...)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 40 {
			svc := clusterIPSvc("race", fmt.Sprintf("s%d", i), []string{fmt.Sprintf("10.97.0.%d", i+1)}, svcPort("http", corev1.ProtocolTCP, 80))
			if _, err := client.CoreV1().Services("race").Create(context.Background(), svc, metav1Create); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[uint32]string{}
	for range 200 {
		rrs := xfr(t, k, "cluster.local.", 0)
		body := rrStrings(checkFrame(t, k, "cluster.local.", rrs))
		slices.Sort(body)
		content := strings.Join(body, "\n")
		serial := rrs[0].(*dns.SOA).Serial
		if prev, ok := seen[serial]; ok && prev != content {
			t.Fatalf("two transfers with serial %d differ:\n%s\n----\n%s", serial, prev, content)
		}
		seen[serial] = content
	}
	wg.Wait()
	if len(seen) < 2 {
		t.Logf("only %d serials seen: the transfers did not race the changes", len(seen))
	}
}

// rrText is a record's text as dns.RR.String prints it.
func rrText(s string) string {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr.String()
}
