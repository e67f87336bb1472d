package kubesvc

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// Server-side search-path completion ("autopath" without a Pod watch).
//
// A pod with ndots:5 and the search list <ns>.svc.<zone> svc.<zone> <zone>
// [node domains] asks first for <name>.<ns>.svc.<zone>. When that name is not
// a cluster record and <ns> is a namespace the index knows, the plugin walks
// the rest of the list itself and answers the first query with a CNAME to the
// name that exists, saving the client the round trips.
//
// The same query can also be the second step of another walk: a pod in any
// namespace resolving "<name>.<ns>" asks <name>.<ns>.svc.<zone> second. Two
// guards keep such a lookup from being "completed" into an answer for a name
// that exists nowhere:
//   - a walk for a single-label name is never completed: the only names it
//     could reach lie outside the cluster (node domains, the root), and a
//     single label followed by a namespace is exactly the <svc>.<ns> idiom;
//   - each client's walks are remembered for a few seconds, and a query that
//     is a later step of a walk already done for that client is left alone;
//   - <name>.<svc>.<ns> with <svc> a service of <ns> is a name under that
//     service, not a walk from <ns>.
//
// What remains: with several replicas, a dotted <a>.<b>.<ns> whose first step
// went to another replica can still be completed as a walk for <a>.<b>.

// autopath holds the search domains appended after the cluster's own.
type autopath struct {
	search []string // lower-cased FQDNs, from the node's resolv.conf
	memo   *walkMemo
}

const (
	maxSearch = 8               // search domains used, at most
	walkTTL   = 5 * time.Second // how long a client's walk is remembered
)

func newAutopath(search []string) *autopath {
	ap := &autopath{memo: newWalkMemo(walkTTL, 1<<16)}
	for _, d := range search {
		if d = strings.ToLower(dns.Fqdn(d)); d != "." && len(ap.search) < maxSearch {
			ap.search = append(ap.search, d)
		}
	}
	return ap
}

// walking marks lookups made for a walk, so they never start one.
type walking struct{}

// complete tries to finish the walk that name (an NXDOMAIN in zone z) starts.
// It returns the answer to send, or nil to answer as if autopath were off.
func (k *KubeSvc) complete(ctx context.Context, state request.Request, name []byte, z int, qtype uint16) *dns.Msg {
	if k.autopath == nil || (qtype != dns.TypeA && qtype != dns.TypeAAAA) || ctx.Value(walking{}) != nil {
		return nil
	}
	typed, ns, ok := k.walkStart(string(name), z)
	if !ok {
		return nil
	}
	client := state.IP()
	if k.autopath.memo.seen(client, typed+"."+ns) {
		return nil // a later step of a walk this client already had
	}
	k.autopath.memo.add(client, typed)
	dot := strings.LastIndexByte(typed, '.')
	if dot < 0 {
		return nil // single label: the <svc>.<ns> idiom
	}
	if k.w.ix.lookup(within(typed[dot+1:]+"."+ns+".svc", k.zones[z].name)) != nil {
		return nil // <pod>.<svc>.<ns>: a name under a service, not a walk from <ns>
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, walking{}, true), chaseTimeout)
	defer cancel()
	for i, cand := range k.candidates(typed, z) {
		answer, exists := k.tryName(ctx, state, cand, qtype)
		if !exists {
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		autopathCompleted.Inc()
		autopathSaved.Add(float64(i + 1))
		return reply(state.Req, result{answer: k.withCNAME(string(name), cand, answer)})
	}
	return nil
}

// walkStart splits <typed>.<ns>.svc.<zone> when <ns> is a known namespace.
func (k *KubeSvc) walkStart(name string, z int) (typed, ns string, ok bool) {
	zone := k.zones[z]
	if zone.reverse {
		return "", "", false
	}
	rel, ok := relative(name, zone.name)
	if ok {
		rel, ok = strings.CutSuffix(rel, ".svc")
	}
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rel, '.')
	if i <= 0 {
		return "", "", false
	}
	typed, ns = rel[:i], rel[i+1:]
	if k.w.ix.lookup(within(ns+".svc", zone.name)) == nil {
		return "", "", false // not a namespace with services
	}
	return typed, ns, true
}

// candidates are the names the client would ask next, in its order.
func (k *KubeSvc) candidates(typed string, z int) []string {
	zone := k.zones[z].name
	out := []string{within(typed+".svc", zone), within(typed, zone)}
	for _, d := range k.autopath.search {
		out = append(out, within(typed, d))
	}
	return append(out, typed+".")
}

// tryName returns the records of type qtype that name has (after any
// CNAMEs), and whether the name exists: the walk stops at the first name that
// does, as the client's would, even if it has no record of that type, so that
// A and AAAA agree. Names in the plugin's zones are answered from the index;
// the rest go through the server's plugin chain.
func (k *KubeSvc) tryName(ctx context.Context, state request.Request, name string, qtype uint16) ([]dns.RR, bool) {
	var buf [maxPresentation]byte
	lname, _ := lower(buf[:0], name)
	if z := k.zoneOf(lname); z >= 0 {
		res := k.resolve(lname, z, qtype)
		exists := res.rcode == dns.RcodeSuccess
		if res.chase != "" {
			res = k.chase(ctx, state, res, qtype)
		}
		return res.answer, exists
	}
	m := k.lookup(ctx, state, name, qtype)
	if m == nil || m.Rcode != dns.RcodeSuccess {
		return nil, false
	}
	return m.Answer, true
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

// walkMemo remembers, per client address, the names whose walks were
// recently done, so that their later steps are recognised.
type walkMemo struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	clients map[string]*recentWalks
}

type recentWalks struct {
	names [4]string
	at    [4]time.Time
	next  int
}

func newWalkMemo(ttl time.Duration, max int) *walkMemo {
	return &walkMemo{ttl: ttl, max: max, clients: map[string]*recentWalks{}}
}

func (m *walkMemo) add(client, name string) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.clients[client]
	if r == nil {
		if len(m.clients) >= m.max {
			m.sweep(now)
		}
		r = &recentWalks{}
		m.clients[client] = r
	}
	r.names[r.next], r.at[r.next] = name, now
	r.next = (r.next + 1) % len(r.names)
}

func (m *walkMemo) seen(client, name string) bool {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.clients[client]
	if r == nil {
		return false
	}
	for i, n := range r.names {
		if n == name && now.Sub(r.at[i]) < m.ttl {
			return true
		}
	}
	return false
}

// sweep forgets expired clients; if all are fresh (a flood of clients), it
// forgets them all rather than grow without bound.
func (m *walkMemo) sweep(now time.Time) {
	for c, r := range m.clients {
		fresh := false
		for _, at := range r.at {
			fresh = fresh || now.Sub(at) < m.ttl
		}
		if !fresh {
			delete(m.clients, c)
		}
	}
	if len(m.clients) >= m.max {
		clear(m.clients)
	}
}
