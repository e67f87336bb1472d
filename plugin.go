// Package kubesvc is a CoreDNS plugin that serves Kubernetes Service DNS from
// a compact index of services, kept by informers on Services and
// EndpointSlices, building each answer's records when it is asked.
package kubesvc

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

const pluginName = "kubesvc"

var log = clog.NewWithPlugin(pluginName)

// KubeSvc is the plugin handler.
type KubeSvc struct {
	Next plugin.Handler
	Fall fall.F

	zones      []zone
	ptrZone    string // the first forward zone: PTR records point into it
	ttl        uint32
	denialTTL  uint32 // denial_ttl: how long denials are cached, if hasDenial
	hasDenial  bool
	pods       bool
	namespaces map[string]bool // nil: all
	upstream   lookuper
	autopath   *autopath // nil: off
	// endpoint_pod_names and ignore empty_service: see records.
	podNames, ignoreEmpty bool
	zonal                 bool     // zonal: zone-scoped names of headless services (zonal.go)
	mcZones               []string // multicluster: ServiceImports' zones (multicluster.go)

	// namespaceLabels: only the namespaces namespace_labels selects are
	// served; the watcher publishes <ns>.pod.<zone> for each of them.
	namespaceLabels bool

	w    *watcher                   // the index's writer
	ix   *index                     // the watcher's index, read without locks
	soas []atomic.Pointer[[]dns.RR] // per zone, made for the index's serial
	ext  atomic.Pointer[extIndex]   // k8s_external's data, if the server block has it
}

// lookuper resolves a name through the server's plugin chain; it is
// CoreDNS's upstream.Upstream, or a stand-in in tests.
type lookuper interface {
	Lookup(ctx context.Context, state request.Request, name string, typ uint16) (*dns.Msg, error)
}

// zone is one of the plugin's zones with its fixed records.
type zone struct {
	name    string // lower-cased FQDN
	reverse bool   // in-addr.arpa or ip6.arpa: PTR names only
	// multicluster: a zone of ServiceImports (multicluster.go), not of
	// Services.
	multicluster bool
	nsName       string // ns.dns.<first forward zone>
	podZone      string // pod.<zone>
	ns           []dns.RR
}

// Name implements plugin.Handler.
func (k *KubeSvc) Name() string { return pluginName }

// Ready implements ready.Readiness: true once the informers have synced.
func (k *KubeSvc) Ready() bool { return k.ix.ready() }

// ServeDNS implements plugin.Handler.
func (k *KubeSvc) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	var buf [maxPresentation]byte
	name, ok := lower(buf[:0], q.Name)
	z := -1
	if ok {
		z = k.zoneOf(name)
	}
	if z < 0 {
		return plugin.NextOrFailure(k.Name(), k.Next, ctx, w, r)
	}
	if !k.ix.ready() {
		countAnswer(q.Qtype, resServFail)
		return dns.RcodeServerFailure, nil // never NXDOMAIN for what we do not know yet
	}
	res := k.resolve(name, z, q.Qtype)
	if res.rcode == dns.RcodeNameError {
		if m := k.complete(ctx, request.Request{W: w, Req: r}, name, z, q.Qtype); m != nil {
			countAnswer(q.Qtype, resAutopath)
			k.inQuestionCase(m, name, z)
			w.WriteMsg(m)
			return dns.RcodeSuccess, nil
		}
		if k.fallsThrough(name) {
			countAnswer(q.Qtype, resFallthrough)
			return plugin.NextOrFailure(k.Name(), k.Next, ctx, w, r)
		}
	}
	if res.chase != "" {
		res = k.chase(ctx, request.Request{W: w, Req: r}, res, q.Qtype)
	}
	m := reply(r, res)
	countAnswer(q.Qtype, outcome(res))
	k.inQuestionCase(m, name, z)
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

func outcome(res result) int {
	switch {
	case res.rcode == dns.RcodeNameError:
		return resNXDomain
	case len(res.answer) == 0:
		return resNoData
	}
	return resSuccess
}

// fallsThrough is fall.F's Through for a lower-cased name, without the
// allocations of splitting it into labels on every NXDOMAIN.
func (k *KubeSvc) fallsThrough(name []byte) bool {
	for _, z := range k.Fall.Zones {
		if inZone(name, z) {
			return true
		}
	}
	return false
}

// maxPresentation bounds a name in presentation form: 255 octets, each
// escaped as \DDD at worst.
const maxPresentation = 1024

