package kubesvc

import (
	"bytes"
	"strings"
	"sync"

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
// NODATA for other types. The topology zone may hold dots. The names of
// the zones the endpoints are in are in the index; any other zone's pin or
// prefer name answers as the index's "*" zone does (pinned: nothing;
// preferred: every endpoint), under the name asked (zonalFallback). Zone
// transfers leave these names out, as stock's do.

// Markers of a zone-scoped name, between the topology zone and the service.
const (
	zonalPin    = ".pin._zone."
	zonalPrefer = ".prefer._zone."
)

// zoneIDs interns the topology zones of endpoints: an endpoint keeps a
// uint16 (in what was padding) instead of a string per endpoint. A cluster
// has a handful of zones; past maxZones (odd objects), new values are
// dropped, with an error logged once.
var zoneIDs struct {
	sync.Mutex
	ids    map[string]uint16
	names  []string // names[id-1]
	warned bool
}

const maxZones = 1<<16 - 1

// zoneID is the id of a lower-cased topology zone, 0 for none.
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
	if len(zoneIDs.names) >= maxZones {
		if !zoneIDs.warned {
			log.Errorf("more than %d topology zones in EndpointSlices: endpoints of newer ones get no zone-scoped names", maxZones)
			zoneIDs.warned = true
		}
		return 0
	}
	if zoneIDs.ids == nil {
		zoneIDs.ids = map[string]uint16{}
	}
	zoneIDs.names = append(zoneIDs.names, z)
	id := uint16(len(zoneIDs.names))
	zoneIDs.ids[z] = id
	return id
}

// zoneLabels is the topology zone of an id as the labels of a name, or ""
// if it cannot be one (a zone value that is not a host name: its endpoints
// are in no zone a question can name).
func zoneLabels(id uint16) string {
	if id == 0 {
		return ""
	}
	zoneIDs.Lock()
	z := zoneIDs.names[id-1]
	zoneIDs.Unlock()
	for label := range strings.SplitSeq(z, ".") {
		if !isLabel(strings.ReplaceAll(label, "_", "a")) {
			return ""
		}
	}
	return z
}

// zonalNames adds the zone-scoped names of a headless service named base
// with members ms (addrsOf: the address records of each target name).
func (r *records) zonalNames(o *owned, ms []member, base string, addrsOf map[string][]dns.RR) {
	o.at("_zone." + base)
	o.at("pin._zone." + base)
	o.at("prefer._zone." + base)
	o.at("*" + zonalPin + base) // a zone without endpoints: NODATA
	r.endpointsAt(o, "*"+zonalPrefer+base, ms, addrsOf)
	byZone := map[string][]member{}
	for _, m := range ms {
		for _, id := range m.zones {
			if z := zoneLabels(id); z != "" {
				byZone[z] = append(byZone[z], m)
			}
		}
	}
	for z, in := range byZone {
		r.endpointsAt(o, z+zonalPin+base, in, addrsOf)
		r.endpointsAt(o, z+zonalPrefer+base, in, addrsOf)
	}
}

// endpointsAt gives name the answers of a headless service's own name for
// the members ms: an address record per address, an SRV per target and
// port number, each weighing 100 divided by the targets times their ports
// (as headlessSRV weighs them at the service's name), the targets'
// addresses as additional records.
func (r *records) endpointsAt(o *owned, name string, ms []member, addrsOf map[string][]dns.RR) {
	b := o.at(name)
	type srvKey struct {
		target string
		port   uint16
	}
	seen := map[srvKey]bool{}
	var keys []srvKey
	count := 0
	for i, m := range ms {
		if i == 0 || m.ip != ms[i-1].ip {
			b.add(r.addr(name, m.ip))
		}
		if m.target == "" {
			continue
		}
		for _, p := range m.ports {
			count++
			if k := (srvKey{m.target, p.port}); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	extras := map[string]bool{}
	for _, k := range keys {
		b.add(kSRV, r.srv(name, k.target, k.port, uint16(max(1, 100/count))))
		if !extras[k.target] {
			extras[k.target] = true
			for _, rr := range addrsOf[k.target] {
				b.add(kExtra, rr)
			}
		}
	}
}

// zonalFallback answers a zone-scoped name whose topology zone has no
// endpoints of the service, as the service's "*" zone: its records under
// the name asked. ok is false for any other name. Only such questions
// allocate (the records' copies).
func (k *KubeSvc) zonalFallback(name []byte, z int, qtype uint16) (result, bool) {
	i := bytes.Index(name, []byte(zonalPin))
	if i < 0 {
		i = bytes.Index(name, []byte(zonalPrefer))
	}
	if i <= 0 || len(name)-i+1 > maxPresentation {
		return result{}, false
	}
	var buf [maxPresentation]byte
	key := append(append(buf[:0], '*'), name[i:]...)
	e := k.ix.get(key)
	if e == nil {
		return result{}, false
	}
	var rrs, extra []dns.RR
	switch kd, ok := kindOf(qtype); {
	case qtype == dns.TypeANY:
		rrs = e.all()
	case !ok:
		return k.negative(z, dns.RcodeSuccess), true
	default:
		rrs = e.answer(kd)
		if kd == kSRV {
			extra = e.extra()
		}
	}
	owner := string(name)
	answer := make([]dns.RR, len(rrs))
	for j, rr := range rrs {
		answer[j] = dns.Copy(rr)
		answer[j].Header().Name = owner
	}
	return k.positive(z, answer, extra), true
}

// isZonalName reports whether a name of the index is zone-scoped: zone
// transfers leave those out, as stock's do.
func isZonalName(name string) bool {
	return strings.Contains(name, zonalPin) || strings.Contains(name, zonalPrefer)
}

// parseZonal reads the zonal option.
func parseZonal(c *caddy.Controller, k *KubeSvc, cfg *clientConfig, args []string) error {
	if len(args) != 0 {
		return c.Errf("zonal takes no arguments, got %d", len(args))
	}
	k.zonal, cfg.zonal = true, true
	return nil
}
