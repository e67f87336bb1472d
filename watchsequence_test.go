package kubesvc

// Random informer event sequences, through the informers' stores (fanout)
// and the watchers' handlers, for several Corefiles, and the answers to
// every name of interest (the rig: watchrig_test.go).
// TestRandomEventSequencesEndAsAFreshWatcher checks them.

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/tools/cache"
)

// deliver applies a change to a watch's truth and, unless missed, hands it
// to the informer.
func (g *dwRig) deliver(fan *dwFan, key string, obj any, missed bool) {
	if missed {
		fan.dirty = true
	} else if fan.dirty {
		g.relist(fan)
	}
	old, had := fan.truth[key]
	if obj == nil {
		if !had {
			return
		}
		delete(fan.truth, key)
		if !missed {
			if err := (*fanoutStore)(fan.f).Delete(old); err != nil {
				panic(err)
			}
		}
		return
	}
	fan.truth[key] = obj
	if !missed {
		if err := (*fanoutStore)(fan.f).Update(obj); err != nil {
			panic(err)
		}
	}
}

func (g *dwRig) relist(fan *dwFan) {
	fan.dirty = false
	objs := make([]any, 0, len(fan.truth))
	keys := make([]string, 0, len(fan.truth))
	for k := range fan.truth {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		objs = append(objs, fan.truth[k])
	}
	if err := (*fanoutStore)(fan.f).Replace(objs, ""); err != nil {
		panic(err)
	}
}

func (g *dwRig) newKubeSvc(tb testing.TB) *KubeSvc {
	k, cfg, err := parse(caddy.NewTestController("dns", g.corefile))
	if err != nil {
		tb.Fatal(err)
	}
	k.upstream = nil
	g.cfg = cfg
	return k
}

// subscribe starts k's watcher on the rig's informers, as start does.
func (g *dwRig) subscribe(k *KubeSvc) {
	k.w.mu.Lock()
	k.w.countNames()
	k.w.mu.Unlock()
	handlers := map[*resource]cache.ResourceEventHandler{}
	for _, r := range g.cfg.watched() {
		handlers[r] = r.handler(k.w)
	}
	for _, fan := range g.fans {
		if _, err := fan.f.AddEventHandler(handlers[fan.r]); err != nil {
			panic(err)
		}
	}
	g.ks = append(g.ks, k)
}

func (g *dwRig) publish(k *KubeSvc) {
	k.w.mu.Lock()
	k.w.ix.publish()
	k.w.mu.Unlock()
}

func dwReverse(ip string) string { s, _ := dns.ReverseAddr(ip); return s }

// dump writes every answer of k to the rig's output.
func (g *dwRig) dump(label string, k *KubeSvc) {
	fmt.Fprintf(g.out, "== %s size=%d %s\n", label, k.w.ix.size(), dwGauges())
	var qs []string
	zones := []string{"cluster.local."}
	if g.cfg.multicluster {
		zones = append(zones, "clusterset.local.")
	}
	for _, zone := range zones {
		qs = append(qs, "dns."+zone, "ns.dns."+zone)
		for _, ns := range dwNamespaces {
			ns = strings.ToLower(ns)
			qs = append(qs, ns+".svc."+zone)
			for _, name := range dwNames {
				name = strings.ToLower(name)
				base := name + "." + ns + ".svc." + zone
				qs = append(qs, base, "_http._tcp."+base, "_dns._udp."+base, "_tcp."+base, "h1."+base, "bad_h."+base,
					"10-0-0-1."+base, "pod-1."+base)
				for _, c := range dwClusters[:2] {
					qs = append(qs, c+"."+base, "h1."+c+"."+base, "10-0-0-2."+c+"."+base)
				}
			}
		}
	}
	for _, ip := range append(slices.Clone(dwIPs), dwEPs...) {
		qs = append(qs, dwReverse(ip))
	}
	for _, q := range qs {
		types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeCNAME, dns.TypeTXT}
		if strings.HasSuffix(q, ".arpa.") {
			types = []uint16{dns.TypePTR}
		}
		for _, qt := range types {
			rcode, m := ask(k, test.Case{Qname: q, Qtype: qt})
			if m != nil && m.Rcode == dns.RcodeNameError && len(m.Answer) == 0 {
				continue // NXDOMAIN: the other side's answer shows as a line of its own
			}
			fmt.Fprintf(g.out, "%s %s rc=%d", q, dns.TypeToString[qt], rcode)
			if m != nil {
				var rrs []string
				for sec, rs := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
					for _, rr := range rs {
						if soa, ok := rr.(*dns.SOA); ok {
							c := *soa
							c.Serial = 0
							rr = &c
						}
						rrs = append(rrs, strconv.Itoa(sec)+":"+rr.String())
					}
				}
				sort.Strings(rrs)
				fmt.Fprintf(g.out, " m=%d %s", m.Rcode, strings.Join(rrs, " | "))
			}
			g.out.WriteString("\n")
		}
	}
}

