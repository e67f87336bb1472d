package kubesvc

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// extIndex is what k8s_external reads: the external face of the services
// (stock's <svc>.<ns>.<zone> names), and the names that objects give
// themselves (Ingress hosts, the external-dns hostname annotation). The
// watcher writes it, as it writes the index; k8s_external only reads it,
// without locks. It holds no DNS records: each k8s_external block has its
// own zones, TTL and face (public) and builds its answers from this.
type extIndex struct {
	svcs  cowMap[*extSvc]    // "name.namespace"
	rev   cowMap[[]string]   // an external IP's String() -> "name.namespace" of its services, sorted
	names cowMap[[]*extName] // a lower-cased FQDN -> the objects that name it, by owner
	// ents counts, per kind of claim, the claimed names below each name:
	// a name with names below it exists (an empty non-terminal, RFC 8020).
	ents  cowMap[entCount]
	mu    sync.Mutex          // serialises writers
	owned map[string][]string // owner -> the names it published, for the writer
	// The objects that name themselves, for the writer (external_gateway.go).
	ingresses map[string]*ingress
	gateways  map[string]*gateway
	routes    map[string]*httpRoute
	serves    func(ns string) bool // the watcher's namespace filter
	// serial is the SOA serial of the external zones: the last change.
	serial atomic.Uint32
	// headless: the block answers headless services' endpoints, so they
	// are kept (a copy of every headless service's endpoints otherwise).
	headless bool
}

// extSvc is what k8s_external answers of one service.
type extSvc struct {
	name, ns  string
	addrs     []extAddr // external addresses: spec.externalIPs, then the load balancer's
	targets   []extAddr // the target annotation
	ports     []port    // none: stock's port-less sentinel (addresses, no SRV)
	headless  bool      // clusterIP None
	endpoints []extEndpoint
}

// extEndpoint is one ready address of a headless service's endpoint, under
// the name stock gives it, with the ports of its slice.
type extEndpoint struct {
	name  string
	addr  netip.Addr
	ports []port
}

// extName is one object's claim on a name.
type extName struct {
	owner   string // "<resource>/<ns>/<name>"
	source  extSource
	addrs   []extAddr
	targets []extAddr
	ttl     uint32
	hasTTL  bool
}

// entCount is, per extSource, how many claimed names lie below a name.
type entCount [3]int32

// extSource is the option that serves a claim.
type extSource uint8

const (
	fromHostname extSource = iota // a Service's hostname annotation: hostnames
	fromIngress                   // an Ingress host: ingress
	fromRoute                     // an HTTPRoute host: gateway
)

func newExtIndex() *extIndex {
	x := &extIndex{owned: map[string][]string{}, ingresses: map[string]*ingress{}, gateways: map[string]*gateway{},
		routes: map[string]*httpRoute{}, serves: func(string) bool { return true }}
	x.svcs.init()
	x.rev.init()
	x.names.init()
	x.ents.init()
	x.serial.Store(uint32(time.Now().Unix()))
	return x
}

// changed moves the serial on: every change gets its own.
func (x *extIndex) changed() { x.serial.Store(nextSerial(x.serial.Load(), time.Now())) }

// setService publishes what k8s_external needs of s (nil: deleted, or not
// served) and its slices, at the watcher's key "namespace/name".
func (x *extIndex) setService(key string, s *service, sls []*endpointSlice) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ns, name, _ := strings.Cut(key, "/")
	id := name + "." + ns
	old := x.svcs.get(id)
	now := extServiceOf(s, sls, x.headless)
	if !reflect.DeepEqual(old, now) {
		x.svcs.set(id, now)
		x.reindex(id, old, now)
		x.changed()
	}
	var n *extName
	var hostnames []string
	if ext := externalOfService(s); ext != nil && len(ext.hostnames) > 0 {
		hostnames = ext.hostnames
		n = &extName{owner: "services/" + key, addrs: ext.addrs, targets: ext.targets, ttl: ext.ttl, hasTTL: ext.hasTTL}
	}
	x.setNames("services/"+key, hostnames, n)
}

func externalOfService(s *service) *external {
	if s == nil {
		return nil
	}
	return s.externalData()
}

// extServiceOf is the published form of s, nil if k8s_external has nothing
// to answer of it.
func extServiceOf(s *service, sls []*endpointSlice, headless bool) *extSvc {
	if s == nil {
		return nil
	}
	out := &extSvc{name: s.name(), ns: s.namespace(), ports: s.ports(), headless: s.kind == kindHeadless}
	if ext := s.externalData(); ext != nil {
		out.addrs, out.targets = ext.addrs, ext.targets
	}
	if out.headless && headless {
		for _, sl := range sls { // sorted by name
			for _, e := range sl.endpoints {
				if !e.ready || !e.ip().IsValid() {
					continue // as stock: ready (or unknown) endpoints only, publishNotReadyAddresses or not
				}
				n := e.hostname()
				if n == "" {
					n = dashed(e.ip())
				}
				out.endpoints = append(out.endpoints, extEndpoint{name: n, addr: e.ip(), ports: numbered(sl.ports)})
			}
		}
	}
	if len(out.addrs) == 0 && len(out.targets) == 0 && len(out.endpoints) == 0 {
		return nil
	}
	return out
}

