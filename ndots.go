package kubesvc

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// Server-side search-path completion ("autopath" without a Pod watch).
//
// A pod with ndots:5 and the search list <ns>.svc.<zone> svc.<zone> <zone>
// [node domains] tries a name T as T.<ns>.svc.<zone>, T.svc.<zone>,
// T.<zone>, T.<node domain>... and T. in turn. Caches (the cache plugin,
// NodeLocal DNSCache), NAT and replicas mean the plugin can neither tell
// which client asks nor which steps it already took, and a cache hands a
// completed answer to every client asking the same question. So a question
// is completed only if its completion is a function of the question alone:
// whoever asks it, at whatever step of whatever walk, must get the answer
// its own walk would end with.
//
// That rules out everything under svc.<zone>: x.y.svc.<zone> is the first
// step of x from a pod in y, the second step of x.y from any pod and the
// third of x.y.svc, and the names those walks try next differ. It leaves
// T.<zone> outside svc.<zone> and pod.<zone>: in a walk it can only be the
// third step of T (when no node domain and no other zone of the plugin holds
// it), after which every pod tries the same names, T.<node domain>... then
// T. A client that asks T.<zone> by its full name gets that completion too:
// the name has no meaning in the cluster, and the answer is where its own
// search list leads.

// autopath holds the search domains appended after the cluster's own.
type autopath struct {
	search []string // lower-cased FQDNs, from the node's resolv.conf
	// capped: the node has more domains than are walked, so a walk that
	// finds nothing in search must not go on to the name itself, which
	// the client would ask only after the domains past the cap.
	capped bool
}

const maxSearch = 8 // search domains walked, at most

func newAutopath(search []string) *autopath {
	ap := &autopath{}
	for _, d := range search {
		if d = strings.ToLower(dns.Fqdn(d)); d == "." || slices.Contains(ap.search, d) {
			continue // the kubelet drops repeats too
		}
		if len(ap.search) == maxSearch {
			ap.capped = true
			break
		}
		ap.search = append(ap.search, d)
	}
	return ap
}

// parseAutopath reads the autopath option: at most one resolv.conf path,
// whose search domains follow the cluster's own.
func parseAutopath(c *caddy.Controller, k *KubeSvc, args []string) error {
	if len(args) > 1 {
		return c.Errf("autopath takes at most one resolv.conf path, got %d arguments", len(args))
	}
	var search []string
	if len(args) == 1 {
		rc, err := dns.ClientConfigFromFile(args[0])
		if err != nil {
			return c.Errf("autopath: reading %s: %v", args[0], err)
		}
		search = rc.Search
	}
	k.autopath = newAutopath(search)
	return nil
}

// walking marks lookups made for a walk, so they never start one.
type walking struct{}

// complete tries to finish the walk whose third step is name (an NXDOMAIN
// in zone z). It returns the answer to send, or nil to answer as if
// autopath were off.
func (k *KubeSvc) complete(ctx context.Context, state request.Request, name []byte, z int, qtype uint16) *dns.Msg {
	if k.autopath == nil || (qtype != dns.TypeA && qtype != dns.TypeAAAA) || ctx.Value(walking{}) != nil {
		return nil
	}
	typed, ok := k.zoneStep(name, z)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, walking{}, true), chaseTimeout)
	defer cancel()
	for i, cand := range k.candidates(typed) {
		answer, rcode, truncated := k.tryName(ctx, state, cand, qtype)
		if rcode == dns.RcodeNameError {
			continue
		}
		if rcode != dns.RcodeSuccess || !truncated && !hasType(answer, qtype) {
			// SERVFAIL, REFUSED, no answer in time: whether the client's
			// walk would stop here is unknown, so it must walk itself.
			// So with NODATA: glibc looking up one type goes on past it,
			// while looking up A and AAAA together it stops there. (A
			// truncated answer may hold the type: the client asks again
			// over TCP.)
			return nil
		}
		autopathCompleted.Inc()
		autopathSaved.Add(float64(i + 1))
		// A truncated target answer did not fit the client's transport: the
		// reply says so (TC), and the client asks again over TCP.
		return reply(state.Req, result{answer: k.withCNAME(string(name), cand, answer), truncated: truncated})
	}
	return nil
}

