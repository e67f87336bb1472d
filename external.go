package kubesvc

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// externalName is the directive: stock's k8s_external, whose Corefiles
// migrate by renaming kubernetes alone. Stock's plugin refuses to start
// without a handler named kubernetes; this one reads kubesvc's data.
const externalName = "k8s_external"

func init() { plugin.Register(externalName, setupExternal) }

// External serves a zone of the services' external addresses
// (<svc>.<ns>.<zone>, as stock's k8s_external) and, with ingress and
// hostnames, the names that Ingresses and Services give themselves.
type External struct {
	Next plugin.Handler
	Fall fall.F

	zones     []string // lower-cased FQDNs
	apex      string   // the label of the name servers' names: ns1.<apex>.<zone>
	ttl       uint32
	headless  bool         // headless services' endpoints, as stock's headless
	ingress   bool         // Ingress hosts
	hostnames bool         // the external-dns hostname annotation of Services
	gateway   bool         // HTTPRoute hostnames, with their Gateways\' addresses
	public    bool         // answer each name's public face
	publicIPs []netip.Addr // public: the addresses of names without a target annotation
	k         *KubeSvc     // the server block's kubesvc, found at startup
	upstream  lookuper     // CNAME targets, through the server's plugin chain
}

const defaultExternalApex = "dns"

// Name implements plugin.Handler.
func (e *External) Name() string { return externalName }

func setupExternal(c *caddy.Controller) error {
	e, err := parseExternal(c)
	if err != nil {
		return plugin.Error(externalName, err)
	}
	e.upstream = upstream.New()
	// The handlers of the server block exist only once it is set up.
	c.OnStartup(func() error {
		k, err := blockKubeSvc(dnsserver.GetConfig(c))
		if err != nil {
			return plugin.Error(externalName, err)
		}
		e.k = k
		return nil
	})
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		e.Next = next
		return e
	})
	return nil
}

// blockKubeSvc is the kubesvc of a server block, as stock's k8s_external
// finds its kubernetes plugin.
func blockKubeSvc(conf *dnsserver.Config) (*KubeSvc, error) {
	k, ok := conf.Handler(pluginName).(*KubeSvc)
	if !ok {
		return nil, errors.New("needs kubesvc in the same server block (k8s_external answers from the objects it watches)")
	}
	return k, nil
}

// parseExternal reads a k8s_external block: stock's options and kubesvc's
// own. Every mistake names its option.
func parseExternal(c *caddy.Controller) (*External, error) {
	var e *External
	for c.Next() {
		if e != nil {
			return nil, c.Err("k8s_external can only be used once per server block")
		}
		e = &External{apex: defaultExternalApex, ttl: defaultTTL}
		for _, z := range plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys) {
			e.zones = append(e.zones, strings.ToLower(dns.Fqdn(z)))
		}
		for c.NextBlock() {
			if err := e.parseOption(c); err != nil {
				return nil, err
			}
		}
		if len(e.zones) == 0 {
			return nil, c.Err("k8s_external needs a zone")
		}
	}
	if e == nil {
		return nil, c.ArgErr()
	}
	return e, nil
}

func (e *External) parseOption(c *caddy.Controller) error {
	opt, args := c.Val(), c.RemainingArgs()
	flag := func(f *bool) error {
		if len(args) != 0 {
			return c.Errf("%s takes no arguments, got %d", opt, len(args))
		}
		*f = true
		return nil
	}
	switch opt {
	case "ttl":
		return parseTTL(c, opt, args, &e.ttl)
	case "apex":
		if len(args) != 1 || !isLabel(args[0]) {
			return c.Errf("apex needs one DNS label (the default is %q), got %q", defaultExternalApex, strings.Join(args, " "))
		}
		e.apex = strings.ToLower(args[0])
	case "headless":
		return flag(&e.headless)
	case "ingress":
		return flag(&e.ingress)
	case "hostnames":
		return flag(&e.hostnames)
	case "gateway":
		return flag(&e.gateway)
	case "fallthrough":
		e.Fall.SetZonesFromArgs(args)
		for i, z := range e.Fall.Zones {
			e.Fall.Zones[i] = strings.ToLower(z)
		}
	case "public":
		e.public = true
		for _, a := range args {
			ip, ok := hostAddr(a)
			if !ok {
				return c.Errf("public: %q is not an IP address", a)
			}
			e.publicIPs = append(e.publicIPs, ip)
		}
	default:
		return c.Errf("unknown option %q", opt)
	}
	return nil
}

// ServeDNS implements plugin.Handler.
func (e *External) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	name := state.Name()
	zone := plugin.Zones(e.zones).Matches(name)
	if zone == "" {
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	}
	var x *extIndex
	if e.k != nil {
		x = e.k.ext.Load()
	}
	if x == nil || !e.k.ix.ready() {
		countExternal(state.QType(), resServFail)
		return dns.RcodeServerFailure, nil // never NXDOMAIN for what we do not know yet
	}
	state.Zone = zone
	res := e.resolve(ctx, state, x)
	// The name server's own names are never passed on (as stock).
	if res.rcode == dns.RcodeNameError && e.Fall.Through(name) && !e.ownName(name, zone) {
		countExternal(state.QType(), resFallthrough)
		return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Rcode, m.Truncated = res.rcode, res.truncated
	m.Answer, m.Extra = res.answer, res.extra
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{e.soa(zone, x)}
	}
	countExternal(state.QType(), outcome(res))
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// soa is the zone's SOA record, as stock's: its name servers are
// ns1.<apex>.<zone>, and the serial is the last change to the data.
func (e *External) soa(zone string, x *extIndex) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: e.ttl},
		Ns:      e.nsName(zone),
		Mbox:    joinZone("hostmaster."+e.apex, zone),
		Serial:  x.serial.Load(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  e.ttl,
	}
}

func (e *External) nsName(zone string) string { return joinZone("ns1."+e.apex, zone) }

// joinZone is the name rel (no trailing dot) in zone.
func joinZone(rel, zone string) string {
	if zone == "." {
		return rel + "."
	}
	return rel + "." + zone
}

// relName is name (in zone) relative to zone, without the dot.
func relName(name, zone string) string {
	if zone == "." {
		return strings.TrimSuffix(name, ".")
	}
	return strings.TrimSuffix(name, "."+zone)
}