// reindex moves the reverse entries of service id from old's external IPs
// to now's.
func (x *extIndex) reindex(id string, old, now *extSvc) {
	ips := func(s *extSvc) map[string]bool {
		m := map[string]bool{}
		if s != nil {
			for _, a := range s.addrs {
				if a.ip.IsValid() {
					m[a.ip.String()] = true
				}
			}
		}
		return m
	}
	was, is := ips(old), ips(now)
	for ip := range was {
		if !is[ip] {
			x.rev.set(ip, without(x.rev.get(ip), id))
		}
	}
	for ip := range is {
		if !was[ip] {
			ids := append(slices.Clone(x.rev.get(ip)), id)
			slices.Sort(ids)
			x.rev.set(ip, ids)
		}
	}
}

func without(ids []string, id string) []string {
	out := slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == id })
	if len(out) == 0 {
		return nil
	}
	return out
}

// setNames makes names (nil: none) the names owner claims, each answered
// with n.
func (x *extIndex) setNames(owner string, names []string, n *extName) {
	old := x.owned[owner]
	if len(old) == 0 && len(names) == 0 {
		return
	}
	for _, name := range old {
		if !slices.Contains(names, name) {
			if i := slices.IndexFunc(x.names.get(name), func(c *extName) bool { return c.owner == owner }); i >= 0 {
				x.countAncestors(name, x.names.get(name)[i].source, -1)
			}
			x.names.set(name, slices.DeleteFunc(slices.Clone(x.names.get(name)), func(c *extName) bool { return c.owner == owner }))
		}
	}
	changed := len(old) != len(names)
	for _, name := range names {
		claims := x.names.get(name)
		i, found := slices.BinarySearchFunc(claims, owner, func(c *extName, o string) int { return strings.Compare(c.owner, o) })
		if found && reflect.DeepEqual(claims[i], n) {
			continue
		}
		claims = slices.Clone(claims)
		if found {
			claims[i] = n
		} else {
			claims = slices.Insert(claims, i, n)
			x.countAncestors(name, n.source, 1)
		}
		x.names.set(name, claims)
		changed = true
	}
	if len(names) == 0 {
		delete(x.owned, owner)
	} else {
		x.owned[owner] = slices.Clone(names)
	}
	if changed {
		x.changed()
	}
}

// countAncestors adds d to the count of source's claims below each
// ancestor of name (a lower-cased FQDN), up to the top-level domain.
func (x *extIndex) countAncestors(name string, source extSource, d int32) {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		a := name[off:]
		if a == "" {
			break // the root
		}
		c := x.ents.get(a)
		c[source] += d
		x.ents.set(a, c)
	}
}

// cowMap is a map read without locks. A key's value is held in a cell of its
// own and replaced in place; adding or deleting a key copies the key's
// shard and swaps it atomically, so that a change to a name or service
// that exists (a readiness flip in a headless service) copies nothing that
// grows with the cluster. One writer at a time (the caller serialises
// them).
type cowMap[V any] struct {
	shards [numShards]atomic.Pointer[map[string]*atomic.Pointer[V]]
}

func (m *cowMap[V]) init() {
	for i := range m.shards {
		s := map[string]*atomic.Pointer[V]{}
		m.shards[i].Store(&s)
	}
}

func (m *cowMap[V]) get(k string) V {
	if c := (*m.shards[shardOf(k)].Load())[k]; c != nil {
		return *c.Load()
	}
	var zero V
	return zero
}

// set stores v at k; the zero value (a nil pointer or slice) deletes k.
func (m *cowMap[V]) set(k string, v V) {
	sh := &m.shards[shardOf(k)]
	c := (*sh.Load())[k]
	del := reflect.ValueOf(&v).Elem()
	gone := del.IsZero() || del.Kind() == reflect.Slice && del.Len() == 0
	if c != nil && !gone {
		c.Store(&v)
		return
	}
	if c == nil && gone {
		return
	}
	next := maps.Clone(*sh.Load())
	if gone {
		delete(next, k)
	} else {
		c = new(atomic.Pointer[V])
		c.Store(&v)
		next[k] = c
	}
	sh.Store(&next)
}

// each calls f for every entry, shard by shard (not one instant: for a
// zone transfer, which names the serial it loaded first).
func (m *cowMap[V]) each(f func(k string, v V)) {
	for i := range m.shards {
		for k, c := range *m.shards[i].Load() {
			f(k, *c.Load())
		}
	}
}
