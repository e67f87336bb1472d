package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// movePhase moves -moves endpoints behind ClusterIP services (a pod replaced
// by one at a new address: no DNS answer changes) and measures each server's
// CPU per move. Meanwhile it polls every server's SOA serial: kubesvc's must
// not move when no answer does. The moves end with a readiness flip of the
// sentinel service, which the servers see after every move (one watch, in
// order): its answer marks the end of the CPU span.
func (b *bench) movePhase(pair []*running, set *churnSet) error {
	cips := b.clusterIPServices()
	if len(cips) == 0 {
		return fmt.Errorf("no ClusterIP services to move endpoints of")
	}
	var (
		mu   sync.Mutex
		soas = map[string]soaCheck{}
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	for _, r := range pair {
		p := newProber(r.addr)
		s0, err := soaSerial(p)
		if err != nil {
			p.close()
			return fmt.Errorf("%s SOA: %w", r.kind.name, err)
		}
		soas[r.kind.name] = soaCheck{before: s0, last: s0}
		wg.Go(func() {
			defer p.close()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				s, err := soaSerial(p)
				if err != nil {
					continue
				}
				mu.Lock()
				c := soas[r.kind.name]
				c.polls++
				c.last = s
				c.moved = c.moved || s != c.before
				soas[r.kind.name] = c
				mu.Unlock()
			}
		})
	}
	stopPolls := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopPolls()

	moves := func() error {
		err := b.paced(b.c.moves, func(i int) error {
			// Stride over the services so consecutive moves hit different
			// namespaces and slices.
			s := cips[i*7919%len(cips)]
			return b.move(s, i%len(s.eps))
		})
		if err != nil {
			return err
		}
		// The serial is watched for a second more, for moves still on
		// their way, before the sentinel changes an answer.
		if err := sleep(b.ctx, time.Second); err != nil {
			return err
		}
		stopPolls()
		return b.sentinel.flip(b.ctx, b.client, 0)
	}
	var err error
	if set.moveCPU, err = b.cpuPer(pair, b.c.moves, moves, b.sentinel.expect); err != nil {
		return err
	}
	set.soa = soas
	b.logCPU("move", set.moveCPU)
	for _, r := range pair {
		c := soas[r.kind.name]
		b.logf("  %-8s SOA serial %d -> %d over %d polls: moved=%t", r.kind.name, c.before, c.last, c.polls, c.moved)
	}
	return nil
}

// move replaces endpoint j of s's slice with a pod at a new address.
func (b *bench) move(s *service, j int) error {
	ip := b.d.newPod()
	patch := fmt.Sprintf(`[{"op":"replace","path":"/endpoints/%d/addresses/0","value":%q},`+
		`{"op":"replace","path":"/endpoints/%d/targetRef/name","value":"%s-m%d"}]`, j, ip, j, s.name, b.d.pods)
	_, err := b.client.DiscoveryV1().EndpointSlices(s.ns).Patch(context.WithoutCancel(b.ctx), s.sliceName(), types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("move %s/%s endpoint %d: %w", s.ns, s.sliceName(), j, err)
	}
	s.eps[j] = ip
	return nil
}
