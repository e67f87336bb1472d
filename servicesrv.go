package kubesvc

import (
	"slices"

	"github.com/miekg/dns"
)

// SRV records at a service's own name (<svc>.<ns>.svc.<zone> SRV). The
// specification defines SRV records only at _<port>._<proto> names; it does
// not forbid others, and stock answers this one (CoreDNS's own test suites
// ask it), so a drop-in replacement answers it alike. The headless ones are
// made with the others in headlessSRV.

// serviceSRV adds the SRV records of a ClusterIP service's own name, which
// the specification does not define and stock answers: one per port number
// (named or not), its target the service's name, each weighing 100 divided
// by the ports times the cluster IPs, as stock counts them.
func (r *records) serviceSRV(b *builder, base string, ports []port, ips int, addrs []dns.RR) {
	if ips == 0 || len(ports) == 0 {
		return
	}
	weight := uint16(max(1, 100/(len(ports)*ips)))
	var seen []uint16
	for _, p := range ports {
		if !slices.Contains(seen, p.port) {
			seen = append(seen, p.port)
			b.add(kSRV, r.srv(base, base, p.port, weight))
		}
	}
	if len(seen) > 0 {
		b.by[kExtra] = addrs
	}
}

// named reports whether p has a name, and so an SRV name of its own.
func named(p port) bool { return p.name != "" }
