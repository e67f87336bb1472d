package kubesvc

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/coredns/plugin/transfer"
	"github.com/miekg/dns"
)

// errNotSynced refuses a transfer before the first sync: the index does not
// hold the cluster yet, and an empty zone would be a wrong answer (the
// transfer plugin answers SERVFAIL).
var errNotSynced = errors.New("kubesvc: not synced with the API server yet")

// xfrChunk is how many records go down the channel at a time: the transfer
// plugin packs them into messages of its own size, so this only bounds the
// number of channel operations.
const xfrChunk = 512

// Transfer implements transfer.Transferer for each of the plugin's zones,
// reverse ones included: the SOA, the apex NS (and, in the zone holding its
// target, the target's addresses), every record a query for a name of the
// zone can get, then the SOA again. Names of a more specific zone of the
// plugin (in-addr.arpa below ".") are that zone's, and synthesised names
// (pods insecure) are not records of the zone, so neither is transferred.
//
// An IXFR with the current serial gets the SOA alone (the zone is up to
// date); any other serial gets the whole zone, as kubesvc keeps no history
// to send differences from. That is stock's answer. RFC 1995 would send the
// SOA alone for a newer serial too, but a serial here is one process's clock
// of the changes it saw: another replica, or this one before a restart, may
// have numbered the same zone higher, and the whole zone is right whatever
// the secondary holds.
//
// The records are those of one instant: the SOA and the index's shards are
// loaded under the watcher's lock, between two published changes, so the
// serial names exactly what is sent, and a change racing the transfer goes
// out with the next serial.
func (k *KubeSvc) Transfer(name string, serial uint32) (<-chan []dns.RR, error) {
	z := slices.IndexFunc(k.zones, func(x zone) bool { return x.name == strings.ToLower(dns.Fqdn(name)) })
	if z < 0 {
		return nil, transfer.ErrNotAuthoritative
	}
	soa, v, ok := k.snapshot(z)
	if !ok {
		return nil, errNotSynced
	}
	if serial != 0 && serial == soa[0].(*dns.SOA).Serial {
		return soaAlone(soa), nil
	}
	ch := make(chan []dns.RR)
	hs := k.serviceNames(v, z)
	names := k.zoneNames(v, z, hs)
	go func() {
		defer close(ch)
		ch <- soa
		ch <- k.zones[z].ns
		chunk := make([]dns.RR, 0, xfrChunk)
		for _, name := range names {
			// Records are shared with queries and the transfer plugin only
			// reads them: they go out as they are.
			rrs, ok := hs[name]
			if !ok {
				rrs = v.get(name).all()
			}
			for _, rr := range rrs {
				if len(chunk) == xfrChunk {
					ch <- chunk
					chunk = make([]dns.RR, 0, xfrChunk)
				}
				chunk = append(chunk, rr)
			}
		}
		if len(chunk) > 0 {
			ch <- chunk
		}
		ch <- soa
	}()
	return ch, nil
}

// snapshot loads zone z's SOA and the index between two published changes.
// It is false before the first sync, when the index is not readable whole.
func (k *KubeSvc) snapshot(z int) ([]dns.RR, *view, bool) {
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	if !k.w.ix.ready() {
		return nil, nil, false
	}
	return k.soa(z), k.w.ix.view(), true
}

// zoneNames lists the names of v that hold records of zone z: in z and in
// no more specific zone of the plugin. The apex NS's target comes first, so
// that its addresses follow the NS as glue; the rest, the names of headless
// services (hs) among them, are sorted.
func (k *KubeSvc) zoneNames(v *view, z int, hs map[string][]dns.RR) []string {
	nsName := k.zones[z].nsName
	var names []string
	for name, e := range v.each {
		if len(e.rrs) > 0 && name != nsName && k.zoneOf([]byte(name)) == z {
			names = append(names, name)
		}
	}
	for name := range hs {
		names = append(names, name)
	}
	slices.Sort(names)
	if e := v.get(nsName); e != nil && len(e.rrs) > 0 && k.zoneOf([]byte(nsName)) == z {
		names = slices.Insert(names, 0, nsName)
	}
	return names
}

// serviceNames are the records of the services' names in zone z, and of
// their addresses' reverse names, by name: what a query for each name gets,
// of every type.
func (k *KubeSvc) serviceNames(v *view, z int) map[string][]dns.RR {
	out := map[string][]dns.RR{}
	zone := k.zones[z]
	slabs := &caseSlabs{}
	for key, ref := range v.services {
		if zone.reverse || zone.multicluster {
			break // reverse zones hold only the PTR records below, multicluster ones only entries
		}
		base := within(key+".svc", zone.name)
		if len(base) > maxName || k.zoneOf([]byte(base)) != z {
			continue
		}
		k.names(ref, slabs, base, func(name string, rrs []dns.RR) { out[name] = rrs })
	}
	for _, p := range v.ptrs {
		p.each(func(ip netip.Addr, rels string) {
			if name := reverse(ip); k.zoneOf([]byte(name)) == z {
				out[name] = ptrRecords(slabs, name, ip, rels, k.ptrZone, k.ttl)
			}
		})
	}
	return out
}

// soaAlone is the transfer of a zone the secondary holds at the current
// serial: the SOA alone (RFC 1995 section 2, as stock answers it).
func soaAlone(soa []dns.RR) <-chan []dns.RR {
	ch := make(chan []dns.RR, 1)
	ch <- soa
	close(ch)
	return ch
}
