package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// protos: every behaviour is asked over both.
var protos = []string{"udp", "tcp"}

const (
	zone       = "cluster.local."
	soaMname   = "ns.dns.cluster.local."
	recordTTL  = 30
	queryLimit = 2 * time.Second
)

// ask sends one query for name/qtype over proto to addr. With edns the query
// carries an OPT record advertising a 1232-byte UDP buffer.
func ask(addr, proto, name string, qtype uint16, edns bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: proto, Timeout: queryLimit}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s over %s: %w", name, dns.TypeToString[qtype], addr, proto, err)
	}
	return r, nil
}

// query is ask with EDNS0 that fails t on a transport error.
func query(t *testing.T, addr, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := ask(addr, proto, name, qtype, true)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// want is what a response must hold.
type want struct {
	rcode int
	// answer is the exact answer section in any order, as RR strings
	// ("owner ttl class type rdata..."); a "*" field matches anything.
	// Names compare case-insensitively.
	answer []string
	// anyAnswer skips the exact answer check (first and check still apply).
	anyAnswer bool
	// first, if set, must be the first answer record.
	first string
	// soa: the authority section is exactly the zone's SOA (NODATA and
	// NXDOMAIN answers of kubesvc). Without it, the authority must hold no
	// cluster.local. SOA.
	soa bool
	// extra must all be in the additional section (OPT ignored).
	extra []string
	// check runs last for what the fields above cannot say.
	check func(r *dns.Msg) error
}

// verify returns what is wrong with r, or "".
func (w want) verify(r *dns.Msg) []string {
	var errs []string
	if r.Rcode != w.rcode {
		errs = append(errs, fmt.Sprintf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[w.rcode]))
	}
	if r.Truncated {
		errs = append(errs, "TC bit set")
	}
	if d := diffRRs(w.answer, r.Answer); d != "" && !w.anyAnswer {
		errs = append(errs, "answer: "+d)
	}
	if w.first != "" && (len(r.Answer) == 0 || !rrMatch(w.first, r.Answer[0])) {
		errs = append(errs, fmt.Sprintf("first answer is not %q", w.first))
	}
	if w.soa {
		if err := zoneSOA(r.Ns); err != nil {
			errs = append(errs, "authority: "+err.Error())
		}
	} else if hasZoneSOA(r.Ns) {
		errs = append(errs, "authority has kubesvc's cluster.local. SOA")
	}
	for _, e := range w.extra {
		if !slices.ContainsFunc(r.Extra, func(rr dns.RR) bool { return rrMatch(e, rr) }) {
			errs = append(errs, fmt.Sprintf("additional lacks %q", e))
		}
	}
	if w.check != nil {
		if err := w.check(r); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs
}

// expect fails t unless r is what w says; the message shows the full response.
func expect(t *testing.T, r *dns.Msg, w want) {
	t.Helper()
	if errs := w.verify(r); len(errs) > 0 {
		t.Errorf("%s\nfull response:\n%s", strings.Join(errs, "\n"), r)
	}
}

// expectQuestion fails t unless r's question is name as asked, byte for byte.
func expectQuestion(t *testing.T, r *dns.Msg, name string, qtype uint16) {
	t.Helper()
	if len(r.Question) != 1 || r.Question[0].Name != name || r.Question[0].Qtype != qtype {
		t.Errorf("question section %v, want %q %s echoed as asked\nfull response:\n%s",
			r.Question, name, dns.TypeToString[qtype], r)
	}
}

// rrMatch compares rr with the pattern exp field by field ("*" matches any
// field), case-insensitively.
func rrMatch(exp string, rr dns.RR) bool {
	ef := strings.Fields(strings.ToLower(exp))
	gf := strings.Fields(strings.ToLower(rr.String()))
	if len(ef) != len(gf) {
		return false
	}
	for i := range ef {
		if ef[i] != "*" && ef[i] != gf[i] {
			return false
		}
	}
	return true
}

// diffRRs says how got differs from the set exp (each pattern matching
// exactly one record), or "".
func diffRRs(exp []string, got []dns.RR) string {
	used := make([]bool, len(got))
	var missing []string
	for _, e := range exp {
		found := false
		for i, rr := range got {
			if !used[i] && rrMatch(e, rr) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, e)
		}
	}
	var unexpected []string
	for i, rr := range got {
		if !used[i] {
			unexpected = append(unexpected, rr.String())
		}
	}
	if len(missing) == 0 && len(unexpected) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %q, unexpected %q", missing, unexpected)
}

// zoneSOA checks that ns is exactly kubesvc's SOA for cluster.local.
func zoneSOA(ns []dns.RR) error {
	if len(ns) != 1 {
		return fmt.Errorf("%d records, want exactly the cluster.local. SOA", len(ns))
	}
	return checkSOA(ns[0])
}

func checkSOA(rr dns.RR) error {
	soa, ok := rr.(*dns.SOA)
	switch {
	case !ok:
		return fmt.Errorf("%s is not a SOA", rr)
	case !strings.EqualFold(soa.Hdr.Name, zone):
		return fmt.Errorf("SOA owner %s, want %s", soa.Hdr.Name, zone)
	case !strings.EqualFold(soa.Ns, soaMname):
		return fmt.Errorf("SOA mname %s, want %s", soa.Ns, soaMname)
	case soa.Minttl != recordTTL:
		return fmt.Errorf("SOA minttl %d, want %d", soa.Minttl, recordTTL)
	case soa.Hdr.Ttl != recordTTL:
		return fmt.Errorf("SOA ttl %d, want %d", soa.Hdr.Ttl, recordTTL)
	}
	return nil
}

func hasZoneSOA(ns []dns.RR) bool {
	return slices.ContainsFunc(ns, func(rr dns.RR) bool {
		return rr.Header().Rrtype == dns.TypeSOA && strings.EqualFold(rr.Header().Name, zone)
	})
}

// addrs are the A and AAAA addresses in rrs, sorted.
func addrs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

// eventually polls cond every 20 ms until it returns ok or timeout passes,
// then fails t with cond's last report. It returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (ok bool, report string)) time.Duration {
	t.Helper()
	start := time.Now()
	var report string
	for {
		var ok bool
		if ok, report = cond(); ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, report)
			return 0
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers is a cond for eventually: name/qtype over udp meets w.
func answers(addr, name string, qtype uint16, w want) func() (bool, string) {
	return func() (bool, string) {
		r, err := ask(addr, "udp", name, qtype, true)
		if err != nil {
			return false, err.Error()
		}
		if errs := w.verify(r); len(errs) > 0 {
			return false, strings.Join(errs, "; ") + "\n" + r.String()
		}
		return true, ""
	}
}

// reverse is the PTR owner name of ip.
func reverse(t *testing.T, ip string) string {
	t.Helper()
	name, err := dns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return name
}
