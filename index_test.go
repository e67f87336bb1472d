package kubesvc

import (
	"net"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// mustPanic fails t unless f panics.
func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}

// A record of a type no kind holds, or filed under another kind, would be
// sorted where answer() does not look for it (an unknown type used to count
// as A): it panics where the entry is built, and where it is read.
func TestEntryRefusesRecordsOfNoKind(t *testing.T) {
	hdr := func(t uint16) dns.RR_Header { return dns.RR_Header{Name: "x.", Rrtype: t, Class: dns.ClassINET} }
	a := &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(10, 0, 0, 1)}
	mx := &dns.MX{Hdr: hdr(dns.TypeMX), Mx: "mail."}
	mustPanic(t, "add an MX record", func() { (&builder{}).add(kA, mx) })
	mustPanic(t, "add an A record as AAAA", func() { (&builder{}).add(kAAAA, a) })
	mustPanic(t, "kind of an MX record", func() { kindOfRR(mx) })

	b := &builder{}
	b.add(kA, a)
	b.add(kExtra, a) // the additional section holds any type
	if got := b.entry().answer(kA); len(got) != 1 || got[0] != a {
		t.Errorf("answer(A) = %v, want the A record", got)
	}
}

// Every query type is counted, under its own name or "other", without a
// panic: the counters' table is sized from the list of types.
func TestAnswerCountersCoverEveryType(t *testing.T) {
	for _, qtype := range append(answerTypes[:], dns.TypeMX, dns.TypeNone, 65535) {
		name := dns.TypeToString[qtype]
		found := false
		for _, t := range answerTypes {
			found = found || t == qtype
		}
		if !found {
			name = "other"
		}
		c := answers.WithLabelValues(name, "nodata")
		before := testutil.ToFloat64(c)
		countAnswer(qtype, resNoData)
		if got := testutil.ToFloat64(c) - before; got != 1 {
			t.Errorf("type %d: answers_total{type=%q,result=\"nodata\"} moved by %v, want 1", qtype, name, got)
		}
	}
}
