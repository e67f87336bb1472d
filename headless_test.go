package kubesvc

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// A headless record patched after each slice change (only the addresses
// the change lists merged again) is the record merged from every slice
// afresh: same members, same names, same order, through any sequence of
// changes, with addresses shared between slices, shared and missing
// hostnames, readiness flips and slices coming and going.
func TestPatchedHeadlessRecordIsTheMergedOne(t *testing.T) {
	// Small: slices share most addresses. Big: members span many chunks
	// (memberList), which patches edit one at a time.
	for _, size := range []poolSize{{8, 6, true}, {400, 150, true}, {400, 150, false}} {
		t.Run(fmt.Sprintf("addresses=%d/dashedLikeHostname=%v", size.addrs, size.dashedLike), func(t *testing.T) { checkPatchedRecords(t, size) })
	}
}

// poolSize is how many addresses slices list theirs from, and at most how
// many endpoints a slice has.
type poolSize struct {
	addrs, perSlice int
	dashedLike      bool // a hostname looks like a dashed address (hsRecord.allByLabel)
}

func checkPatchedRecords(t *testing.T, size poolSize) {
	r := rand.New(rand.NewPCG(1, uint64(size.addrs)))
	for _, notReady := range []bool{false, true} {
		w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
		w.ix.publish()
		svc := headlessSvc("ns", "hs", svcPort("web", corev1.ProtocolTCP, 80))
		svc.Spec.PublishNotReadyAddresses = notReady
		s, _ := toService(svc)
		w.setService(s.(*service).stateKey(), s.(*service))
		for step := range 400 {
			name := fmt.Sprintf("hs-%d", r.IntN(4))
			if r.IntN(6) == 0 {
				gone, _ := toEndpointSlice(slice("ns", name, "hs", discovery.AddressTypeIPv4, nil))
				w.removeSlice("ns/hs", gone.(*endpointSlice))
			} else {
				sl, _ := toEndpointSlice(randomSlice(r, name, step, size))
				w.setSlice("ns/hs", name, sl.(*endpointSlice))
			}
			w.mu.Lock()
			got := w.ix.serviceNamed("hs.ns").hs
			st, _ := w.svcs.Get("ns/hs")
			var want *hsRecord
			if st != nil {
				want = newHeadless(st.svc, st.slices(), false, nil, nil)
			}
			w.mu.Unlock()
			if !sameHeadless(got, want) || got != nil && (!slices.Equal(got.byLabel, want.byLabel) || got.names != want.names || got.addrs != want.addrs) {
				t.Fatalf("publishNotReadyAddresses %v, step %d (%s): patched record\n%s\nmerged afresh\n%s", notReady, step, name, describe(got), describe(want))
			}
			if got == nil {
				continue
			}
			if addrs, byLabel, names := counted(got); addrs != got.addrs || names != got.names || !slices.Equal(byLabel, got.byLabel) {
				t.Fatalf("publishNotReadyAddresses %v, step %d (%s): the record counts\n%s\nbut its members, one by one, make addrs %d names %d byLabel %v",
					notReady, step, name, describe(got), addrs, names, byLabel)
			}
		}
	}
}

// randomSlice lists some of a small pool of addresses, so that slices
// share them, with hostnames from a small pool or none, and ports or none.
func randomSlice(r *rand.Rand, name string, rv int, size poolSize) *discovery.EndpointSlice {
	var eps []discovery.Endpoint
	for range r.IntN(size.perSlice) {
		hosts := []string{"", "", "web-0", "web-1", "10-0-0-3"}
		if !size.dashedLike {
			hosts = hosts[:4]
		}
		host := hosts[r.IntN(len(hosts))]
		n := r.IntN(size.addrs) + 1
		eps = append(eps, ep(fmt.Sprintf("10.0.%d.%d", n/250, n%250), host, r.IntN(3) > 0))
	}
	ports := []discovery.EndpointPort{slicePort([]string{"web", "alt"}[r.IntN(2)], corev1.ProtocolTCP, int32(80+r.IntN(2)))}
	switch r.IntN(6) { // slices of one service may differ in ports (Pods without a named target port)
	case 0, 1:
		ports = nil
	case 2:
		ports = append(ports, slicePort("dns", corev1.ProtocolUDP, 53))
	}
	sl := slice("ns", name, "hs", discovery.AddressTypeIPv4, ports, eps...)
	sl.ResourceVersion = fmt.Sprint(rv + 10)
	return sl
}

// counted is what newHeadless counts of hs, counted member by member: its
// distinct addresses, the members looked up by label (sorted by label,
// then address) and its names.
func counted(hs *hsRecord) (addrs int, byLabel []int32, names int) {
	ms := hs.members.flat()
	all := slices.ContainsFunc(ms, func(m hsMember) bool { return m.label() != "" && !m.dashed && mayBeDashed(m.label()) })
	labelOf := func(m hsMember) string { // what the member goes by: its dashed address if so
		if m.dashed {
			return dashed(m.ip())
		}
		return m.label()
	}
	labels := map[string]bool{}
	var srv []port
	var protos []protocol
	for i, m := range ms {
		if i == 0 || m.at != ms[i-1].at {
			addrs++
		}
		if labelOf(m) == "" {
			continue
		}
		labels[labelOf(m)] = true
		if all || !m.dashed {
			byLabel = append(byLabel, int32(i))
		}
		for _, p := range m.ports() {
			if named(p) && !slices.Contains(srv, port{name: p.name, proto: p.proto}) {
				srv = append(srv, port{name: p.name, proto: p.proto})
			}
			if named(p) && !slices.Contains(protos, p.proto) {
				protos = append(protos, p.proto)
			}
		}
	}
	slices.SortFunc(byLabel, func(a, b int32) int {
		return cmp.Or(strings.Compare(labelOf(ms[a]), labelOf(ms[b])), ms[a].ip().Compare(ms[b].ip()))
	})
	return addrs, byLabel, 1 + len(labels) + len(srv) + len(protos)
}

func describe(hs *hsRecord) string {
	if hs == nil {
		return "none"
	}
	out := ""
	for _, m := range hs.members.flat() {
		out += fmt.Sprintf("  %v %q ptr=%v dashed=%v ports=%v\n", m.ip(), m.label(), m.ptr, m.dashed, m.ports())
	}
	return out + fmt.Sprintf("  byLabel %v names %d addrs %d", hs.byLabel, hs.names, hs.addrs)
}