func dwGauges() string {
	var b strings.Builder
	for _, kind := range kindNames {
		fmt.Fprintf(&b, "services{%s}=%v ", kind, testutil.ToFloat64(indexServices.WithLabelValues(kind)))
	}
	fmt.Fprintf(&b, "endpoints=%v names=%v", testutil.ToFloat64(indexEndpoints), testutil.ToFloat64(indexNames))
	return b.String()
}

func (g *dwRig) fansOf(name string) []*dwFan { return g.byRes[name] }

// setOrDelete sets a random object of resource in ns (made by object from
// its name), or deletes it one time in four; what for the step's log.
func (g *dwRig) setOrDelete(resource, ns, what string, missed bool, object func(name string) any) string {
	fan := g.fansOf(resource)[0]
	name := g.pick(dwNames)
	key := ns + "/" + name
	if g.rng.Intn(4) == 0 {
		g.deliver(fan, key, nil, missed)
		return "delete " + what + " " + key
	}
	g.deliver(fan, key, object(name), missed)
	return "set " + what + " " + key
}

// step makes one random change.
func (g *dwRig) step(missable bool) string {
	missed := missable && g.rng.Intn(8) == 0
	ns := g.pick(dwNamespaces)
	switch n := g.rng.Intn(20); {
	case n < 6: // a service
		return g.setOrDelete("services", ns, "service", missed, func(name string) any { return g.service(ns, name) })
	case n < 13: // a slice
		fans := g.fansOf("endpointslices")
		if len(fans) == 0 {
			return "no slices"
		}
		key := ns + "/" + g.pick(dwSliceNames)
		var sl any
		if g.rng.Intn(4) > 0 {
			sl = g.epSlice(ns, key[len(ns)+1:], false)
			if held := g.heldSlice(fans, key); held != nil && g.rng.Intn(2) == 0 {
				sl = g.edited(held)
			}
		}
		// Which watch sees it now (with two, as labels move it).
		to := g.rng.Intn(len(fans) + 1)
		order := g.rng.Perm(len(fans))
		for _, i := range order {
			if i == to {
				g.deliver(fans[i], key, sl, missed)
			} else {
				g.deliver(fans[i], key, nil, missed)
			}
		}
		return fmt.Sprintf("slice %s to watch %d (%v)", key, to, sl != nil)
	case n < 15: // an import or its slice
		if !g.cfg.multicluster {
			return "no multicluster"
		}
		if g.rng.Intn(2) == 0 {
			return g.setOrDelete("serviceimports", ns, "import", missed, func(name string) any { return g.serviceImport(ns, name) })
		}
		fan := g.fansOf("multicluster_endpointslices")[0]
		key := ns + "/mc-" + g.pick(dwSliceNames)
		if g.rng.Intn(4) == 0 {
			g.deliver(fan, key, nil, missed)
			return "delete mc slice " + key
		}
		g.deliver(fan, key, g.epSlice(ns, key[len(ns)+1:], true), missed)
		return "set mc slice " + key
	case n < 17: // a namespace
		fans := g.fansOf("namespaces")
		if len(fans) == 0 {
			return "no namespaces"
		}
		if g.rng.Intn(3) == 0 {
			g.deliver(fans[0], ns, nil, missed)
			return "delete namespace " + ns
		}
		g.deliver(fans[0], ns, g.namespace(ns), missed)
		return "set namespace " + ns
	default: // a relist
		fan := g.fans[g.rng.Intn(len(g.fans))]
		g.relist(fan)
		return "relist " + fan.r.name
	}
}

