package kubesvc

import (
	"context"
	"slices"
	"strings"

	"github.com/coredns/coredns/plugin/transfer"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// Transfer implements transfer.Transferer for the external zones: the SOA,
// the NS and the name server's addresses, the records every name of the
// zone answers (A, AAAA, CNAME, SRV), then the SOA again. A host name's
// addresses are not looked up: they are not the zone's records. An IXFR
// from the current serial gets the SOA alone, any other the whole zone (as
// kubesvc's own zones: see Transfer in transfer.go).
func (e *External) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	zone = strings.ToLower(dns.Fqdn(zone))
	if !slices.Contains(e.zones, zone) {
		return nil, transfer.ErrNotAuthoritative
	}
	var x *extIndex
	if e.k != nil {
		x = e.k.ext.Load()
	}
	if x == nil || !e.k.ix.ready() {
		return nil, errNotSynced
	}
	soa := []dns.RR{e.soa(zone, x)}
	if serial != 0 && serial == soa[0].(*dns.SOA).Serial {
		return soaAlone(soa), nil
	}
	ch := make(chan []dns.RR)
	local := *e
	local.upstream = nil // no lookups: only the zone's own records
	names := local.zoneNames(x, zone)
	go func() {
		defer close(ch)
		ch <- soa
		apex := local.apexAnswer(context.Background(), question(zone, zone, dns.TypeNS), x)
		rrs := append(apex.answer, apex.extra...)
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
			rrs = append(rrs, local.apexAnswer(context.Background(), question(zone, zone, qtype), x).answer...)
		}
		ch <- rrs
		for _, name := range names {
			var rrs []dns.RR
			qtypes := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV}
			if strings.HasPrefix(name, "_") {
				qtypes = qtypes[2:] // an SRV name: its A answers are its targets' (stock's queries), not records of its own
			}
			for _, qtype := range qtypes {
				for _, rr := range local.resolve(context.Background(), question(name, zone, qtype), x).answer {
					if !containsRR(rrs, rr) {
						rrs = append(rrs, rr)
					}
				}
			}
			if len(rrs) > 0 {
				ch <- rrs
			}
		}
		ch <- soa
	}()
	return ch, nil
}

func question(name, zone string, qtype uint16) request.Request {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return request.Request{Req: m, Zone: zone}
}

// zoneNames lists the names of the zone that hold records, sorted: the
// services' (with their SRV names and, with headless, their endpoints'),
// and the names objects claim.
func (e *External) zoneNames(x *extIndex, zone string) []string {
	set := map[string]bool{}
	x.svcs.each(func(_ string, s *extSvc) {
		base := joinZone(s.name+"."+s.ns, zone)
		set[base] = true
		for _, p := range s.ports {
			if p.name != "" {
				set["_"+p.name+"._"+p.proto.String()+"."+base] = true
			}
		}
		if e.headless && len(s.addrs) == 0 && s.headless {
			for _, ep := range s.endpoints {
				set[ep.name+"."+base] = true
				for _, p := range ep.ports {
					if p.name != "" {
						set["_"+p.name+"._"+p.proto.String()+"."+base] = true
					}
				}
			}
		}
	})
	x.names.each(func(name string, _ []*extName) {
		if dns.IsSubDomain(zone, name) && name != zone {
			set[name] = true
		}
	})
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
