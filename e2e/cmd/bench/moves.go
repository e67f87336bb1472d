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
// CPU per move. The moves end with a readiness flip of the sentinel service,
// which the servers see after every move (one watch, in order): its answer
// marks the end of the CPU span. Then, apart, a second batch of moves while
// every server's SOA serial is polled: kubesvc's must not move when no
// answer does.
func (b *bench) movePhase(pair []*running, set *churnSet) error {
	cips := b.clusterIPServices()
	if len(cips) == 0 {
		return fmt.Errorf("no ClusterIP services to move endpoints of")
	}
	next := 0
	moves := func(n int) error {
		return b.paced(n, func(int) error {
			// Stride over the services so consecutive moves hit different
			// namespaces and slices.
			s := cips[next*7919%len(cips)]
			next++
			return b.move(s, next%len(s.eps))
		})
	}
	var err error
	set.moveCPU, err = b.cpuPer(pair, b.c.moves, func() error {
		if err := moves(b.c.moves); err != nil {
			return err
		}
		return b.sentinel.flip(b.ctx, b.client, 0)
	}, b.sentinel.expect)
	if err != nil {
		return err
	}
	b.logCPU("move", set.moveCPU)
	n := min(b.c.moves, 100)
	set.soaMoves = n
	set.soa, err = b.watchSOA(pair, func() error { return moves(n) })
	if err != nil {
		return err
	}
	for _, r := range pair {
		c := set.soa[r.kind.name]
		b.logf("  %-8s SOA serial over %d more moves: %d -> %d over %d polls: moved=%t", r.kind.name, n, c.before, c.last, c.polls, c.moved)
	}
	return nil
}

// watchSOA polls every server's SOA serial every 20 ms while changes run and
// for a second after (for changes still on their way). The serial is the
// second of the last change: the first is read over a second after the last
// change that altered an answer, so that a serial bumped by any change
// after it differs.
func (b *bench) watchSOA(pair []*running, changes func() error) (map[string]soaCheck, error) {
	if err := sleep(b.ctx, 1100*time.Millisecond); err != nil {
		return nil, err
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
			close(stop)
			wg.Wait()
			return nil, fmt.Errorf("%s SOA: %w", r.kind.name, err)
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
	err := changes()
	if err == nil {
		err = sleep(b.ctx, time.Second)
	}
	close(stop)
	wg.Wait()
	return soas, err
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
