package kubesvc

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

// zonal (stock CoreDNS 1.15's option of the same name): a headless service
// also answers zone-scoped names, built from its endpoints' EndpointSlice
// zone field,
//
//	<topology zone>.pin._zone.<svc>.<ns>.svc.<zone>     the endpoints in that zone; NODATA if none
//	<topology zone>.prefer._zone.<svc>.<ns>.svc.<zone>  the same, or every endpoint if none
//
// with A/AAAA and SRV records (the SRV as at the service's own name), and
// NODATA for other types. The topology zone may hold dots. They are
// answered per query from the service's headless record, whose members
// carry the zones their address is listed in (hsMember.zone); their
// parents (_zone, pin._zone, prefer._zone) exist without records. Zone
// transfers leave these names out, as stock's do (hsAnswers.names never
// makes them).

// Markers of a zone-scoped name, between the topology zone and the service.
const (
	zonalPin    = ".pin._zone"
	zonalPrefer = ".prefer._zone"
)

// zoneIDs interns the topology zones of endpoints: an endpoint keeps a
// uint16 (in what was padding) instead of a string per endpoint. A cluster
// has a handful of zones; past maxZones (odd objects), new values are
// dropped, with an error logged once. An address listed in several zones
// (by several slices) has the id of the set, its sorted zones joined by
// spaces (zoneSet). names is replaced, never modified, so queries read it
// without the lock.
var zoneIDs struct {
	sync.Mutex
	ids    map[string]uint16
	names  atomic.Pointer[[]string] // names[id-1]
	warned bool
}

const maxZones = 1<<16 - 1

// zoneID is the id of a lower-cased topology zone (or set of them), 0 for
// none.
func zoneID(z string) uint16 {
	if z == "" {
		return 0
	}
	z = strings.ToLower(z)
	zoneIDs.Lock()
	defer zoneIDs.Unlock()
	if id, ok := zoneIDs.ids[z]; ok {
		return id
	}
	var names []string
	if p := zoneIDs.names.Load(); p != nil {
		names = *p
	}
	if len(names) >= maxZones {
		if !zoneIDs.warned {
			log.Errorf("more than %d topology zones in EndpointSlices: endpoints of newer ones get no zone-scoped names", maxZones)
			zoneIDs.warned = true
		}
		return 0
	}
	if zoneIDs.ids == nil {
		zoneIDs.ids = map[string]uint16{}
	}
	names = append(slices.Clip(names), z)
	zoneIDs.names.Store(&names)
	id := uint16(len(names))
	zoneIDs.ids[z] = id
	return id
}

// zoneName is the zone (or space-separated set of zones) of an id.
func zoneName(id uint16) string {
	if id == 0 {
		return ""
	}
	return (*zoneIDs.names.Load())[id-1]
}

// zoneSet is the id of the zones ids: the one zone's own id, or that of
// the set of them.
func zoneSet(ids []uint16) uint16 {
	switch len(ids) {
	case 0:
		return 0
	case 1:
		return ids[0]
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = zoneName(id)
	}
	slices.Sort(names)
	return zoneID(strings.Join(names, " "))
}

// zoneHas reports whether the zones of id hold the topology zone z, a
// question's labels (a zone value that is not a host name is in no zone
// a question can name).
func zoneHas(id uint16, z string) bool {
	names := zoneName(id)
	for names != "" {
		var name string
		name, names, _ = strings.Cut(names, " ")
		if name == z {
			return true
		}
	}
	return false
}

// zonalAnswer answers the zone-scoped names below the headless service of
// a, prefix being the labels before the service's name; false for any other
// name. An unknown topology zone's pin name has nothing (NODATA), its
// prefer name every endpoint, under the name asked.
func (k *KubeSvc) zonalAnswer(a *hsAnswers, owner string, prefix []byte, z int, qtype uint16) (result, bool) {
	var topology []byte
	pin := false
	switch {
	case string(prefix) == "_zone" || string(prefix) == zonalPin[1:] || string(prefix) == zonalPrefer[1:]:
		return k.negative(z, dns.RcodeSuccess), true // the parents of zone-scoped names
	case bytes.HasSuffix(prefix, []byte(zonalPin)):
		topology, pin = prefix[:len(prefix)-len(zonalPin)], true
	case bytes.HasSuffix(prefix, []byte(zonalPrefer)):
		topology = prefix[:len(prefix)-len(zonalPrefer)]
	default:
		return result{}, false
	}
	// A copy in the reply's slab: the question's bytes stay on the stack.
	a.zone = a.slabs.str(topology)
	if !a.hs.members.any(a.in) {
		if pin {
			return k.negative(z, dns.RcodeSuccess), true
		}
		a.zone = "" // preferred: every endpoint
	}
	return k.hsService(a, owner, z, qtype), true
}

// in reports whether m is in the topology zone asked (every member when
// none is).
func (a *hsAnswers) in(m hsMember) bool { return a.zone == "" || zoneHas(m.zone, a.zone) }

// parseZonal reads the zonal option.
func parseZonal(c *caddy.Controller, k *KubeSvc, cfg *clientConfig, args []string) error {
	if len(args) != 0 {
		return c.Errf("zonal takes no arguments, got %d", len(args))
	}
	k.zonal, cfg.zonal = true, true
	return nil
}
