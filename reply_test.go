package kubesvc

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

func TestReplyDoesNotShareCapacity(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	_, m := ask(k, test.Case{Qname: "sample-headless.default.svc.cluster.local.", Qtype: dns.TypeA})
	// A plugin that appends to the answer must not write into the index.
	m.Answer = append(m.Answer, test.A("x. 1 IN A 1.1.1.1"))
	_, m2 := ask(k, test.Case{Qname: "sample-headless.default.svc.cluster.local.", Qtype: dns.TypeAAAA})
	if len(m2.Answer) != 1 || strings.Contains(m2.Answer[0].String(), "1.1.1.1") {
		t.Fatalf("index corrupted by an append to a reply: %v", m2)
	}
}

// Replies come from slabs but are never handed out twice: a plugin before
// this one may still read a reply after ServeDNS returned, while others are
// being answered, concurrently too.
func TestRepliesAreNotReused(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	cases := []test.Case{
		{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeA},
		{Qname: "nope.default.svc.cluster.local.", Qtype: dns.TypeA},
		{Qname: "sample-headless.default.svc.cluster.local.", Qtype: dns.TypeSRV},
	}
	const n = 3 * replySlab
	kept := make([][]*dns.Msg, 2)
	var wg sync.WaitGroup
	for g := range kept {
		wg.Go(func() {
			for i := range n {
				r := cases[(i+g)%len(cases)].Msg()
				r.Id = uint16(i)
				rec := dnstest.NewRecorder(&test.ResponseWriter{})
				k.ServeDNS(context.Background(), rec, r)
				kept[g] = append(kept[g], rec.Msg)
			}
		})
	}
	wg.Wait()
	seen := map[*dns.Msg]bool{}
	for g, ms := range kept {
		for i, m := range ms {
			tc := cases[(i+g)%len(cases)]
			if seen[m] {
				t.Fatalf("reply %d of goroutine %d handed out twice", i, g)
			}
			seen[m] = true
			if m.Id != uint16(i) || m.Question[0].Name != tc.Qname || m.Question[0].Qtype != tc.Qtype {
				t.Errorf("reply %d of goroutine %d changed after it was written: %v", i, g, m)
			}
		}
	}
}

// An entry finds each kind's records among others, keeps SRV additionals
// out of every answer, and hands out slices nobody can append into.
func TestEntryKinds(t *testing.T) {
	rec := records{ttl: 30}
	const base = "svc.default.svc.cluster.local."
	b := &builder{}
	for _, ip := range []string{"10.0.0.1", "fd00::1", "10.0.0.2", "fd00::2", "fd00::3"} {
		b.add(rec.addr(base, netip.MustParseAddr(ip)))
	}
	e := b.entry()
	for k, want := range map[kind]int{kA: 2, kAAAA: 3, kSRV: 0, kPTR: 0, kCNAME: 0, kTXT: 0, kExtra: 0} {
		got := e.answer(k)
		if len(got) != want {
			t.Errorf("kind %d: %d records, want %d", k, len(got), want)
		}
		for _, rr := range got {
			if kindOfRR(rr) != k {
				t.Errorf("kind %d: got %v", k, rr)
			}
		}
	}
	if n := len(e.all()); n != 5 {
		t.Errorf("all: %d records, want 5", n)
	}
	_ = append(e.answer(kA), rec.ptr(base, "x."))   // must not overwrite the first AAAA
	_ = append(e.answer(kPTR), rec.ptr(base, "x.")) // nor the first A
	if _, ok := e.answer(kAAAA)[0].(*dns.AAAA); !ok {
		t.Errorf("appending to the A answer wrote into the entry")
	}
	if _, ok := e.answer(kA)[0].(*dns.A); !ok {
		t.Errorf("appending to an empty answer wrote into the entry")
	}

	srv := &builder{}
	const name = "_http._tcp." + base
	srv.add(kSRV, rec.srv(name, base, 80, 100))
	srv.add(kSRV, rec.srv(name, base, 81, 100))
	for _, rr := range e.answer(kA) {
		srv.add(kExtra, rr)
	}
	s := srv.entry()
	if n, m, x := len(s.answer(kSRV)), len(s.all()), len(s.extra()); n != 2 || m != 2 || x != 2 {
		t.Errorf("SRV entry: %d SRV, %d in all, %d additionals; want 2, 2, 2", n, m, x)
	}
	if n := len(s.answer(kA)); n != 0 {
		t.Errorf("SRV entry: %d A answers, want none: the additionals are not answers", n)
	}
	if len(emptyNonTerminal.answer(kA)) != 0 || len(emptyNonTerminal.extra()) != 0 {
		t.Errorf("empty non-terminal has records")
	}
}

// A name with more records than a message can carry is capped per kind.
func TestHugeEntry(t *testing.T) {
	b := &builder{}
	for i := range 40000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		rec := records{ttl: 30}
		_, a := rec.addr("big.default.svc.cluster.local.", ip)
		b.add(kSRV, rec.srv("_p._tcp.big.default.svc.cluster.local.", "x.big.default.svc.cluster.local.", 80, 1))
		b.add(kExtra, a)
		b.add(kExtra, a)
	}
	e := b.entry()
	if n := len(e.answer(kSRV)); n != maxPerKind {
		t.Errorf("SRV records: %d, want %d", n, maxPerKind)
	}
	if n := len(e.extra()); n != maxPerKind {
		t.Errorf("additionals: %d, want %d", n, maxPerKind)
	}
	if _, ok := e.extra()[0].(*dns.A); !ok {
		t.Errorf("additionals start with %T, want *dns.A", e.extra()[0])
	}
}

// ptr builds a PTR record at name (the index answers PTR per query; entries
// of that kind are only built here, to test entry's kind ordering).
func (r *records) ptr(name, target string) dns.RR {
	return &dns.PTR{Hdr: r.hdr(name, dns.TypePTR), Ptr: target}
}