var dwCorefiles = []string{
	"kubesvc cluster.local in-addr.arpa ip6.arpa",
	"kubesvc cluster.local in-addr.arpa ip6.arpa {\n ignore empty_service\n}",
	"kubesvc cluster.local clusterset.local in-addr.arpa ip6.arpa {\n multicluster clusterset.local\n endpoint_pod_names\n}",
	"kubesvc cluster.local in-addr.arpa ip6.arpa {\n namespace_labels team=x\n}",
	"kubesvc cluster.local clusterset.local in-addr.arpa ip6.arpa {\n ignore empty_service\n multicluster clusterset.local\n namespace_labels team=x\n}",
}

func runDiffWatch(tb testing.TB, corefile string, seed int64, steps int, out *strings.Builder) (finals []string, base, after string) {
	g := &dwRig{rng: rand.New(rand.NewSource(seed)), out: out, corefile: corefile, byRes: map[string][]*dwFan{}}
	fmt.Fprintf(out, "#### %q seed %d\n", corefile, seed)
	base = dwGauges()
	k := g.newKubeSvc(tb)
	for _, r := range g.cfg.watched() {
		for i := range r.selectors(g.cfg) {
			f := newFanout(nil, nil, 0, nil).(*fanout)
			if err := f.SetTransform(fromWatch(r.transformFor(g.cfg), uint8(i))); err != nil {
				tb.Fatal(err)
			}
			fan := &dwFan{r: r, sel: i, f: f, truth: map[string]any{}}
			g.fans = append(g.fans, fan)
			g.byRes[r.name] = append(g.byRes[r.name], fan)
		}
	}
	g.subscribe(k)
	// The initial list: changes before the watcher's index is published,
	// then the lists.
	for range g.rng.Intn(40) {
		g.step(true)
	}
	for _, fan := range g.fans {
		g.relist(fan)
	}
	publishAt := g.rng.Intn(20)
	reloadAt := 20 + g.rng.Intn(steps)
	for i := range steps {
		if i == publishAt {
			g.publish(k)
		}
		if i == reloadAt {
			k2 := g.newKubeSvc(tb)
			g.subscribe(k2)
			g.publish(k2)
		}
		what := g.step(true)
		if i%25 == 24 || i == steps-1 {
			fmt.Fprintf(out, "-- step %d: %s\n", i, what)
			for j, k := range g.ks {
				if k.w.ix.ready() {
					g.dump(fmt.Sprintf("instance %d", j), k)
				}
			}
		}
	}
	// Everything relisted: the instances agree with a fresh one.
	for _, fan := range g.fans {
		g.relist(fan)
	}
	fresh := g.newKubeSvc(tb)
	g.subscribe(fresh)
	g.publish(fresh)
	for j, k := range g.ks {
		var b strings.Builder
		g.out = &b
		g.dump("final", k)
		g.out = out
		finals = append(finals, b.String())
		fmt.Fprintf(out, "-- final instance %d\n%s", j, b.String())
	}
	for _, k := range g.ks {
		k.w.stop()
	}
	after = dwGauges()
	if after != base {
		fmt.Fprintf(out, "GAUGES after stop: %s, before: %s\n", after, base)
	}
	return finals, base, after
}

// Random sequences of informer events (services changing kind, slices
// arriving before and after their service and moving between the slice
// watches, ServiceImports beside services of the same name, namespaces
// coming and going, missed events and the relists that bring them, a
// reload's instance subscribing late), under the options that change what
// the index holds: once everything is relisted, every instance answers
// every name as a watcher that saw only the end state, and stopping them
// all leaves the gauges where they were.
func TestRandomEventSequencesEndAsAFreshWatcher(t *testing.T) {
	for _, cf := range dwCorefiles {
		for seed := range int64(48) { // seeds 36 and 43 caught the stale reverse name of 3d65721
			var out strings.Builder
			finals, base, after := runDiffWatch(t, cf, seed, 120, &out)
			fresh := finals[len(finals)-1]
			for j, got := range finals[:len(finals)-1] {
				if got != fresh {
					t.Errorf("%q seed %d: instance %d answers otherwise than a fresh one:\n%s", cf, seed, j, lineDiff(got, fresh))
				}
			}
			if after != base {
				t.Errorf("%q seed %d: after every instance stopped the gauges are %s, before they were %s", cf, seed, after, base)
			}
		}
	}
}

// lineDiff is the lines only one of a and b has (-: a's, +: b's), up to 20.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 20 {
		out = out[:20]
	}
	return strings.Join(out, "\n")
}