// zoneStep returns T when name is T.<zone> and can be nothing but the zone
// step of a walk for T: not under svc.<zone> or pod.<zone>, not under a node
// domain (then it could be a later step of another walk) nor under another
// forward zone of the plugin (the zone step of a longer name there).
func (k *KubeSvc) zoneStep(name []byte, z int) (string, bool) {
	zone := k.zones[z]
	n := len(name) - len(zone.name) // name is in zone z
	if zone.name != "." {
		n-- // the dot before the zone
	}
	if zone.reverse || n <= 0 {
		return "", false
	}
	if z != k.clusterZone() {
		return "", false // pods search the cluster domain only: elsewhere T.<zone> is no step of a walk
	}
	typed := name[:n]
	if bytes.IndexByte(typed, '\\') >= 0 {
		return "", false // an escaped label is no host name a pod would look up
	}
	if top := string(typed[bytes.LastIndexByte(typed, '.')+1:]); top == "svc" || top == "pod" {
		return "", false
	}
	for i, other := range k.zones {
		if i != z && !other.reverse && inZone(name, other.name) {
			return "", false
		}
	}
	for _, d := range k.autopath.search {
		if inZone(name, d) {
			return "", false
		}
	}
	return string(typed), true
}

// hasType reports whether rrs hold a record of type qtype.
func hasType(rrs []dns.RR, qtype uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			return true
		}
	}
	return false
}

// clusterZone is the index of the cluster domain, the first forward zone:
// the one the kubelet puts in pods' search lists.
func (k *KubeSvc) clusterZone() int {
	for i, z := range k.zones {
		if !z.reverse && !z.multicluster {
			return i
		}
	}
	return -1
}

// candidates are the names a client asks after T.<zone>, in its order.
func (k *KubeSvc) candidates(typed string) []string {
	out := make([]string, 0, len(k.autopath.search)+1)
	for _, d := range k.autopath.search {
		out = append(out, within(typed, d))
	}
	if k.autopath.capped {
		return out
	}
	return append(out, typed+".")
}

// tryName returns the records of type qtype that name has (after any
// CNAMEs), the rcode (-1 if no answer came), and whether its answer was
// truncated: the walk stops at the first name that exists, as the client's
// would, even if it has no record of that type, so that A and AAAA agree.
// Names in the plugin's zones are answered from the index; the rest go
// through the server's plugin chain.
func (k *KubeSvc) tryName(ctx context.Context, state request.Request, name string, qtype uint16) ([]dns.RR, int, bool) {
	var buf [maxPresentation]byte
	lname, _ := lower(buf[:0], name)
	if z := k.zoneOf(lname); z >= 0 {
		res := k.resolve(lname, z, qtype)
		if res.chase != "" {
			res = k.chase(ctx, state, res, qtype)
		}
		return res.answer, res.rcode, res.truncated
	}
	m := k.lookup(ctx, state, name, qtype)
	if m == nil {
		return nil, -1, false
	}
	return m.Answer, m.Rcode, m.Truncated
}

// withCNAME puts a CNAME from the question's name to the name that answered
// in front of its records. Its TTL is the smallest of the chain and of the
// plugin's own: the shortcut also stands on cluster names not existing.
func (k *KubeSvc) withCNAME(owner, target string, answer []dns.RR) []dns.RR {
	ttl := k.ttl
	for _, rr := range answer {
		ttl = min(ttl, rr.Header().Ttl)
	}
	out := make([]dns.RR, 0, len(answer)+1)
	out = append(out, &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl}, Target: target})
	return append(out, answer...)
}