// lower appends the ASCII-lower-cased name to dst without allocating.
func lower(dst []byte, name string) ([]byte, bool) {
	if len(name) > cap(dst) {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// replyMsg is a message with room for its question.
type replyMsg struct {
	m dns.Msg
	q [1]dns.Question
}

// Replies are carved from slabs: one allocation per replySlab answers. A
// message is never handed out twice, because plugins before this one (log,
// cache, metrics) may read it after ServeDNS returns; the garbage collector
// frees a slab once none of its messages is referenced any more.
const replySlab = 64

type replyCursor struct{ free []replyMsg }

var replies = sync.Pool{New: func() any { return &replyCursor{} }}

func newReply() *replyMsg {
	c := replies.Get().(*replyCursor)
	if len(c.free) == 0 {
		c.free = make([]replyMsg, replySlab)
	}
	p := &c.free[0]
	c.free = c.free[1:]
	replies.Put(c)
	return p
}

func reply(r *dns.Msg, res result) *dns.Msg {
	p := newReply()
	m := &p.m
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	m.Authoritative = true
	m.RecursionDesired = r.RecursionDesired
	m.CheckingDisabled = r.CheckingDisabled
	m.Rcode = res.rcode
	m.Truncated = res.truncated
	p.q[0] = r.Question[0]
	m.Question = p.q[:]
	m.Answer, m.Ns, m.Extra = res.answer, res.ns, res.extra
	return m
}

// soa returns zone z's SOA record, with the index's serial, as a
// one-element slice. It is made once per serial and zone, by the first query
// that needs it, and shared by the rest.
func (k *KubeSvc) soa(z int) []dns.RR {
	serial := k.ix.serial.Load()
	if p := k.soas[z].Load(); p != nil && (*p)[0].(*dns.SOA).Serial == serial {
		return *p
	}
	zone := k.zones[z]
	ttl, minimum := k.soaTTLs()
	soa := []dns.RR{&dns.SOA{
		Hdr:     dns.RR_Header{Name: zone.name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      zone.nsName,
		Mbox:    within("hostmaster", zone.name),
		Serial:  serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  minimum,
	}}
	k.soas[z].Store(&soa)
	return soa
}

// maxSOATTL caps the SOA record's TTL as stock does.
const maxSOATTL = 300

// soaTTLs are the SOA record's own TTL and its MINIMUM field. A resolver
// caches a denial (NXDOMAIN, NODATA) for the smaller of the two (RFC 2308
// section 5). As with stock, MINIMUM is ttl and the record's TTL is ttl but
// at most 300 s, so that with a large ttl a new service is hidden for 5
// minutes at most, not an hour. denial_ttl sets both: denials are cached for
// exactly that long, whatever ttl is.
func (k *KubeSvc) soaTTLs() (ttl, minimum uint32) {
	if k.hasDenial {
		return k.denialTTL, k.denialTTL
	}
	return min(k.ttl, maxSOATTL), k.ttl
}

// chaseDepth counts nested ExternalName chases in a query's context: a chase
// goes through the whole plugin chain and may come back here.
type chaseDepth struct{}

const (
	maxChase     = 8
	chaseTimeout = 2 * time.Second
)

// chasedType reports whether a query of type qtype at an ExternalName's name
// is answered with the target's records after the CNAME: every type of data
// a resolver restarts its query with at a CNAME's target (RFC 1034 4.3.2),
// as stock goes on through its upstream for A and AAAA (it answers the
// others NODATA, without the CNAME); not CNAME itself, OPT, or a query-only
// or meta type (AXFR, ANY: RFC 6895 3.1).
func chasedType(qtype uint16) bool {
	return qtype != dns.TypeCNAME && qtype != dns.TypeOPT && (qtype < 128 || qtype > 255)
}

// chase adds to res (an ExternalName's CNAME) the records of type qtype of
// res.chase, looked up through the server's own plugin chain. That reply is
// the one to the last name of the chain, so its header tells the client what
// holds for the whole answer (RFC 6604): its TC bit, so that a client whose
// answer was cut retries over TCP, and an NXDOMAIN or NODATA with the target
// zone's SOA, for negative caching. A failed lookup (SERVFAIL, REFUSED...),
// like a slow or too deep chase, says nothing of the target: res (the CNAME)
// is answered as it is.
func (k *KubeSvc) chase(ctx context.Context, state request.Request, res result, qtype uint16) result {
	depth, _ := ctx.Value(chaseDepth{}).(int)
	if depth >= maxChase {
		chases.WithLabelValues("too_deep").Inc()
		return res
	}
	m := k.lookup(context.WithValue(ctx, chaseDepth{}, depth+1), state, res.chase, qtype)
	if m == nil {
		chases.WithLabelValues("failed").Inc()
		return res
	}
	chases.WithLabelValues(rcodeLabel(m.Rcode)).Inc()
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return res
	}
	out := res.answer[:len(res.answer):len(res.answer)]
	added := false
	for _, rr := range m.Answer {
		if !containsRR(out, rr) {
			out = append(out, rr)
			added = true
		}
	}
	res.answer = out
	res.truncated = res.truncated || m.Truncated
	if m.Rcode == dns.RcodeNameError || !added {
		res.rcode, res.ns = m.Rcode, m.Ns
	}
	return res
}

// lookup asks the server's plugin chain for name, giving up after
// chaseTimeout (or ctx's deadline): an upstream that hangs must not hold the
// client's answer. The lookup itself finishes in the background.
func (k *KubeSvc) lookup(ctx context.Context, state request.Request, name string, qtype uint16) *dns.Msg {
	return lookupWithin(ctx, k.upstream, state, name, qtype)
}

// lookupWithin asks u for name, giving up after chaseTimeout (see lookup).
func lookupWithin(ctx context.Context, u lookuper, state request.Request, name string, qtype uint16) *dns.Msg {
	if u == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, chaseTimeout)
	defer cancel()
	done := make(chan *dns.Msg, 1)
	go func() {
		m, err := u.Lookup(ctx, state, name, qtype)
		if err != nil {
			m = nil
		}
		done <- m
	}()
	select {
	case m := <-done:
		return m
	case <-ctx.Done():
		log.Warningf("looking up %s: no answer within %v", name, chaseTimeout)
		return nil
	}
}

// containsRR reports whether rrs holds rr; a looping chain returns the same
// shared records again.
func containsRR(rrs []dns.RR, rr dns.RR) bool {
	for _, x := range rrs {
		if x == rr || dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}

// rcodeLabel names an rcode for a metric label; one without a name (an
// upstream may send any of 4,096) is its number, never "".
func rcodeLabel(rcode int) string {
	if name, ok := dns.RcodeToString[rcode]; ok {
		return name
	}
	return strconv.Itoa(rcode)
}
